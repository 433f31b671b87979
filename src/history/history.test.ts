/** The run history: what a recorded run leaves behind, and what `shipshape history` / `show` make of it. */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from '../../test/helpers/daemon';
import { runCli } from '../../test/helpers/cli';
import { system } from '../../test/support/fixtures';
import type { ApplyReport } from '../engine/apply';
import type { Plan } from '../plan/types';
import { renderText } from '../plan/render';
import { eventsFor } from '../notify/webhook';
import { RunRecorder } from './recorder';
import { openHistory } from './store';

let dir: string;
let state: string;
let commit: string;
beforeEach(() => {
  dir = tempDir('history');
  state = join(dir, 'state');
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { encoding: 'utf8' }).trim();
  git('init', '-q');
  writeFileSync(join(dir, 'a.yaml'), 'x: 1\n');
  git('add', '-A');
  git('-c', 'user.name=Ann Operator', '-c', 'user.email=ann@example.com', 'commit', '-qm', 'a');
  commit = git('rev-parse', 'HEAD');
});
afterEach(() => removeDir(dir));

function plan(over: Partial<Plan> = {}): Plan {
  return {
    formatVersion: 1,
    createdAt: '2026-11-30T10:00:00.000Z',
    commit,
    desiredDigest: 'sha256:d',
    observedDigest: 'sha256:o',
    summary: { create: 1, update: 0, replace: 0, delete: 0, noop: 1, blocked: 0 },
    actions: [
      {
        system: 'web-01',
        kind: 'vm',
        action: 'create',
        changes: [{ path: 'cpu', from: null, to: 2 }],
        needsPowerOff: false,
        needsReboot: false,
        reason: 'no VM yet',
      },
      {
        system: 'db-01',
        kind: 'vm',
        action: 'noop',
        resourceId: 'vm-9',
        changes: [],
        needsPowerOff: false,
        needsReboot: false,
        reason: 'matches',
      },
    ],
    warnings: [],
    maxDeletes: 3,
    roundTrips: { vm: 2 },
    ...over,
  };
}

const report = (ok: boolean): ApplyReport => ({
  ok,
  journalLeft: [],
  applied: { create: ok ? 1 : 0, update: 0, replace: 0, delete: 0, noop: 0 },
  outcomes: [
    {
      system: 'web-01',
      status: ok ? 'ok' : 'failed',
      steps: [{ kind: 'vm', action: 'create', status: ok ? 'done' : 'failed', ms: 1234 }],
      ...(ok
        ? {}
        : {
            error: {
              kind: 'vm',
              code: 'failed',
              message: 'CloneVM_Task refused: login https://admin:hunter2@vc.example.com failed, password=hunter2',
            },
          }),
    },
  ],
});

async function recordApply(ok: boolean, trigger?: string): Promise<number> {
  const rec = new RunRecorder({
    stateDir: state,
    kind: 'apply',
    source: dir,
    warn: (l) => {
      throw new Error(l);
    },
    ...(trigger ? { trigger } : {}),
  });
  rec.planned(
    plan(),
    dir,
    [system('web-01'), system('db-01')],
    new Map([
      [
        'vm',
        {
          roundTrips: 2,
          resources: [
            {
              kind: 'vm',
              system: 'db-01',
              id: 'vm-9',
              owned: true,
              fields: { cpu: 2, power: 'poweredOn' },
              handle: { secretish: 1 },
            },
          ],
        },
      ],
    ]),
  );
  const r = await rec.finished({ report: report(ok) });
  return r!.id;
}

