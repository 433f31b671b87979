/**
 * A system whose manifest moves it to another shard's net, on real named, dhcpd, Kea and the i-doit
 * emulator: the old shard's run deletes the records and the reservation its marker says are shipshape's
 * (they are the moved system's, left in zones and on a DHCP server the new shard never writes), the new
 * shard's run takes the new address (freeing the old one in i-doit) and creates the new records, and
 * the two runs converge in either order, also when the old shard's run fails halfway.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { EXAMPLE_SHARDS, startDnsDhcpSite, type DnsDhcpSite } from '../helpers/dns-dhcp-site';

let world: DnsDhcpSite;
let work: string;
let state: string;

const SHARDS = EXAMPLE_SHARDS;

beforeAll(async () => {
  work = tempDir('shard-move');
  state = join(work, 'state');
  world = await startDnsDhcpSite(work, (doc) => doc.setIn(['spec', 'shards'], doc.createNode(SHARDS)));
  for (const shard of ['dev', 'live']) {
    const r = await run('apply', shard);
    expect({ shard, code: r.code, err: r.code === 0 ? '' : r.err + r.out }).toEqual({ shard, code: 0, err: '' });
  }
}, 300_000);

afterAll(async () => {
  await world?.stop();
  if (work) removeDir(work);
});

const run = (cmd: 'plan' | 'apply' | 'drift', shard: string) =>
  runCli([cmd, '-C', world.repo, '--state-dir', state, '--shard', shard]);

const q = () => world.named.resolver();
const gone = (p: Promise<unknown>) =>
  p.then(
    (v) => v,
    (e: NodeJS.ErrnoException) => e.code,
  );
const a4 = (fqdn: string) => gone(q().resolve4(fqdn));
const ptr = (ip: string) => gone(q().reverse(ip));
const keaHosts = async () =>
  ((await world.kea.command('config-get')).arguments.Dhcp4.subnet4[0].reservations as { hostname: string }[]).map(
    (r) => r.hostname,
  );
const dhcpdHosts = () => readFileSync(world.dhcpHosts, 'utf8');
/** The addresses i-doit holds for a system (its normal host address entries). */
const held = (system: string): string[] => {
  const obj = world.emu.store.allObjects().find((o) => o.title === system && o.status === 2)!;
  return world.emu.store
    .entriesOf('C__CATG__IP', obj.id)
    .filter((e) => e.status === 2)
    .map((e) => String(e.data.ipv4_address))
    .sort();
};

const file = () => join(world.repo, 'systems', 'live', 'shop-live-02.yaml');
const moveTo = (net: string) => {
  const before = readFileSync(file(), 'utf8').replace(/\n {2}network: \{ net: [a-z-]+ \}\n/, '\n');
  writeFileSync(file(), before.replace('profile: web-live\n', `profile: web-live\n  network: { net: ${net} }\n`));
};

const NOTHING = 'Plan: 0 to create, 0 to update, 0 to replace, 0 to delete';

test('the old shard first: it deletes its marked records and reservation of the moved system; the new shard then takes the new address', async () => {
  const oldIp = (await a4('shop-live-02.live.example.com')) as string[];
  expect(oldIp).toHaveLength(1);
  expect(await ptr(oldIp[0]!)).toEqual(['shop-live-02.live.example.com']);
  expect(await keaHosts()).toContain('shop-live-02');
  moveTo('dev-net');

  const because = /shop-live-02 moved to shard dev \(net dev-net\)/;
  const planned = await run('plan', 'live');
  expect({ code: planned.code, err: planned.err }).toEqual({ code: 0, err: '' });
  expect(planned.out).toMatch(because);
  expect(planned.out).toMatch(/Plan: 0 to create, 0 to update, 0 to replace, 2 to delete/);
  // drift of the old shard shows what the move left there.
  const drift = await run('drift', 'live');
  expect(drift.code).toBe(2);
  expect(drift.out).toMatch(because);

  // As CI does it: the plan saved for review, then applied as saved.
  const saved = join(work, 'live-plan.json');
  const out = ['--format', 'json', '--out', saved];
  expect((await runCli(['plan', '-C', world.repo, '--state-dir', state, '--shard', 'live', ...out])).code).toBe(0);
  const live = await runCli(['apply', saved, '-C', world.repo, '--state-dir', state, '--shard', 'live']);
  expect({ code: live.code, err: live.code === 0 ? '' : live.err + live.out }).toEqual({ code: 0, err: '' });
  expect(live.out).toMatch(/ok\s+shop-live-02/);
  expect(await a4('shop-live-02.live.example.com')).toBe('ENOTFOUND');
  expect(await ptr(oldIp[0]!)).toBe('ENOTFOUND');
  expect(await keaHosts()).not.toContain('shop-live-02');
  expect(await keaHosts()).toContain('shop-live-01'); // the shard's own systems stay
  // i-doit's bookkeeping is the new shard's: until it runs, the system still holds its old address.
  expect(held('shop-live-02')).toEqual(oldIp);
  expect((await run('plan', 'live')).out).toContain(NOTHING);

  const dev = await run('apply', 'dev');
  expect({ code: dev.code, err: dev.code === 0 ? '' : dev.err + dev.out }).toEqual({ code: 0, err: '' });
  const newIp = (await a4('shop-live-02.dev.example.com')) as string[];
  expect(newIp[0]).toMatch(/^198\.51\.100\.\d+$/);
  expect(await ptr(newIp[0]!)).toEqual(['shop-live-02.dev.example.com']);
  expect(dhcpdHosts()).toMatch(/host shipshape-shop-live-02 /);
  expect(held('shop-live-02')).toEqual(newIp);
  for (const shard of ['dev', 'live'])
    expect({ shard, out: (await run('plan', shard)).out }).toEqual({
      shard,
      out: expect.stringContaining(NOTHING),
    });
}, 300_000);

