/**
 * Shards within one site: the example repo's site split into `dev` (dev-net, its bind-ssh zones, dhcpd)
 * and `live` (live-net, its RFC 2136 zones, Kea), on real named, dhcpd, Kea and the i-doit emulator.
 * Two `shipshape apply --shard` processes run at the same time and both succeed; a run holding one
 * shard's lock keeps out only that shard; and with live's DHCP server gone, dev's worker still applies
 * (it never talks to live's servers) while live's fails.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshPlan } from '../../src/cli/commands/plan';
import { acquireLock } from '../../src/engine/lock';
import { cliArgs, runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { EXAMPLE_SHARDS, startDnsDhcpSite, type DnsDhcpSite } from '../helpers/dns-dhcp-site';
import { silentLog } from '../helpers/log';

let world: DnsDhcpSite;
let work: string;
let state: string;

const SHARDS = EXAMPLE_SHARDS;

beforeAll(async () => {
  work = tempDir('shards');
  state = join(work, 'state');
  world = await startDnsDhcpSite(work, (doc) => doc.setIn(['spec', 'shards'], doc.createNode(SHARDS)));
});

afterAll(async () => {
  await world?.stop();
  if (work) removeDir(work);
});

/** `shipshape apply --shard NAME` as its own process, as a CI job or a second host would run it. */
function applyShard(shard: string): Promise<{ code: number; text: string; startedAt: number; endedAt: number }> {
  const startedAt = Date.now();
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      cliArgs('--state-dir', state, 'apply', '-C', world.repo, '--shard', shard, '--max-deletes', '20'),
      { env: process.env, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 },
      (e, out, err) =>
        resolve({ code: e ? Number(e.code ?? 1) : 0, text: `${out}\n${err}`, startedAt, endedAt: Date.now() }),
    ),
  );
}

const q = () => world.named.resolver();
const reservations = async () =>
  ((await world.kea.command('config-get')).arguments.Dhcp4.subnet4[0].reservations as { hostname: string }[]).map(
    (r) => r.hostname,
  );

test('two workers apply the two shards of one site at the same time; each changes only its own systems', async () => {
  const [dev, live] = await Promise.all([applyShard('dev'), applyShard('live')]);
  expect({ code: dev.code, text: dev.code === 0 ? '' : dev.text }).toEqual({ code: 0, text: '' });
  expect({ code: live.code, text: live.code === 0 ? '' : live.text }).toEqual({ code: 0, text: '' });
  // The two processes overlapped in time and neither met the other's lock (the next test holds one for certain).
  expect(Math.max(dev.startedAt, live.startedAt)).toBeLessThan(Math.min(dev.endedAt, live.endedAt));
  expect(dev.text + live.text).not.toMatch(/holds the lock|waiting/);
  // Each plan and report names its own shard's systems only.
  expect(dev.text).toMatch(/web-dev-01/);
  expect(dev.text).not.toMatch(/shop-live/);
  expect(live.text).toMatch(/shop-live-01/);
  expect(live.text).not.toMatch(/web-dev|db-dev|lb-dev/);

  const web1 = (await q().resolve4('web-dev-01.dev.example.com'))[0]!;
  expect(await q().reverse(web1)).toEqual(['web-dev-01.dev.example.com']);
  const live1 = (await q().resolve4('shop-live-01.live.example.com'))[0]!;
  expect(await q().reverse(live1)).toEqual(['shop-live-01.live.example.com']);
  expect(await reservations()).toEqual(expect.arrayContaining(['shop-live-01', 'shop-live-02']));
  expect(await reservations()).not.toContain('web-dev-01');

  // Converged, per shard and for the site as a whole (no --shard: shard by shard, each with its section).
  const whole = await runCli(['plan', '-C', world.repo, '--state-dir', state]);
  expect(whole.code).toBe(0);
  const nothing = 'Plan: 0 to create, 0 to update, 0 to replace, 0 to delete';
  expect(
    whole.out.split('=== shard ').map((part) => part.split('\n')[0] + (part.includes(nothing) ? ': no changes' : '')),
  ).toEqual(['', 'dev ===: no changes', 'live ===: no changes']);
  expect(whole.out).toMatch(/\nshards: dev ok, live ok\n/);
  // The other shard's systems are in the same i-doit: declared, so never reported as orphans (drift).
  const drift = await runCli(['drift', '-C', world.repo, '--state-dir', state, '--shard', 'dev']);
  expect({ code: drift.code, out: drift.code === 0 ? '' : drift.out }).toEqual({ code: 0, out: '' });
  expect(drift.out).not.toMatch(/shop-live|orphan/);
  // A system of the other shard named with --system: said before anything is observed, with the shard to run.
  const other = await runCli([
    'plan',
    '-C',
    world.repo,
    '--state-dir',
    state,
    '--shard',
    'live',
    '--system',
    'web-dev-01',
  ]);
  expect({ code: other.code, err: other.err.trim().split('\n').pop() }).toEqual({
    code: 1,
    err: 'error: --system web-dev-01 is a system of shard dev, not of shard live: run it with --shard dev',
  });
}, 300_000);