test('an apply run is recorded with trigger, commit, author, user, the plan and per-step results; history and show list it', async () => {
  const first = await recordApply(true);
  const second = await recordApply(false, 'schedule */15 * * * *');

  const h = await runCli(['--state-dir', state, 'history']);
  expect(h.code).toBe(0);
  const lines = h.out.trim().split('\n');
  expect(lines[0]).toMatch(/^RUN\s+STARTED \(UTC\)\s+KIND\s+STATUS\s+TRIGGER\s+COMMIT\s+WHO/);
  expect(lines[1]).toMatch(
    new RegExp(
      `^${second}\\s+\\S+ \\S+\\s+apply\\s+failed\\s+schedule \\*/15 \\* \\* \\* \\*\\s+${commit.slice(0, 12)}\\s+Ann Operator`,
    ),
  );
  expect(lines[2]).toMatch(new RegExp(`^${first}\\s.*apply\\s+changed\\s+cli\\s.*1 created, 0 updated`));

  const json = JSON.parse(
    (await runCli(['--state-dir', state, 'history', '--format', 'json', '--system', 'web-01'])).out,
  );
  expect(json.runs.map((r: { id: number }) => r.id)).toEqual([second, first]);
  expect(json.runs[0]).toMatchObject({
    kind: 'apply',
    commit,
    author: 'Ann Operator <ann@example.com>',
    status: 'failed',
    systems: ['web-01'],
  });
  expect(
    JSON.parse((await runCli(['--state-dir', state, 'history', '--format', 'json', '--system', 'db-01'])).out).runs,
  ).toEqual([]);
  expect(
    JSON.parse((await runCli(['--state-dir', state, 'history', '--format', 'json', '--since', '2000-01-01'])).out).runs,
  ).toHaveLength(2);

  const show = await runCli(['--state-dir', state, 'show', String(second)]);
  expect(show.code).toBe(0);
  expect(show.out).toContain(`commit:   ${commit} by Ann Operator <ann@example.com>`);
  expect(show.out).toMatch(/failed\s+web-01 \(vm: CloneVM_Task refused/);
  expect(show.out).toMatch(/vm\s+create\s+failed\s+1\.2s/);
  expect(show.out).toContain('web-01'); // the plan it executed
  // Secrets a backend echoed back are cut out before they are stored.
  expect(show.out).not.toContain('hunter2');
  const store = await openHistory(state, { mustExist: true });
  expect(JSON.stringify(await store.get(second))).not.toContain('hunter2');

  // The estate snapshot the status page reads: observed fields, no provider handles.
  const estate = (await store.estate())!;
  await store.close();
  expect(estate.runId).toBe(second);
  expect(estate.observed.vm).toEqual([
    { system: 'db-01', id: 'vm-9', owned: true, fields: { cpu: 2, power: 'poweredOn' } },
  ]);
  expect(estate.systems.map((s) => s.name)).toEqual(['web-01', 'db-01']);
});

test('an apply whose only problem is a blocked system is no failed run: no run.failed, the result counts it', async () => {
  const rec = new RunRecorder({ stateDir: state, kind: 'apply', source: dir, warn: () => undefined });
  rec.planned(
    plan({ summary: { create: 1, update: 0, replace: 0, delete: 0, noop: 0, blocked: 1 } }),
    dir,
    [],
    new Map(),
  );
  const r = (await rec.finished({
    report: {
      ok: false,
      journalLeft: [],
      applied: { create: 1, update: 0, replace: 0, delete: 0, noop: 0 },
      outcomes: [
        { system: 'web-01', status: 'ok', steps: [{ kind: 'vm', action: 'create', status: 'done', ms: 10 }] },
        { system: 'db-01', status: 'blocked', steps: [] },
      ],
    },
  }))!;
  expect(r.status).toBe('changed');
  expect(eventsFor(r).map((e) => e.event)).not.toContain('run.failed');
  expect((await runCli(['--state-dir', state, 'history'])).out).toMatch(
    /apply\s+changed\s.*1 created, 0 updated, 0 replaced, 0 deleted, 1 blocked/,
  );
});

/** A process that starts a recorded run and is SIGKILLed mid-run (an apply killed with -9). */
async function killedRun(): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '-r',
      join(__dirname, '..', '..', 'test', 'helpers', 'ts-register.js'),
      '-e',
      `new (require(${JSON.stringify(join(__dirname, 'recorder.ts'))}).RunRecorder)({ stateDir: ${JSON.stringify(state)}, kind: 'apply', source: '.', warn() {} }).id().then((id) => { console.log(id); setInterval(() => {}, 1000); })`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const id = await new Promise<number>((res) => child.stdout.once('data', (d) => res(Number(String(d).trim()))));
  child.kill('SIGKILL');
  await new Promise((res) => child.once('exit', res));
  return id;
}

