/**
 * Specialisation against three real sshd "hosts" on 127.0.0.2-4 (one machine, own host key each,
 * own root prefix each), through the real loader, observe, planner, executor and drift report.
 * The tests run in order and build on each other, like successive `shipshape apply` runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, statSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { UNKNOWN } from '../../src/engine/contract';
import { driftReport } from '../../src/plan/drift';
import { SshHostKeyError } from '../../src/transport/ssh';
import { keygen } from '../helpers/sshd';
import { startSshdHosts, type TestHosts } from '../helpers/sshd-hosts';
import { main } from '../../src/cli/main';
import type { Io } from '../../src/cli/io';
import { SpecialiseLab, stopSpecialiseLab } from './lab';

async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (l) => void (err += l + '\n'), isTty: false };
  const code = await main(['node', 'shipshape', ...args], io);
  return { code, out, err };
}

let net: TestHosts;
let lab: SpecialiseLab;

const SHOP = '{ name: app/shop, version: 7.4.1, params: { projectKey: SHOP } }';

beforeAll(async () => {
  net = await startSshdHosts(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  lab = new SpecialiseLab(net);
  lab.system(0, `[baseline/internal, ${SHOP}]`);
  lab.system(1, '[baseline/external, "app/shop@7.4.1"]');
  lab.system(2, '[baseline/internal, test/flaky]');
});
afterAll(async () => {
  await stopSpecialiseLab(lab, net);
});

const dpkgVersion = (root: string, pkg: string) =>
  execFileSync('dpkg-query', [`--admindir=${root}/var/lib/dpkg`, '-W', '-f=${Status} ${Version}', pkg], {
    encoding: 'utf8',
  });

test('the first apply runs every role on every host, with real files checked by sshd -t and apt-config', async () => {
  const { plan, report, ran } = await lab.apply();
  expect(plan.actions.map((a) => `${a.system} ${a.action}`)).toEqual([
    'host-a create',
    'host-b create',
    'host-c create',
  ]);
  expect(report.outcomes.map((o) => [o.system, o.status, o.error?.message])).toEqual([
    ['host-a', 'ok', undefined],
    ['host-b', 'ok', undefined],
    ['host-c', 'ok', undefined],
  ]);
  expect(ran).toEqual([
    'host-a app/shop',
    'host-a baseline/internal',
    'host-b app/shop',
    'host-b baseline/external',
    'host-c baseline/internal',
    'host-c test/flaky',
  ]);

  // internal and external differ in SSH, firewall and update policy
  expect(lab.file(0, 'etc/ssh/sshd_config.d/50-shipshape-baseline.conf')).toMatch(/^AllowTcpForwarding yes$/m);
  expect(lab.file(1, 'etc/ssh/sshd_config.d/50-shipshape-baseline.conf')).toMatch(/^AllowTcpForwarding no$/m);
  expect(lab.file(1, 'etc/nftables.d/50-shipshape-baseline.nft')).toContain(
    'ip saddr { 198.51.100.0/24 } tcp dport 22 accept',
  );
  expect(lab.file(0, 'etc/nftables.d/50-shipshape-baseline.nft')).toContain(
    'ip saddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 198.51.100.0/24 } accept',
  );
  expect(lab.file(0, 'etc/apt/apt.conf.d/52shipshape-unattended-upgrades')).toContain('Automatic-Reboot "false"');
  expect(lab.file(1, 'etc/apt/apt.conf.d/52shipshape-unattended-upgrades')).toContain('Automatic-Reboot-Time "03:30"');
  expect(statSync(join(lab.root(0), 'etc/nftables.d/50-shipshape-baseline.nft')).mode & 0o777).toBe(0o640);

  // the app: the shipped package at the declared version, project config, enabled unit
  expect(dpkgVersion(lab.root(0), 'shop')).toBe('install ok installed 7.4.1');
  expect(lab.file(0, 'etc/shop/shop.conf')).toContain(
    'project_key = SHOP\nworkers = 2\nlisten_port = 8080\npublic_url = https://host-a.lab.example.test/',
  );
  expect(lstatSync(join(lab.root(1), 'etc/systemd/system/multi-user.target.wants/shop.service')).isSymbolicLink()).toBe(
    true,
  );
  expect(execFileSync(join(lab.root(1), 'opt/shop/bin/shop'), ['--version'], { encoding: 'utf8' }).trim()).toBe(
    '7.4.1',
  );

  // the record on each target: digests per role, written by shipshape
  const record = JSON.parse(lab.file(2, 'var/lib/shipshape/roles.json'));
  expect(record).toMatchObject({ formatVersion: 1, managedBy: 'shipshape', system: 'host-c' });
  expect(Object.keys(record.roles).sort()).toEqual(['baseline/internal', 'test/flaky']);
  expect(record.roles['test/flaky'].digest).toMatch(/^[0-9a-f]{64}$/);
  // every step's output went to the run log
  expect(
    lab.log.some(
      (l) =>
        l.msg === 'specialise step done' &&
        l.obj.system === 'host-a' &&
        String(l.obj.stdout).includes('shop 7.4.1: ') &&
        String(l.obj.stdout).includes('is valid'),
    ),
  ).toBe(true);
});

test('the second run plans nothing and runs no role', async () => {
  const { plan, ran, report } = await lab.apply();
  expect(plan.actions.map((a) => `${a.system} ${a.action}`)).toEqual(['host-a noop', 'host-b noop', 'host-c noop']);
  expect(ran).toEqual([]);
  expect(report.ok).toBe(true);
});

test('a changed parameter re-runs exactly that role on that host', async () => {
  lab.system(1, '[baseline/external, { name: app/shop, version: 7.4.1, params: { workers: 8 } }]');
  const { plan } = await lab.plan();
  const b = plan.actions.find((a) => a.system === 'host-b')!;
  expect(b.action).toBe('update');
  expect(b.changes.map((c) => c.path)).toEqual(['roles.app/shop']);
  expect(String(b.changes[0]!.from)).toMatch(/^7\.4\.1 [0-9a-f]{16} \(changed\)$/);
  expect(b.changes[0]!.source).toMatch(/systems\/host-b\.yaml:\d+:\d+$/);
  expect(plan.actions.filter((a) => a.action !== 'noop').map((a) => a.system)).toEqual(['host-b']);

  const { ran } = await lab.apply();
  expect(ran).toEqual(['host-b app/shop']);
  expect(lab.file(1, 'etc/shop/shop.conf')).toContain('workers = 8');
});

test('a failing step stops the host with role, step, exit code and stderr; the next run resumes at that role', async () => {
  writeFileSync(join(lab.root(2), 'fail-here'), 'disk full');
  lab.system(2, '[baseline/internal, { name: test/flaky, params: { level: 2 } }, "app/shop@7.4.2"]');
  const first = await lab.apply();
  const c = first.report.outcomes.find((o) => o.system === 'host-c')!;
  expect(c.status).toBe('failed');
  expect(c.error!.kind).toBe('specialise');
  expect(c.error!.message).toContain(
    'role test/flaky, step 2 (may fail: script) exited 3:\nsimulated failure: disk full',
  );
  expect(c.error!.message).toContain('resumes at test/flaky');
  expect(first.ran).toEqual(['host-c test/flaky']);
  expect(lab.file(2, 'etc/flaky/one.conf')).toBe('level = 2\n'); // step 1 ran
  expect(lab.file(2, 'etc/flaky/two.conf')).toBe('level = 1\n'); // step 3 did not
  expect(existsSync(join(lab.root(2), 'etc/shop'))).toBe(false); // the role after it did not run
  const record = JSON.parse(lab.file(2, 'var/lib/shipshape/roles.json'));
  expect(record.failed).toMatchObject({ role: 'test/flaky', step: 2, code: 3 });
  expect(Object.keys(record.roles).sort()).toEqual(['baseline/internal', 'test/flaky']);

  unlinkSync(join(lab.root(2), 'fail-here'));
  const { plan } = await lab.plan();
  const changes = plan.actions.find((a) => a.system === 'host-c')!.changes;
  expect(changes.map((x) => [x.path, x.from === null ? 'new' : String(x.from).replace(/^\S+ /, '')])).toEqual([
    ['roles.test/flaky', '(failed at step 2 (may fail: script) on the last run (exit 3))'],
    ['roles.app/shop', 'new'],
  ]);
  const second = await lab.apply();
  expect(second.ran).toEqual(['host-c app/shop', 'host-c test/flaky']);
  expect(second.report.ok).toBe(true);
  expect(lab.file(2, 'etc/flaky/two.conf')).toBe('level = 2\n');
  expect(dpkgVersion(lab.root(2), 'shop')).toBe('install ok installed 7.4.2');
  expect(JSON.parse(lab.file(2, 'var/lib/shipshape/roles.json')).failed).toBeUndefined();
});

test('a failed check (a managed file edited by hand) re-runs the role, and drift reports it', async () => {
  const conf = join(lab.root(0), 'etc/ssh/sshd_config.d/50-shipshape-baseline.conf');
  const good = readFileSync(conf, 'utf8');
  appendFileSync(conf, 'PasswordAuthentication yes\n');
  const { plan } = await lab.plan();
  const a = plan.actions.find((x) => x.system === 'host-a')!;
  expect(a.changes.map((x) => x.path)).toEqual(['roles.baseline/internal']);
  expect(String(a.changes[0]!.from)).toContain('check failed (exit 1)');
  const drift = driftReport(plan, {}, new Date()).report;
  expect(drift.drifted).toBe(true);
  expect(drift.items.map((i) => [i.system, i.path])).toEqual([['host-a', 'roles.baseline/internal']]);

  const { ran } = await lab.apply();
  expect(ran).toEqual(['host-a baseline/internal']);
  expect(readFileSync(conf, 'utf8')).toBe(good);
  expect(driftReport((await lab.plan()).plan, {}, new Date()).report.drifted).toBe(false);
});

test('removing a role runs its remove steps; a role without any is reported as not undoable', async () => {
  lab.system(1, '[baseline/external]');
  const { plan } = await lab.plan();
  expect(plan.actions.find((a) => a.system === 'host-b')!.changes.map((c) => [c.path, c.to])).toEqual([
    ['roles.app/shop', 'removed: runs 4 remove steps'],
  ]);
  const { ran, report } = await lab.apply();
  expect(report.ok).toBe(true);
  expect(ran).toEqual([]);
  expect(existsSync(join(lab.root(1), 'etc/shop/shop.conf'))).toBe(false);
  expect(existsSync(join(lab.root(1), 'etc/systemd/system/multi-user.target.wants/shop.service'))).toBe(false);
  expect(() => dpkgVersion(lab.root(1), 'shop')).toThrow();
  expect(Object.keys(JSON.parse(lab.file(1, 'var/lib/shipshape/roles.json')).roles)).toEqual(['baseline/external']);

  lab.system(2, '[baseline/internal]');
  const c = (await lab.plan()).plan.actions.find((x) => x.system === 'host-c')!;
  expect(c.changes.map((x) => [x.path, x.to])).toEqual([
    [
      'roles.test/flaky',
      'removed: cannot be undone (the role has no remove steps); shipshape forgets it, the machine keeps its effects',
    ],
    ['roles.app/shop', 'removed: runs 4 remove steps'],
  ]);
  const from = lab.log.length;
  expect((await lab.apply()).report.ok).toBe(true);
  expect(
    lab.log
      .slice(from)
      .some((l) => l.level === 'warn' && l.obj.role === 'test/flaky' && String(l.msg).includes('cannot be undone')),
  ).toBe(true);
  expect(lab.file(2, 'etc/flaky/two.conf')).toBe('level = 2\n'); // its effects stay
  expect(Object.keys(JSON.parse(lab.file(2, 'var/lib/shipshape/roles.json')).roles)).toEqual(['baseline/internal']);
});

test('a host with an unexpected key is refused: plan blocks it, apply never connects past the handshake', async () => {
  const impostor = keygen(join(net.dir, 'impostor'), 'impostor');
  lab.knownHosts([impostor, net.hosts[1]!.hostPub, net.hosts[2]!.hostPub]);
  lab.system(0, `[baseline/internal, { name: app/shop, version: 7.4.1, params: { projectKey: OTHER } }]`);
  const before = lab.file(0, 'etc/shop/shop.conf');
  const { plan, report } = await lab.apply();
  const a = plan.actions.find((x) => x.system === 'host-a')!;
  expect(a.blocked).toContain('host key refused');
  expect(a.blocked).toContain(net.hosts[0]!.hostFingerprint);
  expect(report.outcomes.find((o) => o.system === 'host-a')!.status).toBe('blocked');
  expect(lab.file(0, 'etc/shop/shop.conf')).toBe(before);
  lab.knownHosts(net.hosts.map((h) => h.hostPub));
});

test('the host key reported by the install step (resolved.hostKey) is pinned, and only that key is accepted', async () => {
  const impostor = keygen(join(net.dir, 'impostor2'), 'impostor');
  lab.knownHosts([impostor, impostor, impostor]); // known_hosts would refuse every host: the install key decides
  const { provider, systems, ctx } = await lab.plan();
  const b = systems.find((s) => s.name === 'host-b')!;
  const at = (hostKey: string) => ({ ip: '127.0.0.3', mac: b.network.mac, hostKey });
  const ok = await provider.create(b, {}, at(net.hosts[1]!.hostPub), ctx);
  expect(Object.keys(ok.fields)).toEqual(['roles.baseline/external']);
  await expect(provider.create(b, {}, at(net.hosts[1]!.hostFingerprint), ctx)).resolves.toMatchObject({
    system: 'host-b',
  });
  const wrong = await provider.create(b, {}, at(impostor), ctx).catch((e) => e);
  expect(wrong).toBeInstanceOf(SshHostKeyError);
  expect(wrong.message).toContain(`presented ssh-ed25519 ${net.hosts[1]!.hostFingerprint}`);
  expect(wrong.message).toContain('reported at install time');
  await expect(provider.create(b, {}, at(UNKNOWN), ctx)).rejects.toThrow(
    'cannot specialise host-b: it is not installed yet (no host key reported)',
  );
  lab.knownHosts(net.hosts.map((h) => h.hostPub));
});

test('a host not answering at its (new) address is planned at once: observe does not wait out the connect backoff', async () => {
  const { provider, systems, ctx } = await lab.plan();
  const c = systems.find((s) => s.name === 'host-c')!;
  // host-c as a plan sees it while its address is changing: the new address answers only after the apply.
  const moving = { ip: '127.0.0.9', mac: c.network.mac, hostKey: net.hosts[2]!.hostPub };
  const t0 = Date.now();
  const o = await provider.observe(ctx, {
    resolved: (name) => (name === 'host-c' ? moving : { ip: UNKNOWN, mac: c.network.mac }),
  });
  const ms = Date.now() - t0;
  expect(o.resources.map((r) => [r.system, r.fields.host])).toEqual([
    ['host-c', expect.stringMatching(/ECONNREFUSED/)],
  ]);
  // Three attempts (1 s and 2 s apart) took over 3 s; one takes a refused connect's time.
  expect(ms).toBeLessThan(1500);
});

test('`shipshape plan` and `shipshape apply` run specialisation through the engine', async () => {
  const state = join(net.dir, 'state');
  lab.system(0, '[baseline/internal, { name: app/shop, version: 7.4.2, params: { projectKey: CLI } }]');
  const plan = await runCli(['--state-dir', state, 'plan', '-C', lab.repo]);
  expect(plan.code).toBe(0);
  expect(plan.out).toMatch(
    /host-a\n.*specialise update[^\n]*\n\s+roles\.app\/shop: 7\.4\.1 [0-9a-f]{16} \(changed\) → 7\.4\.2 /,
  );
  const apply = await runCli(['--state-dir', state, 'apply', '-C', lab.repo]);
  expect(apply.out).toMatch(/ok\s+host-a/);
  expect(apply.code).toBe(0);
  expect(lab.file(0, 'etc/shop/shop.conf')).toContain('project_key = CLI');
  expect(dpkgVersion(lab.root(0), 'shop')).toBe('install ok installed 7.4.2');
  const again = await runCli(['--state-dir', state, 'apply', '-C', lab.repo]);
  expect(again.out).toContain('No changes');
});
