/**
 * The plan is the contract, in the lab (vcsim, the i-doit emulator, named, the SSH target; `lab up` on free
 * ports): a saved plan scoped to one system is applied exactly — its actions only, printed as `plan` printed
 * them — while drift on another system is neither an obstacle nor reverted; the same kind of plan after a
 * resource it touches changed in vCenter is refused for that system, naming what changed, and the plan's
 * other systems are applied (exit 6); applied once more, nothing of it holds and nothing is applied (exit 1).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCredentials } from '../../src/lab/credentials';
import { freePort } from '../../src/lab/process';
import { labStateDir } from '../../src/lab/start-provisioning';
import type { Plan } from '../../src/plan/types';
import { cliArgs, runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { copyLabExamples, labSiteYaml } from '../helpers/lab-site';
import { labVms, setLabVmCpu } from '../helpers/lab-vcsim';
import { inPty } from '../helpers/pty';

const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
let work: string;
let repo: string;
let state: string;
let ports: { vcsim: number; idoit: number; dns: number; ssh: number; prov: number };

/** web-dev-01 and web-dev-02 with `cpu: N` in their manifests, committed. */
function setCpu(cpus: Record<string, number>): void {
  for (const [name, n] of Object.entries(cpus)) {
    const file = join(repo, 'systems', 'dev', `${name}.yaml`);
    const text = readFileSync(file, 'utf8').replace(/\n {2}cpu: \d+\n/, '\n');
    writeFileSync(file, text.replace('  profile: web-dev\n', `  profile: web-dev\n  cpu: ${n}\n`));
  }
  git(repo, 'add', '-A');
  git(repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', JSON.stringify(cpus));
}
const cli = (...args: string[]) => runCli(['--state-dir', state, ...args]);
const cpuOf = async (name: string) => (await labVms(repo, ports.vcsim)).get(name)!.cpu;

beforeAll(async () => {
  work = tempDir('saved-plan');
  ports = {
    vcsim: await freePort(),
    idoit: await freePort(),
    dns: await freePort(),
    ssh: await freePort(),
    prov: await freePort(),
  };
  repo = join(work, 'repo');
  mkdirSync(repo);
  copyLabExamples(repo);
  writeFileSync(join(repo, '.gitignore'), '.lab/\n*.json\n');
  writeFileSync(join(repo, 'shipshape.yaml'), labSiteYaml(ports, join(work, 'servers')));
  git(repo, 'init', '-q', '-b', 'main');
  setCpu({});
  state = labStateDir(repo);
  const up = await runCli(['lab', 'up', '-C', repo]);
  if (up.code !== 0) throw new Error(`lab up failed:\n${up.out}\n${up.err}`);
  Object.assign(process.env, readCredentials(repo));
  const first = await cli('apply', '-C', repo);
  if (first.code !== 0) throw new Error(`the first apply failed:\n${first.out}\n${first.err}`);
}, 480_000); // lab up (which builds vcsim when its source changed) and a first apply of six systems, on a shared machine

afterAll(async () => {
  if (repo) await runCli(['lab', 'down', '-C', repo]);
  if (work) removeDir(work);
}, 60_000);

test('a scoped saved plan is applied exactly: its actions, printed as reviewed; drift on another system stays', async () => {
  setCpu({ 'web-dev-01': 4 });
  const reviewed = await cli('plan', '-C', repo, '--system', 'web-dev-01');
  expect(reviewed.code).toBe(0);
  const file = join(work, 'web-dev-01.json');
  expect((await cli('plan', '-C', repo, '--system', 'web-dev-01', '--format', 'json', '--out', file)).code).toBe(0);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Plan;
  expect(saved.scope).toBe('--system web-dev-01');
  expect(new Set(saved.actions.map((a) => a.system))).toEqual(new Set(['web-dev-01']));
  expect(saved.actions.find((a) => a.kind === 'vm')).toMatchObject({
    action: 'update',
    changes: [expect.objectContaining({ path: 'cpu', from: 2, to: 4 })],
  });

  // Meanwhile someone gives web-dev-02 a third CPU in vCenter: drift the reviewed plan does not name.
  await setLabVmCpu(repo, ports.vcsim, 'web-dev-02', 3);

  const applied = await cli('apply', '-C', repo, file);
  expect(applied.err).not.toMatch(/refus|changed since/i);
  expect(applied.code).toBe(0);
  expect(applied.err).toContain(reviewed.out.trimEnd()); // the very text the reviewer read
  expect(applied.out).toMatch(/^ok\s+web-dev-01$/m);
  expect(applied.out).not.toMatch(/web-dev-02/);
  expect(await cpuOf('web-dev-01')).toBe(4);
  expect(await cpuOf('web-dev-02')).toBe(3); // not reverted: not in the plan

  const drift = await cli('drift', '-C', repo, '--format', 'json');
  expect(drift.code).toBe(2);
  const items = JSON.parse(drift.out).items as { system: string; path: string }[];
  expect(items.map((i) => `${i.system} ${i.path}`)).toEqual(['web-dev-02 cpu']);
}, 240_000);

test('a saved plan whose touched resource changed is refused for that system; its other systems are applied (exit 6), then nothing holds (exit 1)', async () => {
  setCpu({ 'web-dev-01': 2, 'web-dev-02': 2 });
  const file = join(work, 'both.json');
  const made = await cli(
    'plan',
    '-C',
    repo,
    '--system',
    'web-dev-01',
    '--system',
    'web-dev-02',
    '--format',
    'json',
    '--out',
    file,
  );
  expect(made.code).toBe(0);
  // After the review, web-dev-01's VM is edited in vCenter: the resource its vm action touches.
  await setLabVmCpu(repo, ports.vcsim, 'web-dev-01', 3);

  const applied = await cli('apply', '-C', repo, file);
  expect(applied.code).toBe(6);
  expect(applied.err).toMatch(
    /web-dev-01 vm \(vm-\d+\) changed in the VM platform since the plan was made \([^)]+\): the plan has update cpu 4 → 2, now it would be update cpu 3 → 2/,
  );
  expect(applied.err).toMatch(/nothing of web-dev-01 is changed; make a new plan and review it/);
  expect(applied.out).toMatch(/^failed\s+web-dev-01: vm: .*changed in the VM platform/m);
  expect(applied.out).toMatch(/^ok\s+web-dev-02$/m);
  expect(await cpuOf('web-dev-01')).toBe(3); // untouched
  expect(await cpuOf('web-dev-02')).toBe(2); // the reviewed revert of its drift

  // The same file again: web-dev-02's change was made (by the apply), so nothing of the plan holds.
  const again = await cli('apply', '-C', repo, file);
  expect(again.code).toBe(1);
  expect(again.err).toMatch(
    /web-dev-02 vm \(vm-\d+\): the plan has update cpu 3 → 2, but nothing is to change there any more: .* or the change was made in the VM platform already \(by an earlier apply of this plan, or by hand\)/,
  );
  expect(again.err).toMatch(/nothing was applied/);
  expect(await cpuOf('web-dev-01')).toBe(3);

  // A fresh plan is what the refusal asks for; applied, it converges.
  expect((await cli('apply', '-C', repo, '--system', 'web-dev-01')).code).toBe(0);
  expect(await cpuOf('web-dev-01')).toBe(2);
}, 240_000);

