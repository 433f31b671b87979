/**
 * The provisioning server as a network neighbour sees it. Loopback stands in for the install
 * network: the system asks from 127.0.0.5 (its address from the ip step), the neighbour from
 * 127.0.0.9 (Linux routes all of 127.0.0.0/8 to lo). The server runs as on a real site: no lab
 * loopback exception.
 */
import { promises as fs } from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { derivedMac } from '../manifest/mac';
import { startAttempt } from '../providers/install/attempt';
import { InstallStore } from '../providers/install/store';
import { BOOT_FROM_DISK, startProvisioningServer, type ProvisioningServer } from './server';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const SYSTEM_IP = '127.0.0.5';
const NEIGHBOUR = '127.0.0.9';
let dir: string;
let srv: ProvisioningServer;
let store: InstallStore;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-provsec-'));
  store = new InstallStore(path.join(dir, 'state'));
  srv = await startProvisioningServer({
    listen: '127.0.0.1:0',
    stateDir: store.dir,
    log: silent,
    rateLimit: { burst: 20, perSecond: 1 },
    maxConnectionsPerAddress: 4,
  });
});
afterAll(async () => {
  await srv?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** One request from a chosen source address. */
function ask(from: string, method: 'GET' | 'POST', p: string, body = ''): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: srv.port, path: p, method, localAddress: from, agent: false, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

const macPath = (mac: string) => mac.replace(/:/g, '-');

async function attempt(system: string) {
  const mac = derivedMac(system);
  const { token } = await startAttempt(store, {
    system,
    mac,
    ip: SYSTEM_IP,
    os: 'debian12',
    bootPath: 'dhcp',
    tokenTtlMs: 30 * 60_000,
    now: new Date(),
    render: (t) => ({
      answerFile: `d-i passwd/root-password-crypted password $6$saltsalt$hashhashhash\n# callback /built/${t}\n`,
      bootScript: `#!ipxe\nkernel http://x/linux url=${srv.url}/install/${macPath(mac)}\nboot\n`,
    }),
  });
  return { mac, token };
}

it('install hijack by name: the MAC follows from the name, but nothing the neighbour gets unlocks the install', async () => {
  const { mac, token } = await attempt('victim-01');
  // The old attack: derive the MAC, fetch the boot script, read the token from it, fetch the answer file, post built.
  const boot = await ask(NEIGHBOUR, 'GET', `/boot/${macPath(mac)}`);
  expect(boot).toEqual({ status: 200, text: BOOT_FROM_DISK });
  expect((await ask(NEIGHBOUR, 'GET', `/install/${macPath(mac)}`)).status).toBe(404);
  // Even a neighbour that somehow holds the token is refused: callbacks come from the system's address only.
  expect(
    (
      await ask(
        NEIGHBOUR,
        'POST',
        `/built/${token}`,
        'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx evil',
      )
    ).status,
  ).toBe(404);
  expect((await ask(NEIGHBOUR, 'POST', `/progress/${token}`)).status).toBe(404);
  expect((await store.get('victim-01'))!.state).toBe('requested');

  // The real installer, from the system's own address, is not disturbed.
  const real = await ask(SYSTEM_IP, 'GET', `/boot/${macPath(mac)}`);
  expect(real.text).toContain(`/install/${macPath(mac)}`);
  // The boot script holds no secret: no token, no password hash.
  expect(real.text).not.toContain(token);
  expect(real.text).not.toContain('$6$');
  const answer = await ask(SYSTEM_IP, 'GET', `/install/${macPath(mac)}`);
  expect(answer.text).toContain(`/built/${token}`);
  expect(
    (
      await ask(
        SYSTEM_IP,
        'POST',
        `/built/${token}`,
        'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRealHostKeyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx root@victim',
      )
    ).status,
  ).toBe(204);
  const r = (await store.get('victim-01'))!;
  expect(r.state).toBe('built');
  // The posted key is recorded as a claim only; the install step confirms it over vCenter (provider.test.ts).
  expect(r.hostKey).toBeUndefined();
  expect(r.callbackHostKey).toContain('RealHostKey');
});

it('/boot tells a neighbour nothing and costs nothing: same answer, no write, no longer token life', async () => {
  const { mac } = await attempt('quiet-01');
  const before = await store.get('quiet-01');
  const file = path.join(store.dir, 'quiet-01.json');
  const mtime = (await fs.stat(file)).mtimeMs;
  const unknown = await ask(NEIGHBOUR, 'GET', '/boot/00-50-56-3f-00-01');
  const known = await ask(NEIGHBOUR, 'GET', `/boot/${macPath(mac)}`);
  expect(known).toEqual(unknown);
  expect((await fs.stat(file)).mtimeMs).toBe(mtime);
  // The system's own fetches move it to booting once; the token's expiry never moves.
  await ask(SYSTEM_IP, 'GET', `/boot/${macPath(mac)}`);
  const afterFirst = (await store.get('quiet-01'))!;
  expect(afterFirst.state).toBe('booting');
  expect(afterFirst.expiresAt).toBe(before!.expiresAt);
  const mtime2 = (await fs.stat(file)).mtimeMs;
  await ask(SYSTEM_IP, 'GET', `/boot/${macPath(mac)}`);
  expect((await fs.stat(file)).mtimeMs).toBe(mtime2);
});

it('a flood from one address is cut off with 429; other addresses are still served', async () => {
  const flooder = '127.0.0.7';
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await ask(flooder, 'GET', '/boot/00-50-56-3f-00-02')).status);
  expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(9);
  expect((await ask('127.0.0.8', 'GET', '/boot/00-50-56-3f-00-02')).status).toBe(200);
});

it('one address cannot hold more than its share of connections', async () => {
  const from = '127.0.0.11';
  const sockets = await Promise.all(
    Array.from(
      { length: 6 },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port: srv.port, localAddress: from }, () => resolve(s));
          s.on('error', () => undefined);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 200));
  const open = sockets.filter((s) => !s.destroyed && s.readyState === 'open');
  expect(open.length).toBe(4);
  for (const s of sockets) s.destroy();
});
