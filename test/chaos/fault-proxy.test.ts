import net from 'node:net';
import { startFaultProxy, type FaultProxy } from './fault-proxy';

/** An upstream that answers every request with 1000 bytes of 'x'. */
let upstream: net.Server;
let port: number;
let proxy: FaultProxy;
beforeAll(async () => {
  upstream = net.createServer((s) => s.on('data', () => s.write('x'.repeat(1000))));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  port = (upstream.address() as net.AddressInfo).port;
  proxy = await startFaultProxy({ host: '127.0.0.1', port });
});
afterAll(async () => {
  await proxy.close();
  upstream.close();
});

/** Sends one request through the proxy; what came back and how the connection ended. */
function ask(): Promise<{ bytes: number; text: string; ended: 'end' | 'reset' | 'open'; ms: number }> {
  return new Promise((res) => {
    const t0 = Date.now();
    const s = net.connect(proxy.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\n\r\n'));
    let text = '';
    const done = (ended: 'end' | 'reset' | 'open') =>
      res({ bytes: Buffer.byteLength(text), text, ended, ms: Date.now() - t0 });
    s.on('data', (d) => {
      text += d;
      if (Buffer.byteLength(text) >= 1000) {
        s.destroy();
        done('open');
      }
    });
    s.on('end', () => done('end'));
    s.on('error', () => done('reset'));
  });
}

test('passes traffic untouched without a fault', async () => {
  proxy.set({ kind: 'none' });
  expect(await ask()).toMatchObject({ bytes: 1000, ended: 'open' });
});

test('resets, truncates, delays and answers 503 as told', async () => {
  proxy.set({ kind: 'reset', afterBytes: 100 });
  const reset = await ask();
  expect(reset.bytes).toBeLessThanOrEqual(100); // an RST may overtake the last bytes
  expect(reset.ended).not.toBe('open');
  proxy.set({ kind: 'truncate', afterBytes: 300 });
  expect(await ask()).toMatchObject({ bytes: 300, ended: 'end' });
  proxy.set({ kind: 'delay', ms: 150 });
  const slow = await ask();
  expect(slow.bytes).toBe(1000);
  expect(slow.ms).toBeGreaterThanOrEqual(290); // both directions wait
  proxy.set({ kind: 'http503' });
  expect((await ask()).text).toMatch(/^HTTP\/1\.1 503 Service Unavailable/);
  expect(proxy.injected).toBe(4);
});