test('--changed-since REF plans and applies only the systems the commits changed (the on-merge pipeline); drift elsewhere stays', async () => {
  const before = git(repo, 'rev-parse', 'HEAD').trim();
  setCpu({ 'web-dev-02': 3 });
  await setLabVmCpu(repo, ports.vcsim, 'web-dev-01', 3); // drift on a system the merge did not touch

  const planned = await cli('plan', '-C', repo, '--changed-since', before, '--format', 'json');
  expect(planned.code).toBe(0);
  // lb-dev-01's lb/shop role lists the web tier's addresses (examples/lab/environments): in scope with
  // web-dev-02, it plans nothing as long as their addresses stay.
  expect(planned.err).toMatch(
    /--changed-since [0-9a-f]+: 1 file\(s\) changed, 2 system\(s\) touched: lb-dev-01, web-dev-02/,
  );
  const plan = JSON.parse(planned.out) as Plan;
  expect(plan.scope).toBe(`--changed-since ${before}`);
  expect([...new Set(plan.actions.filter((a) => a.action !== 'noop').map((a) => a.system))]).toEqual(['web-dev-02']);

  const applied = await cli('apply', '-C', repo, '--changed-since', before);
  expect(applied.code).toBe(0);
  expect(await cpuOf('web-dev-02')).toBe(3);
  expect(await cpuOf('web-dev-01')).toBe(3); // the scheduled full apply reconciles it, not the merge's

  // drift takes the same targets: labels come from the manifest and its profile (metadata.labels).
  expect((await cli('drift', '-C', repo, '--system', 'web-dev-02')).code).toBe(0);
  const mine = await cli('drift', '-C', repo, '--selector', 'owner=shop-devs', '--kind', 'vm', '--format', 'json');
  expect(mine.code).toBe(2);
  expect((JSON.parse(mine.out).items as { system: string }[]).map((i) => i.system)).toEqual(['web-dev-01']);
  expect((await cli('drift', '-C', repo, '--selector', 'team=shop,env=dev', '--kind', 'dns')).code).toBe(0);

  const nothing = await cli('apply', '-C', repo, '--changed-since', 'HEAD');
  expect(nothing.code).toBe(0);
  expect(nothing.err).toMatch(/0 file\(s\) changed, 0 system\(s\) touched/);
  expect(await cpuOf('web-dev-01')).toBe(3);
}, 240_000);