test('a run that fails before planning, is killed mid-run, or still runs: the history says which', async () => {
  const rec = new RunRecorder({ stateDir: state, kind: 'drift', source: dir, warn: () => undefined });
  await rec.failed(new Error('vSphere https://vc.example.com/sdk: ECONNREFUSED'));
  const killed = await killedRun();
  const live = await new RunRecorder({ stateDir: state, kind: 'plan', source: dir, warn: () => undefined }).id(); // this process: still running
  const runs = JSON.parse((await runCli(['--state-dir', state, 'history', '--format', 'json'])).out).runs;
  expect(runs.map((r: { id: number; status: string }) => [r.id, r.status])).toEqual([
    [live, 'running'],
    [killed, 'error'],
    [expect.any(Number), 'error'],
  ]);
  expect(runs[1].error).toMatch(
    /^the run did not finish: its process on \S+ ended during the run \(pid \d+ no longer runs/,
  );
  expect(runs[2].error).toMatch(/ECONNREFUSED/);
  expect((await runCli(['--state-dir', state, 'history'])).out).toMatch(
    new RegExp(`^${killed}\\s.*apply\\s+error\\s.*the run did not finish`, 'm'),
  );
  expect((await runCli(['--state-dir', state, 'show', String(killed)])).out).toMatch(/ended:\s+\(did not finish/);
  expect((await runCli(['--state-dir', state, 'show', String(live)])).out).toMatch(/ended:\s+\(still running\)/);
});

test('a run on an invalid repo keeps its errors and the commit that has them', async () => {
  writeFileSync(join(dir, 'shipshape.yaml'), 'apiVersion: shipshape.dev/v1\nkind: Site\nspec:\n  lab: maybe\n');
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { encoding: 'utf8' }).trim();
  git('add', '-A');
  git('-c', 'user.name=Bob Breaker', '-c', 'user.email=bob@example.com', 'commit', '-qm', 'site');
  const head = git('rev-parse', 'HEAD');
  const run = await runCli(['--state-dir', state, 'plan', '-C', dir]);
  expect(run.code).toBe(1);
  const [r] = JSON.parse((await runCli(['--state-dir', state, 'history', '--format', 'json'])).out).runs;
  expect(r).toMatchObject({ status: 'error', commit: head, author: 'Bob Breaker <bob@example.com>' });
  // The summary first (history's one-line result), then each error as the CLI printed it.
  const [summary, ...details] = r.error.split('\n');
  expect(summary).toMatch(/^\d+ errors? in .*: nothing was planned or changed/);
  expect(details.length).toBeGreaterThan(0);
  for (const d of details) expect(run.err).toContain(d);
  expect(details[0]).toMatch(/^shipshape\.yaml:\d+:\d+: error: /);
  const shown = (await runCli(['--state-dir', state, 'show', String(r.id)])).out;
  expect(shown).toContain(`\n          ${details[0]}`);
  expect(shown).toContain(`commit:   ${head} by Bob Breaker`);
  // Markdown (pasted into a ticket): one fact per list item, the errors in a code block, not one run-on paragraph.
  const md = (await runCli(['--state-dir', state, 'show', String(r.id), '--format', 'markdown'])).out;
  expect(md).toContain(`\n- **commit:** ${head} by Bob Breaker <bob@example.com>\n- **who:** `);
  expect(md).toContain(`**error:**\n\n\`\`\`\n${summary}\n${details[0]}\n`);
});

test('retention deletes old runs; bad input is a clear error', async () => {
  const old = await recordApply(true);
  const store = await openHistory(state);
  expect(await store.prune(new Date(Date.now() + 1000))).toBe(1);
  expect(await store.get(old)).toBeUndefined();
  await store.close();
  expect((await runCli(['--state-dir', state, 'show', String(old)])).err).toMatch(
    /there is no run \d+ in .*history\.db \(it may be older than the retention\)/,
  );
  expect((await runCli(['--state-dir', state, 'history', '--since', 'yesterday'])).err).toMatch(
    /--since "yesterday": write a date .* or a duration/,
  );
  expect((await runCli(['--state-dir', join(dir, 'nowhere'), 'history'])).err).toMatch(
    /no run history in .*nowhere\/history\.db yet/,
  );
});

test('a run on a checkout with uncommitted changes says so in the plan and the history', async () => {
  writeFileSync(join(dir, 'a.yaml'), 'x: 2\n');
  const rec = new RunRecorder({ stateDir: state, kind: 'plan', source: dir, warn: () => undefined });
  const p = plan({ dirty: true });
  rec.planned(p, dir, [], new Map());
  await rec.finished();
  expect(renderText(p, { colour: false })).toContain(
    `(commit ${commit.slice(0, 12)} plus uncommitted changes in the working tree: this plan is of the files on disk, not of that commit)`,
  );
  expect((await runCli(['--state-dir', state, 'history'])).out).toMatch(
    new RegExp(`plan\\s+ok\\s+cli\\s+${commit.slice(0, 12)}\\+dirty`),
  );
});
