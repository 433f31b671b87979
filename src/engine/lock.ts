/**
 * One run per host at a time: an exclusive lock file holding the owner's pid. A lock left by a
 * process that no longer exists (a crash, a kill -9) is taken over rather than blocking every
 * later run; a live owner makes the new run fail with who holds it and since when.
 */
import { redact } from '../redact';
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError } from './contract';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export interface HeldLock {
  path: string;
  /** Set when a stale lock of a dead process was taken over. */
  tookOverFrom?: LockInfo;
  release(): void;
}

export function acquireLock(stateDir: string, command: string): HeldLock {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'run.lock');
  const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: redact(command) };
  let tookOverFrom: LockInfo | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(info));
      closeSync(fd);
      let released = false;
      return {
        path,
        ...(tookOverFrom ? { tookOverFrom } : {}),
        release() {
          if (released) return;
          released = true;
          try {
            const current = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
            if (current.pid === process.pid) unlinkSync(path);
          } catch {
            /* already gone */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readHolder(path);
      // A lock from another host cannot be checked for liveness: never take it over.
      if (holder && (holder.host !== hostname() || isAlive(holder.pid))) {
        throw new UserError(
          `another shipshape run holds the lock ${path} (pid ${holder.pid}, "${holder.command}", since ${holder.startedAt}); wait for it to finish`,
        );
      }
      // Stale (dead owner) or unreadable: take it over.
      tookOverFrom = holder ?? undefined;
      try {
        unlinkSync(path);
      } catch {
        /* raced with another taker: retry the exclusive create */
      }
    }
  }
  throw new UserError(`could not take the lock ${path}: several runs raced for it; run again`);
}

function readHolder(path: string): LockInfo | null {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return typeof data.pid === 'number' ? data : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
