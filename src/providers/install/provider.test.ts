/**
 * The install step against a real provisioning server on loopback: the engine's wait ends at
 * `built`, fails with the installer's log, or times out; a crashed run resumes the same attempt;
 * a built system is never reinstalled; the lab stand-in works only on lab sites; secrets stay
 * out of logs and observations.
 */
import { httpLabInstaller } from '../../lab/installer';
import { promises as fs } from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import type { ProviderContext } from '../../engine/contract';
import { loadRepo, type LoadResult } from '../../manifest';
import type { SiteConfig } from '../../manifest/site';
import type { DesiredSystem } from '../../manifest/types';
import { startProvisioningServer, type ProvisioningServer } from '../../provisioning/server';
import { InstallFailedError, InstallTimeoutError } from './errors';
import { HOST_KEY_GUESTINFO, InstallProvider, type BootMedia, type InstallProviderOptions } from './provider';

const ROOT = path.join(__dirname, '..', '..', '..', 'examples', 'lab');
const HASH = '$6$saltsaltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHproviderTestKeyxxxxxxxxxxxxxxxxxxxxxxxxxxx test';
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheInstalledSystemxxxxxxxxxxxxxxx root@inst-ok';
let dir: string;
let srv: ProvisioningServer;
let repo: LoadResult;
let site: SiteConfig;
const logs: string[] = [];
const log = {
  info: (o: object | string, m?: string) => logs.push(`${m ?? ''} ${JSON.stringify(o)}`),
  warn: (o: object | string, m?: string) => logs.push(`WARN ${m ?? ''} ${JSON.stringify(o)}`),
  error: (o: object | string, m?: string) => logs.push(`ERROR ${m ?? ''} ${JSON.stringify(o)}`),
  debug: () => {},
};

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-install-'));
  await fs.writeFile(path.join(dir, 'id.pub'), `${KEY}\n`);
  process.env.SHIPSHAPE_TEST_ROOT_HASH = HASH;
  repo = await loadRepo(ROOT);
  // The pretend installer asks from loopback for systems in documentation ranges: the lab exception.
  srv = await startProvisioningServer({
    listen: '127.0.0.1:0',
    stateDir: path.join(dir, 'state'),
    log,
    labLoopback: true,
  });
  site = {
    ...repo.site!,
    provisioning: {
      ...repo.site!.provisioning!,
      baseUrl: srv.url,
      sshPublicKeyFile: path.join(dir, 'id.pub'),
      rootPasswordHash: { ref: '${env:SHIPSHAPE_TEST_ROOT_HASH}' },
    },
  };
});
afterAll(async () => {
  await srv?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const system = (name: string): DesiredSystem => ({
  ...repo.systems.find((s) => s.name === 'web-dev-02')!,
  name,
  network: {
    net: 'dev-net',
    ip: '198.51.100.20',
    mac: `00:50:56:00:00:${((name.length * 7) % 256).toString(16).padStart(2, '0')}`,
  },
});
const ctx = (over: Partial<ProviderContext> = {}): ProviderContext => ({ site, log, lab: false, ...over });
const provider = (over: Partial<InstallProviderOptions> = {}) =>
  new InstallProvider({
    os: repo.os,
    dir: path.join(dir, 'state'),
    secret: async (r) => process.env[r.ref.slice(6, -1)]!,
    pollMs: 20,
    ...over,
  });
const resolvedOf = (s: DesiredSystem) => ({ ip: s.network.ip, mac: s.network.mac });

/** The VM as vCenter shows it: guestinfo per system (what vmware-rpctool in the guest sets). No ISO path here. */
function fakeMedia(): BootMedia & { guest: Map<string, string> } {
  const guest = new Map<string, string>();
  return {
    guest,
    attachIso: () => Promise.reject(new Error('no ISO in this test')),
    detachIso: async () => {},
    installMarker: async () => undefined,
    setInstallMarker: async () => {},
    guestInfo: async (s, _r, key) => guest.get(`${s.name}/${key}`),
    setGuestInfo: async (s, _r, key, value) => {
      if (value) guest.set(`${s.name}/${key}`, value);
      else guest.delete(`${s.name}/${key}`);
    },
    restart: async () => undefined,
  };
}

/** A pretend installer that knows only its MAC, as a real one: the answer file (and in it the token) is asked for by MAC. */
async function installer(
  mac: string,
  outcome: 'built' | { failed: string },
  before?: () => Promise<void>,
  postedKey = HOST_KEY,
): Promise<void> {
  let script = '';
  for (let i = 0; i < 1500 && !script; i++) {
    const r = await fetch(`${srv.url}/boot/${mac.replace(/:/g, '-')}`, { signal: AbortSignal.timeout(5000) });
    // Until the attempt exists, /boot says "boot from disk"; a real iPXE (ISO path) retries the same way.
    const text = await r.text();
    if (text.includes('url=')) script = text;
    else await new Promise((res) => setTimeout(res, 20));
  }
  if (!script) throw new Error(`no boot script for ${mac} within 30 s`);
  const url = /url=(\S+)/.exec(script)![1]!;
  const answer = await (await fetch(url)).text();
  const built = /(http\S+\/built\/\S+)/.exec(answer)![1]!;
  const target = outcome === 'built' ? built : built.replace('/built/', '/failed/');
  await before?.();
  await fetch(target, { method: 'POST', body: outcome === 'built' ? postedKey : outcome.failed });
}

it('waits until the installer reports built; afterwards the plan has nothing to do and the answer file is gone', async () => {
  const media = fakeMedia();
  const p = provider({ media });
  const s = system('inst-ok');
  const desired = p.desired(s, resolvedOf(s), site)!;
  // The installer publishes its host key through VMware Tools (guestinfo), then posts built.
  const publish = () => media.setGuestInfo(s, resolvedOf(s), HOST_KEY_GUESTINFO, HOST_KEY, ctx());
  const [res] = await Promise.all([
    p.create(s, desired, resolvedOf(s), ctx()),
    installer(s.network.mac, 'built', publish),
  ]);
  expect(res.fields).toEqual({ os: 'debian12', state: 'built' });
  const seen = (await p.observe(ctx())).resources.find((r) => r.system === 'inst-ok')!;
  expect(p.diff(s, desired, seen)).toEqual([]);
  // The host key confirmed over vCenter goes to specialisation, which pins it.
  expect(p.resolve(s, seen, resolvedOf(s)).hostKey).toBe(HOST_KEY);
  expect(await fs.readdir(path.join(dir, 'state'))).not.toContain('inst-ok.answer');
  // One-shot: asking again does nothing, even with no installer around.
  expect((await p.create(s, desired, resolvedOf(s), ctx())).id).toBe(res.id);
});

it("a run that stopped between the installer's built and the VM's marker: the plan sets the marker (no reinstall), and apply does", async () => {
  const markers = new Map<string, string>();
  let stop = true;
  const media: BootMedia & { guest: Map<string, string> } = {
    ...fakeMedia(),
    installMarker: async (sys) => markers.get(sys.name),
    setInstallMarker: async (sys, _r, value) => {
      if (stop) throw new Error('killed before the marker was set');
      markers.set(sys.name, value);
    },
  };
  const p = provider({ media });
  const s = system('inst-unmarked');
  const on = { ...resolvedOf(s), vmInstanceUuid: 'uuid-unmarked' };
  const desired = p.desired(s, on, site)!;
  const publish = () => media.setGuestInfo(s, on, HOST_KEY_GUESTINFO, HOST_KEY, ctx());
  const [made] = await Promise.allSettled([
    p.create(s, desired, on, ctx()),
    installer(s.network.mac, 'built', publish),
  ]);
  expect(made.status).toBe('rejected');
  // The next plan: the VM (known to the vm step, without a marker) is installed; only its marker is missing.
  const earlier = (vmInstall?: { marker: string; os: string }) => ({
    resolved: () => ({ ...on, ...(vmInstall ? { vmInstall } : {}) }),
  });
  const seen = (await p.observe(ctx(), earlier())).resources.find((r) => r.system === s.name)!;
  expect(p.diff(s, desired, seen)).toEqual([{ path: 'vm.installMarker', from: null, to: 'built' }]);
  stop = false;
  await p.update(s, desired, seen, p.diff(s, desired, seen), on, ctx());
  expect(markers.get(s.name)).toBe('built');
  const after = (await p.observe(ctx(), earlier({ marker: 'built', os: 'debian12' }))).resources.find(
    (r) => r.system === s.name,
  )!;
  expect(p.diff(s, desired, after)).toEqual([]);
});

it('a neighbour that answers "built" with its own host key is caught: the key the VM published over vCenter differs', async () => {
  const media = fakeMedia();
  const p = provider({ media });
  const s = system('inst-hijack');
  const ATTACKER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx evil';
  const publish = () => media.setGuestInfo(s, resolvedOf(s), HOST_KEY_GUESTINFO, HOST_KEY, ctx());
  const err = await Promise.all([
    p.create(s, p.desired(s, resolvedOf(s), site)!, resolvedOf(s), ctx()),
    installer(s.network.mac, 'built', publish, ATTACKER),
  ]).catch((e: unknown) => e);
  expect(String(err)).toContain('not the one the VM published');
  const seen = (await p.observe(ctx())).resources.find((r) => r.system === 'inst-hijack')!;
  // Nothing is pinned: specialisation will not trust either key.
  expect(p.resolve(s, seen, resolvedOf(s)).hostKey).not.toBe(ATTACKER);
  expect(p.resolve(s, seen, resolvedOf(s)).hostKey).not.toBe(HOST_KEY);
});

it('a host key left in guestinfo from before is cleared when an attempt starts; the callback key is trusted only where the site says so', async () => {
  const media = fakeMedia();
  const s = system('inst-callback');
  media.guest.set(
    `${s.name}/${HOST_KEY_GUESTINFO}`,
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStaleKeyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx old',
  );
  const p = provider({ media });
  const callbackSite = { ...site, provisioning: { ...site.provisioning!, hostKeyFrom: 'callback' as const } };
  const [res] = await Promise.all([
    p.create(s, p.desired(s, resolvedOf(s), callbackSite)!, resolvedOf(s), ctx({ site: callbackSite })),
    installer(s.network.mac, 'built'),
  ]);
  expect(media.guest.has(`${s.name}/${HOST_KEY_GUESTINFO}`)).toBe(false);
  expect(p.resolve(s, res, resolvedOf(s)).hostKey).toBe(HOST_KEY);
});

it('a built system never reinstalls: changing its OS is refused in the plan', async () => {
  const p = provider();
  const s = { ...system('inst-ok'), os: 'rocky9' };
  const seen = (await p.observe(ctx())).resources.find((r) => r.system === 'inst-ok')!;
  const [change] = p.diff(s, p.desired(s, resolvedOf(s), site)!, seen);
  expect(change).toMatchObject({ path: 'os', from: 'debian12', to: 'rocky9' });
  expect(change!.refused).toContain('never reinstalls');
});

it("fails with the installer's log in the error", async () => {
  const p = provider();
  const s = system('inst-bad');
  const err = await Promise.all([
    p.create(s, p.desired(s, resolvedOf(s), site)!, resolvedOf(s), ctx()),
    installer(s.network.mac, {
      failed: 'partman: no root file system\nusing password $6$saltsaltsalt$0123456789abcdef',
    }),
  ]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InstallFailedError);
  expect((err as Error).message).toContain('partman: no root file system');
  expect((err as Error).message).not.toContain('saltsaltsalt');
  const seen = (await p.observe(ctx())).resources.find((r) => r.system === 'inst-bad')!;
  expect(p.diff(s, p.desired(s, resolvedOf(s), site)!, seen)).toEqual([{ path: 'state', from: 'failed', to: 'built' }]);
  expect(p.resolve(s, seen, resolvedOf(s)).hostKey).toBe('(known after apply)');
});

it('times out when no verdict comes, and a later run starts a fresh attempt', async () => {
  let clock = Date.now();
  const p = provider({ now: () => new Date(clock) });
  const s = system('inst-slow');
  const running = p.create(s, p.desired(s, resolvedOf(s), site)!, resolvedOf(s), ctx()).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 100));
  clock += (site.provisioning!.installTimeoutMinutes + 1) * 60_000;
  expect(await running).toBeInstanceOf(InstallTimeoutError);
  expect((await p.observe(ctx())).resources.find((r) => r.system === 'inst-slow')!.fields.state).toBe('timed-out');
  const [res] = await Promise.all([
    p.create(s, p.desired(s, resolvedOf(s), site)!, resolvedOf(s), ctx()),
    installer(s.network.mac, 'built'),
  ]);
  expect(res.id).toBe('install/inst-slow#2');
});

