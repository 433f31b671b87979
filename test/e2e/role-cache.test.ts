/**
 * The role records specialisation keeps per VM boot (src/providers/specialise/record-cache.ts), against
 * a real lab: vcsim, and one network namespace with its own sshd per system. Sessions are counted in
 * each system's sshd log, so "read" means an SSH login that really arrived:
 * - the apply that installs a system logs in once (its roles), not again for the status snapshot after it;
 * - a plan with nothing changed logs in nowhere, and plans what a plan with an empty state dir plans
 *   (which logs in everywhere once);
 * - a hand edit of a record is not seen by a plan from the kept records; a power cycle in vCenter makes
 *   exactly that system read again, and the plan then shows it; `--refresh` and `drift` read every system.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCredentials } from '../../src/lab/credentials';
import { labStateDir } from '../../src/lab/start-provisioning';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { copyLabExamples, labSiteYaml, freeLabEndpoints } from '../helpers/lab-site';
import { powerCycleLabVm } from '../helpers/lab-vcsim';

/** The example site's present systems: each has roles, a VM and an sshd of its own. */
const SYSTEMS = ['db-dev-01', 'lb-dev-01', 'shop-live-01', 'shop-live-02', 'web-dev-01', 'web-dev-02'];

let work: string;
let repo: string;
let targets: string;
let state: string;
let vcsimPort: number;
/** Each system's logins once the apply that installed it ended. */
let afterApply: Map<string, number>;

/** SSH logins each system's sshd has accepted so far. */
const logins = () =>
  new Map(
    SYSTEMS.map((s) => [
      s,
      (readFileSync(join(repo, '.lab', 'systems', s, 'sshd.log'), 'utf8').match(/Accepted publickey for /g) ?? [])
        .length,
    ]),
  );
/** The logins per system since `before`, only where there were any. */
const since = (before: Map<string, number>) =>
  Object.fromEntries([...logins()].filter(([s, n]) => n !== before.get(s)).map(([s, n]) => [s, n - before.get(s)!]));
const everyOnce = Object.fromEntries(SYSTEMS.map((s) => [s, 1]));
const recordFile = (system: string) => join(targets, 'systems', system, 'var/lib/shipshape/roles.json');
const plan = (...extra: string[]) =>
  runCli(['plan', '-C', repo, '--state-dir', state, '--detailed-exitcode', ...extra]);

beforeAll(async () => {
  work = tempDir('role-cache-e2e');
  repo = join(work, 'repo');
  targets = join(work, 'servers');
  copyLabExamples(repo);
  const ports = await freeLabEndpoints();
  vcsimPort = ports.vcsim;
  writeFileSync(join(repo, 'shipshape.yaml'), labSiteYaml(ports, targets));
  const up = await runCli(['lab', 'up', '-C', repo]);
  if (up.code !== 0) throw new Error(`lab up failed:\n${up.out}\n${up.err}`);
  Object.assign(process.env, readCredentials(repo));
  state = labStateDir(repo);
  const apply = await runCli(['apply', '-C', repo, '--state-dir', state]);
  if (apply.code !== 0) throw new Error(`apply failed:\n${apply.out}\n${apply.err}`);
  afterApply = logins();
}, 600_000);

afterAll(async () => {
  if (repo) await runCli(['lab', 'down', '-C', repo]);
  if (work) removeDir(work);
}, 60_000);

test('the apply that installs a system logs in to it once, for its roles: the status snapshot after it reads the record the apply kept of this boot', () => {
  expect(Object.fromEntries(afterApply)).toEqual(everyOnce);
});

test('after apply, a plan logs in nowhere; one with an empty state dir logs in everywhere once and plans the same', async () => {
  let before = logins();
  const kept = await plan();
  expect([kept.code, kept.out]).toEqual([0, expect.stringContaining('Plan: 0 to create, 0 to update, 0 to replace')]);
  expect(since(before)).toEqual({});

  const empty = mkdtempSync(join(work, 'empty-state-'));
  try {
    before = logins();
    const fresh = await runCli(['plan', '-C', repo, '--state-dir', empty, '--detailed-exitcode']);
    expect(since(before)).toEqual(everyOnce);
    expect([fresh.code, fresh.out]).toEqual([kept.code, kept.out]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}, 180_000);

test('a hand edit of a record is seen after a power cycle of that VM (only it is read), and by --refresh and drift (every system)', async () => {
  const record = JSON.parse(readFileSync(recordFile('web-dev-01'), 'utf8')) as { roles: Record<string, unknown> };
  const [forgotten] = Object.keys(record.roles);
  delete record.roles[forgotten!];
  writeFileSync(recordFile('web-dev-01'), JSON.stringify(record, null, 1) + '\n');
  const shown = new RegExp(`web-dev-01[^]*specialise update[^]*roles\\.${forgotten!.replace('/', '\\/')}`);

  // The machine has not been powered off since its record was read: the kept record stands.
  let before = logins();
  expect((await plan()).code).toBe(0);
  expect(since(before)).toEqual({});

  await powerCycleLabVm(repo, vcsimPort, 'web-dev-01');
  before = logins();
  const cycled = await plan();
  expect(since(before)).toEqual({ 'web-dev-01': 1 });
  expect([cycled.code, cycled.out]).toEqual([2, expect.stringMatching(shown)]);

  before = logins();
  const refreshed = await plan('--refresh');
  expect(since(before)).toEqual(everyOnce);
  expect([refreshed.code, refreshed.out]).toEqual([cycled.code, cycled.out]);

  before = logins();
  const drift = await runCli(['drift', '-C', repo, '--state-dir', state]);
  expect(since(before)).toEqual(everyOnce);
  expect([drift.code, drift.out]).toEqual([2, expect.stringContaining('web-dev-01')]);

  // Apply puts the role back and keeps the record it wrote: the next plan logs in nowhere again.
  expect((await runCli(['apply', '-C', repo, '--state-dir', state])).code).toBe(0);
  expect(Object.keys(JSON.parse(readFileSync(recordFile('web-dev-01'), 'utf8')).roles)).toContain(forgotten);
  before = logins();
  expect((await plan()).code).toBe(0);
  expect(since(before)).toEqual({});
}, 300_000);
