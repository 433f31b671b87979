import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as ts from 'typescript';
import { acquireLock, processStart } from './lock';
import { tempDir } from '../../test/helpers/tmp';

const dir = () => tempDir('shipshape-lock-');
const deadPid = () =>
  Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
const lockFile = (d: string) => join(d, 'run.lock');

describe('run lock', () => {
  it('lets one run in and refuses a second while the first lives', () => {
    const d = dir();
    const first = acquireLock(d, 'apply');
    expect(() => acquireLock(d, 'apply')).toThrow(/another shipshape run holds the lock .* \(pid \d+ on .*, "apply"/);
    first.release();
    const again = acquireLock(d, 'plan');
    again.release();
    expect(existsSync(lockFile(d))).toBe(false);
  });

  it('takes over a stale lock left by a process that died, and says why', () => {
    const d = dir();
    const dead = deadPid();
    writeFileSync(
      lockFile(d),
      JSON.stringify({ pid: dead, host: hostname(), startedAt: '2026-01-01T00:00:00Z', command: 'apply' }),
    );
    const lock = acquireLock(d, 'apply');
    expect(lock.tookOverFrom?.pid).toBe(dead);
    expect(lock.tookOverFrom?.reason).toBe(`pid ${dead} no longer runs`);
    expect(JSON.parse(readFileSync(lockFile(d), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('takes over a lock whose pid now belongs to an unrelated process (start time differs)', () => {
    const d = dir();
    const other = spawn('sleep', ['30']);
    try {
      const live = processStart(other.pid!);
      expect(live).toMatch(/^.+:\d+$/);
      // The holder with this pid started at another time: the pid was reused since.
      writeFileSync(
        lockFile(d),
        JSON.stringify({
          pid: other.pid,
          host: hostname(),
          startedAt: '2026-01-01T00:00:00Z',
          command: 'apply',
          procStart: `${live!.split(':')[0]}:1`,
        }),
      );
      const lock = acquireLock(d, 'apply');
      expect(lock.tookOverFrom?.reason).toMatch(new RegExp(`pid ${other.pid} now belongs to another process`));
      lock.release();
      // Same pid and the same start time: that is the holder, alive; never taken over.
      writeFileSync(
        lockFile(d),
        JSON.stringify({ pid: other.pid, host: hostname(), startedAt: 'x', command: 'apply', procStart: live }),
      );
      expect(() => acquireLock(d, 'apply')).toThrow(/another shipshape run holds the lock/);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('never removes a lock it cannot read while it is young (a run may be writing it)', () => {
    const d = dir();
    writeFileSync(lockFile(d), '');
    expect(() => acquireLock(d, 'apply')).toThrow(/cannot be read .*remove it and run again/);
    expect(existsSync(lockFile(d))).toBe(true);
    const old = (Date.now() - 120_000) / 1000;
    utimesSync(lockFile(d), old, old);
    const lock = acquireLock(d, 'apply');
    expect(lock.tookOverFrom?.reason).toMatch(/unreadable and \d+ s old/);
    lock.release();
  });

  it('never takes over a lock held from another host', () => {
    const d = dir();
    writeFileSync(lockFile(d), JSON.stringify({ pid: 1, host: 'other-host', startedAt: 'x', command: 'apply' }));
    expect(() => acquireLock(d, 'apply')).toThrow(/another shipshape run/);
  });
});

/**
 * 8 real processes race for the lock in each of 100 rounds, all released at the same instant.
 * Every holder appends "in"/"out" to one log (O_APPEND writes are atomic): at no point may two be
 * inside. Rounds alternate between a free lock, a dead holder's lock, a reused pid's lock and an
 * old unreadable lock, so the takeover path races too.
 */
describe('run lock under 8 racing processes', () => {
  const PROCS = 8;
  const ROUNDS = 100;
  let workers: ChildProcessWithoutNullStreams[] = [];
  afterAll(() => workers.forEach((w) => w.kill('SIGKILL')));

  it('never has two holders in 100 rounds', async () => {
    const base = dir();
    const code = join(base, 'js');
    mkdirSync(code);
    for (const f of ['lock', 'contract']) {
      const src = readFileSync(join(__dirname, `${f}.ts`), 'utf8');
      writeFileSync(
        join(code, `${f}.js`),
        ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } })
          .outputText,
      );
    }
    const state = join(base, 'state');
    const log = join(base, 'holders.log');
    writeFileSync(join(code, 'worker.js'), WORKER);
    workers = Array.from({ length: PROCS }, () => spawn(process.execPath, [join(code, 'worker.js'), state, log]));
    const replies = workers.map((w) => lines(w));
    await Promise.all(replies.map((r) => r.next())); // every worker loaded and ready

    const sleeper = spawn('sleep', ['120']);
    const wrongStart = `${processStart(sleeper.pid!)!.split(':')[0]}:1`;
    let takeovers = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        mkdirSync(state, { recursive: true });
        const plant = round % 4;
        if (plant === 1)
          writeFileSync(
            lockFile(state),
            JSON.stringify({ pid: deadPid(), host: hostname(), startedAt: 'x', command: 'dead' }),
          );
        if (plant === 2)
          writeFileSync(
            lockFile(state),
            JSON.stringify({
              pid: sleeper.pid,
              host: hostname(),
              startedAt: 'x',
              command: 'reused',
              procStart: wrongStart,
            }),
          );
        if (plant === 3) {
          writeFileSync(lockFile(state), '');
          const old = (Date.now() - 120_000) / 1000;
          utimesSync(lockFile(state), old, old);
        }
        const at = Date.now() + 30;
        for (const w of workers) w.stdin.write(`${round} ${at}\n`);
        const got = await Promise.all(replies.map((r) => r.next()));
        const held = got.filter((g) => g.startsWith('held'));
        expect(got.filter((g) => !g.startsWith('held') && !g.startsWith('busy'))).toEqual([]);
        expect(held.length).toBeGreaterThanOrEqual(1);
        takeovers += held.filter((g) => g.includes('took-over')).length;
        expect(readdirSync(state)).toEqual([]); // no lock, takeover lock or temp file left
        rmSync(state, { recursive: true });
      }
    } finally {
      sleeper.kill('SIGKILL');
    }
    let inside = 0;
    let most = 0;
    for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
      inside += line.startsWith('in ') ? 1 : -1;
      most = Math.max(most, inside);
    }
    expect(most).toBe(1);
    // The remover of a stale lock may lose the fresh link to another racer, so not every such round reports one.
    expect(takeovers).toBeGreaterThan(0);
  }, 120_000);
});

/** A worker: per stdin line "<round> <at>", wait for the instant `at`, try the lock, hold it 3 ms, reply. */
const WORKER = `
const { appendFileSync } = require('node:fs');
const { acquireLock } = require('./lock.js');
const [state, log] = process.argv.slice(2);
const wait = new Int32Array(new SharedArrayBuffer(4));
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const [round, at] = buf.slice(0, i).split(' ').map(Number);
    buf = buf.slice(i + 1);
    while (Date.now() < at) {}
    let lock;
    try {
      lock = acquireLock(state, 'race ' + round);
    } catch (e) {
      process.stdout.write((/another shipshape run|cannot be read|raced/.test(e.message) ? 'busy ' : 'error ') + e.message + '\\n');
      continue;
    }
    appendFileSync(log, 'in ' + process.pid + ' ' + round + '\\n');
    Atomics.wait(wait, 0, 0, 3);
    appendFileSync(log, 'out ' + process.pid + ' ' + round + '\\n');
    lock.release();
    process.stdout.write('held' + (lock.tookOverFrom ? ' took-over' : '') + '\\n');
  }
});
process.stdout.write('ready\\n');
`;

/** Reads a child's stdout line by line. */
function lines(w: ChildProcessWithoutNullStreams): { next(): Promise<string> } {
  const queue: string[] = [];
  const waiting: ((s: string) => void)[] = [];
  let buf = '';
  w.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const take = waiting.shift();
      if (take) take(line);
      else queue.push(line);
    }
  });
  w.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  return { next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((res) => waiting.push(res))) };
}