test('the new shard first: it takes the new address and creates the new records; the old shard then cleans up, also after failing halfway', async () => {
  // shop-live-02 is in dev now (the test before): it moves back to live-net.
  const oldIp = (await a4('shop-live-02.dev.example.com')) as string[];
  moveTo('live-net');

  const live = await run('apply', 'live');
  expect({ code: live.code, err: live.code === 0 ? '' : live.err + live.out }).toEqual({ code: 0, err: '' });
  const newIp = (await a4('shop-live-02.live.example.com')) as string[];
  expect(newIp[0]).toMatch(/^203\.0\.113\.\d+$/);
  expect(await keaHosts()).toContain('shop-live-02');
  expect(held('shop-live-02')).toEqual(newIp); // the old address is free in i-doit already
  // The old shard's records are still there until its run.
  expect(await a4('shop-live-02.dev.example.com')).toEqual(oldIp);
  expect(dhcpdHosts()).toMatch(/host shipshape-shop-live-02 /);

  const because = /shop-live-02 moved to shard live \(net live-net\)/;
  expect((await run('plan', 'dev')).out).toMatch(because);
  // The old shard's run fails halfway: its DHCP server took the change, the zone reload is refused (rndc
  // without its key). The next run finds what is left and finishes it.
  const key = readFileSync(world.named.rndcKeyFile);
  rmSync(world.named.rndcKeyFile);
  const broken = await run('apply', 'dev').finally(() => writeFileSync(world.named.rndcKeyFile, key));
  expect(broken.code).not.toBe(0);
  expect(dhcpdHosts()).not.toMatch(/host shipshape-shop-live-02 /);
  expect(await a4('shop-live-02.dev.example.com')).toEqual(oldIp);
  const rest = await run('plan', 'dev');
  expect(rest.out).toMatch(because);
  expect(rest.out).toMatch(/Plan: 0 to create, 0 to update, 0 to replace, 1 to delete/);

  // A new system of the old shard takes the address the moved one left (free in i-doit since the new
  // shard's run): in the same run that removes the old records, which go first.
  writeFileSync(
    join(world.repo, 'systems', 'dev', 'web-dev-07.yaml'),
    `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: web-dev-07 }\nspec:\n  profile: base\n  network: { net: dev-net, ip: ${oldIp[0]} }\n`,
  );
  const dev = await run('apply', 'dev');
  expect({ code: dev.code, err: dev.code === 0 ? '' : dev.err + dev.out }).toEqual({ code: 0, err: '' });
  expect(await a4('shop-live-02.dev.example.com')).toBe('ENOTFOUND');
  expect(await ptr(oldIp[0]!)).toEqual(['web-dev-07.dev.example.com']);
  expect(await a4('web-dev-07.dev.example.com')).toEqual(oldIp);
  expect(held('web-dev-07')).toEqual(oldIp);
  expect(dhcpdHosts()).not.toMatch(/host shipshape-shop-live-02 /);
  expect(dhcpdHosts()).toMatch(/host shipshape-web-dev-01 /); // the shard's own systems stay
  expect(await a4('shop-live-02.live.example.com')).toEqual(newIp);
  for (const shard of ['dev', 'live'])
    expect({ shard, out: (await run('plan', shard)).out }).toEqual({
      shard,
      out: expect.stringContaining(NOTHING),
    });
}, 300_000);
