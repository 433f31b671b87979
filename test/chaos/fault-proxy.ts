/**
 * A small TCP fault proxy for the chaos harness: listens on a free 127.0.0.1 port and forwards each
 * connection to one upstream (vcsim, the i-doit emulator, sshd), injecting the fault that is set
 * when the connection opens:
 *
 * - `reset`: the connection is destroyed after `afterBytes` bytes from the upstream (a dropped link);
 * - `delay`: every chunk in both directions waits `ms` (a slow WAN or an overloaded server);
 * - `truncate`: the upstream's reply is cut after `afterBytes` bytes and the connection closed
 *   cleanly (a half-written response);
 * - `http503`: answers `503 Service Unavailable` itself without reaching the upstream (plain-HTTP
 *   upstreams only; a TLS upstream sees it as a protocol error, which is a fault too).
 *
 * `rate` (0..1) is the share of new connections that get the fault; the rest pass untouched.
 */
import net from 'node:net';

export type Fault =
  | { kind: 'none' }
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'truncate'; afterBytes: number }
  | { kind: 'http503' };

export interface FaultProxy {
  port: number;
  set(fault: Fault, rate?: number): void;
  /** Connections that got a fault so far. */
  readonly injected: number;
  close(): Promise<void>;
}

export async function startFaultProxy(
  upstream: { host: string; port: number },
  random: () => number = Math.random,
): Promise<FaultProxy> {
  let fault: Fault = { kind: 'none' };
  let rate = 0;
  let injected = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const f = fault.kind !== 'none' && random() < rate ? fault : ({ kind: 'none' } as Fault);
    if (f.kind !== 'none') injected++;
    if (f.kind === 'http503') {
      client.once('data', () =>
        client.end(
          'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nchaos proxy\n',
        ),
      );
      return;
    }
    const up = net.connect(upstream.port, upstream.host);
    sockets.add(up);
    let cut = false; // the fault ends the client side itself (RST or FIN): the upstream's close must not
    up.on('close', () => {
      sockets.delete(up);
      if (!cut) client.destroy();
    });
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    const later = (fn: () => void) => (f.kind === 'delay' ? setTimeout(fn, f.ms) : fn());
    client.on('data', (d) => later(() => up.write(d)));
    let sent = 0;
    up.on('data', (d: Buffer) => {
      if (f.kind === 'reset' || f.kind === 'truncate') {
        const room = f.afterBytes - sent;
        if (room <= 0) return;
        const part = d.subarray(0, room);
        sent += part.length;
        if (sent < f.afterBytes) return void client.write(part);
        cut = true;
        up.destroy();
        if (f.kind === 'reset') client.write(part, () => client.resetAndDestroy());
        else client.end(part);
        return;
      }
      later(() => client.write(d));
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    port: (server.address() as net.AddressInfo).port,
    set(f, r = 1) {
      fault = f;
      rate = f.kind === 'none' ? 0 : r;
    },
    get injected() {
      return injected;
    },
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