it('a run that stops while waiting is resumed by the next run: same attempt, same token', async () => {
  const s = system('inst-crash');
  const stop = new AbortController();
  const first = provider()
    .create(s, { os: 'debian12', state: 'built' }, resolvedOf(s), ctx({ signal: stop.signal }))
    .catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 100));
  stop.abort();
  expect(String(await first)).toContain('the next run picks it up');
  const again = provider();
  const [res] = await Promise.all([
    again.create(s, { os: 'debian12', state: 'built' }, resolvedOf(s), ctx()),
    installer(s.network.mac, 'built'),
  ]);
  expect(res.id).toBe('install/inst-crash#1');
});

it('the lab stand-in plays the installer only on a lab site, and says so', async () => {
  const s = system('inst-lab');
  const p = provider({ labInstaller: httpLabInstaller(srv.url) });
  await expect(p.create(s, { os: 'debian12', state: 'built' }, resolvedOf(s), ctx({ lab: false }))).rejects.toThrow(
    /does not set `lab: true`/,
  );
  const res = await p.create(s, { os: 'debian12', state: 'built' }, resolvedOf(s), ctx({ lab: true }));
  expect(res.fields.state).toBe('built');
  expect(logs.some((l) => l.startsWith('WARN lab: OS installation simulated') && l.includes('inst-lab'))).toBe(true);
});

