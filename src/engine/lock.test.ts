import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { acquireLock } from './lock';

const dir = () => mkdtempSync(join(tmpdir(), 'shipshape-lock-'));

describe('run lock', () => {
  it('lets one run in and refuses a second while the first lives', () => {
    const d = dir();
    const first = acquireLock(d, 'apply');
    expect(() => acquireLock(d, 'apply')).toThrow(/another shipshape run holds the lock .* \(pid \d+, "apply"/);
    first.release();
    const again = acquireLock(d, 'plan');
    again.release();
  });

  it('takes over a stale lock left by a process that died', () => {
    const d = dir();
    // A real pid that no longer exists: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(join(d, 'run.lock'), JSON.stringify({ pid: Number(dead), host: hostname(), startedAt: '2026-01-01T00:00:00Z', command: 'apply' }));
    const lock = acquireLock(d, 'apply');
    expect(lock.tookOverFrom?.pid).toBe(Number(dead));
    expect(JSON.parse(readFileSync(join(d, 'run.lock'), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('never takes over a lock held from another host', () => {
    const d = dir();
    writeFileSync(join(d, 'run.lock'), JSON.stringify({ pid: 1, host: 'other-host', startedAt: 'x', command: 'apply' }));
    expect(() => acquireLock(d, 'apply')).toThrow(/another shipshape run/);
  });
});
