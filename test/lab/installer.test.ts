/**
 * The lab's installer stand-in asks the provisioning server like a real installer does: from an address of
 * its own, one connection per fetch. The server caps open connections per address (src/provisioning/limits.ts),
 * so a bulk create whose stand-ins all asked from 127.0.0.1 over kept-alive sockets lost installs with
 * "other side closed" once more than the cap ran at once, which no real site (one address per installer) does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpLabInstaller, labSourceAddress } from '../../src/lab/installer';
import { capConnections } from '../../src/provisioning/limits';

const PER_ADDRESS = 16;
const INSTALLERS = 3 * PER_ADDRESS;

test(`${INSTALLERS} stand-ins at once against a server capping ${PER_ADDRESS} connections per address all finish`, async () => {
  const seen = new Map<string, number>();
  let open = 0;
  let mostOpen = 0;
  // Each answer takes a moment, so the installers' connections are open at the same time.
  const server = http.createServer((req, res) => {
    const from = req.socket.remoteAddress ?? '?';
    seen.set(from, (seen.get(from) ?? 0) + 1);
    open++;
    mostOpen = Math.max(mostOpen, open);
    req.resume();
    setTimeout(() => {
      open--;
      res.writeHead(req.method === 'POST' ? 204 : 200).end(req.method === 'POST' ? undefined : '#!ipxe\n');
    }, 150);
  });
  capConnections(server, 256, PER_ADDRESS);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const install = httpLabInstaller(url, 10_000);
    const macs = Array.from(
      { length: INSTALLERS },
      (_, i) => `00:50:56:aa:${(i >> 8).toString(16)}:${(i + 1).toString(16)}`,
    );
    const results = await Promise.allSettled(
      macs.map((mac, i) =>
        install({ system: `s${i}`, mac, ip: '198.51.100.10', token: `tok${i}xxxxxxxx`, baseUrl: url }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(mostOpen).toBeGreaterThan(PER_ADDRESS);
    // Each installer asked from its own loopback address: boot script, answer file, built.
    expect(seen.size).toBe(INSTALLERS);
    for (const mac of macs) expect(seen.get(labSourceAddress(mac))).toBe(3);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('the source address is on the loopback and never a network or broadcast-looking host part', () => {
  expect(labSourceAddress('00:50:56:28:90:c3')).toBe('127.77.144.195');
  expect(labSourceAddress('00-50-56-28-90-00')).toBe('127.77.144.1');
  expect(labSourceAddress('00:50:56:28:90:ff')).toBe('127.77.144.1');
});