it('the lab stand-in tries a connection closed under it again, and names the cause when it stays closed', async () => {
  // A proxy that closes the first `drop` connections when their request arrives (a kept-alive socket the server timed out).
  const proxy = async (drop: number) => {
    let seen = 0;
    const target = new URL(srv.url);
    const server = net.createServer((sock) => {
      if (seen++ < drop) {
        sock.once('data', () => sock.destroy());
        return;
      }
      const up = net.connect(Number(target.port), target.hostname);
      sock.pipe(up).pipe(sock);
      up.on('error', () => sock.destroy());
      sock.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, server };
  };
  const flaky = await proxy(2);
  const closed = await proxy(1000);
  try {
    const s = system('inst-flaky');
    const res = await provider({ labInstaller: httpLabInstaller(flaky.url) }).create(
      s,
      { os: 'debian12', state: 'built' },
      resolvedOf(s),
      ctx({ lab: true }),
    );
    expect(res.fields.state).toBe('built');
    const t = system('inst-closed');
    await expect(
      provider({ labInstaller: httpLabInstaller(closed.url) }).create(
        t,
        { os: 'debian12', state: 'built' },
        resolvedOf(t),
        ctx({ lab: true }),
      ),
    ).rejects.toThrow(/lab installer stand-in: GET \/boot\/\S+ failed: socket hang up: ECONNRESET/);
  } finally {
    flaky.server.close();
    closed.server.close();
  }
});

it('a net without DHCP needs the boot ISO, and says what provides it', async () => {
  const s = { ...system('inst-iso'), network: { net: 'live-net', ip: '203.0.113.20', mac: '00:50:56:00:00:99' } };
  const noDhcp = { ...site, dhcp: { servers: [] } };
  await expect(
    provider().create(s, { os: 'debian12', state: 'built' }, resolvedOf(s), ctx({ site: noDhcp })),
  ).rejects.toThrow(/per-system ISO, which needs the vSphere provider/);
});

it('the root password hash never reaches a log or an observation', async () => {
  const observed = JSON.stringify((await provider().observe(ctx())).resources);
  expect(observed).not.toContain('saltsaltsalt');
  expect(logs.join('\n')).not.toContain('saltsaltsalt');
  expect(logs.length).toBeGreaterThan(5);
});

it('does not apply to a site without a VM platform or without a provisioning server', () => {
  const p = provider();
  const s = system('inst-none');
  const { vms: _v, ...noVm } = site;
  const { provisioning: _p, ...noProv } = site;
  expect(p.desired(s, resolvedOf(s), noVm)).toBeNull();
  expect(p.desired(s, resolvedOf(s), noProv)).toBeNull();
  expect(p.desired(s, resolvedOf(s), site)).toEqual({ os: 'debian12', state: 'built' });
});