test('an address held by a system that moved to another shard: the claim is blocked, naming that shard and the command to run first', async () => {
  const held = (await q().resolve4('shop-live-02.live.example.com'))[0]!; // ip: auto, in live-net
  const file = (name: string) => join(world.repo, 'systems', 'live', `${name}.yaml`);
  const before = readFileSync(file('shop-live-02'), 'utf8');
  // shop-live-02 moves to dev-net (so into shard dev); a new live system claims the address it leaves.
  writeFileSync(
    file('shop-live-02'),
    before.replace('profile: web-live\n', 'profile: web-live\n  network: { net: dev-net }\n'),
  );
  writeFileSync(
    file('shop-live-03'),
    `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: shop-live-03 }\nspec:\n  profile: web-live\n  network: { net: live-net, ip: ${held} }\n`,
  );
  try {
    const live = await runCli(['plan', '-C', world.repo, '--state-dir', state, '--shard', 'live']);
    expect({ code: live.code, err: live.err }).toEqual({ code: 0, err: '' });
    const ip = held.replace(/\./g, '\\.');
    expect(live.out).toMatch(
      new RegExp(
        `shop-live-03[^]*BLOCKED: network\\.ip: ${ip} is held by shop-live-02 \\(#\\d+ in i-doit\\), a system of shard dev whose manifest moves it off this address: run shard dev first \\(\`shipshape apply --shard dev\`\\), then shard live again`,
      ),
    );
    // The holder's own shard plans the move that frees it.
    const dev = await runCli(['plan', '-C', world.repo, '--state-dir', state, '--shard', 'dev']);
    expect(dev.code).toBe(0);
    expect(dev.out).toMatch(new RegExp(`shop-live-02[^]*network\\.net: live-net → dev-net`));
  } finally {
    writeFileSync(file('shop-live-02'), before);
    rmSync(file('shop-live-03'));
  }
}, 120_000);

test("one shard's lock keeps out a second run of that shard, never a run of the other", async () => {
  const held = acquireLock(join(state, 'shards', 'dev'), 'a worker of shard dev (held by the test)');
  try {
    const dev = await runCli(['apply', '-C', world.repo, '--state-dir', state, '--shard', 'dev']);
    expect(dev.code).toBe(1);
    expect(dev.err).toMatch(/holds the lock/);
    const live = await runCli(['apply', '-C', world.repo, '--state-dir', state, '--shard', 'live']);
    expect({ code: live.code, err: live.code === 0 ? '' : live.err }).toEqual({ code: 0, err: '' });
    expect(live.out).toMatch(/No changes/);
  } finally {
    held.release();
  }
  // A run of the whole site (what `serve` without --shard would start) is refused: it would write what the
  // shards' workers write, under another lock.
  await expect(
    freshPlan({ dir: world.repo, stateDir: state }, { out: () => {}, err: () => {}, isTty: false }, silentLog),
  ).rejects.toThrow('the site has shards (dev, live): a run works on one shard, with its lock; add --shard NAME');
}, 120_000);

test("a shard's worker never talks to another shard's servers: with live's DHCP server gone, dev still applies", async () => {
  const add = (dir: string, name: string, net: string) =>
    writeFileSync(
      join(world.repo, 'systems', dir, `${name}.yaml`),
      `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: ${name} }\nspec:\n  profile: base\n  network: { net: ${net} }\n`,
    );
  add('dev', 'web-dev-09', 'dev-net');
  add('live', 'shop-live-09', 'live-net');
  await world.kea.stop();

  const dev = await runCli(['apply', '-C', world.repo, '--state-dir', state, '--shard', 'dev']);
  expect({ code: dev.code, err: dev.code === 0 ? '' : dev.err }).toEqual({ code: 0, err: '' });
  expect((await q().resolve4('web-dev-09.dev.example.com'))[0]).toMatch(/^198\.51\.100\.\d+$/);

  const live = await runCli(['apply', '-C', world.repo, '--state-dir', state, '--shard', 'live']);
  // live's own worker does need its Kea: it stops before changing anything.
  expect(live.code).not.toBe(0);
  expect(live.err).toMatch(/kea4-ctrl\.sock/);
  expect(
    await q()
      .resolve4('shop-live-09.live.example.com')
      .catch((e: NodeJS.ErrnoException) => e.code),
  ).toBe('ENOTFOUND');
}, 120_000);