test('on a terminal, apply shows the plan, the power-offs and deletes, and asks: "no" changes nothing, "yes" applies', async () => {
  setCpu({ 'web-dev-01': 4 });
  writeFileSync(
    join(repo, 'systems', 'live', 'shop-live-02.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: shop-live-02\nspec:\n  state: absent\n  network: { net: live-net }\n',
  );
  git(repo, 'add', '-A');
  git(repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'retire shop-live-02');
  const argv = [
    process.execPath,
    ...cliArgs('--state-dir', state, 'apply', '-C', repo, '--system', 'web-dev-01,shop-live-02'),
  ];
  const question = "Only 'yes' is accepted";
  const no = await inPty(argv, question, 'no');
  expect(no.code).toBe(1);
  const bottom = no.out.slice(no.out.indexOf('Plan: '));
  expect(bottom).toMatch(/Power-offs[^\n]*\n\s+web-dev-01: vm cpu\r?\n/);
  expect(bottom).toMatch(/Deletes:\r?\n\s+shop-live-02: .*vm \(the VM and its disks are DESTROYED/);
  expect(bottom).toMatch(/Apply \d+ changes to 2 systems\? Only 'yes' is accepted/);
  expect(no.out).toMatch(/Apply cancelled: nothing was changed/);
  expect(await cpuOf('web-dev-01')).toBe(3);
  expect((await labVms(repo, ports.vcsim)).has('shop-live-02')).toBe(true);

  const yes = await inPty(argv, question, 'yes');
  expect(yes.code).toBe(0);
  expect(await cpuOf('web-dev-01')).toBe(4);
  expect((await labVms(repo, ports.vcsim)).has('shop-live-02')).toBe(false);

  // --yes, and a run without a terminal, never ask.
  setCpu({ 'web-dev-01': 2 });
  const auto = await inPty([...argv, '--yes'], 'never printed', '');
  expect(auto.out).not.toContain(question);
  expect(auto.code).toBe(0);
  expect(await cpuOf('web-dev-01')).toBe(2);
}, 240_000);
