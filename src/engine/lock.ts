/**
 * One run per state directory at a time: the lock file `run.lock` names its holder (pid, the
 * holder's process start time, host, command).
 *
 * Acquisition is atomic: the holder's record is written completely to a private temp file and
 * then hard-linked to `run.lock`. link(2) fails with EEXIST when the name exists, so a lock is
 * never visible half-written and exactly one of several racing runs gets it.
 *
 * A stale lock (its holder gone) is taken over, and the takeover is always announced. "Gone"
 * means the recorded pid no longer runs, or it runs but started at another time than the one
 * recorded (the pid was reused by an unrelated process; Linux `/proc/<pid>/stat` field 22,
 * starttime, with the boot id so a reboot counts too). Removing a stale lock is serialised by a
 * short-lived second lock, `run.lock.takeover`, taken the same atomic way: its holder re-reads
 * `run.lock`, and removes it only if it is still the very file (same inode) that was judged
 * stale. A lock that cannot be read is never removed unless it is older than UNREADABLE_BOUND_MS.
 * Locks of another host are never taken over: their liveness cannot be checked from here.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError } from './contract';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
  /** The holder's process start as `<boot id>:<starttime ticks>` (Linux); absent where /proc is missing. */
  procStart?: string;
}

export interface HeldLock {
  path: string;
  /** Set when a stale lock was taken over: whose it was and why it counted as stale. */
  tookOverFrom?: LockInfo & { reason: string };
  release(): void;
}

/** An unreadable lock younger than this may be a run that is still starting: never removed. */
export const UNREADABLE_BOUND_MS = 60_000;
/** The takeover lock is held for milliseconds; one older than this whose holder is gone is removed. */
const TAKEOVER_BOUND_MS = 5_000;
/** How long a run waits for another run's takeover to finish before giving up. */
const TAKEOVER_WAIT_MS = 10_000;

export function acquireLock(stateDir: string, command: string): HeldLock {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'run.lock');
  const me = selfInfo(command);
  let tookOverFrom: HeldLock['tookOverFrom'];
  for (let attempt = 0; attempt < 5; attempt++) {
    const ino = publish(path, me);
    if (ino !== undefined) {
      sweepTempFiles(stateDir);
      return held(path, ino, tookOverFrom);
    }
    const seen = inspect(path);
    if (!seen) continue; // released between our link and our read: try again
    if (!seen.stale) throw new UserError(seen.why);
    const removed = withTakeoverLock(stateDir, () => {
      // Under the takeover lock only: is run.lock still the file we judged stale?
      const now = inspect(path);
      if (!now || now.ino !== seen.ino || !now.stale) return false;
      unlinkSync(path);
      return true;
    });
    if (removed)
      tookOverFrom = { ...(seen.info ?? { pid: 0, host: '?', startedAt: '?', command: '?' }), reason: seen.why };
  }
  throw new UserError(`could not take the lock ${path}: several runs raced for it; run again`);
}

/** Writes `info` completely to a temp file, then links it in as `path`. The inode, or undefined if `path` exists. */
function publish(path: string, info: LockInfo): number | undefined {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, JSON.stringify(info));
    fsyncSync(fd);
    const ino = fstatSync(fd).ino;
    try {
      linkSync(tmp, path);
      return ino;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw e;
    }
  } finally {
    closeSync(fd);
    unlinkSync(tmp);
  }
}

/** Temp files of runs killed between writing and linking their record (`run.lock.<pid>.<x>.tmp`). */
function sweepTempFiles(stateDir: string): void {
  for (const name of readdirSync(stateDir)) {
    const m = /^run\.lock(?:\.takeover)?\.(\d+)\.[a-z0-9]*\.tmp$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !isAlive(Number(m[1]))) rmSync(join(stateDir, name), { force: true });
  }
}

function held(path: string, ino: number, tookOverFrom: HeldLock['tookOverFrom']): HeldLock {
  let released = false;
  return {
    path,
    ...(tookOverFrom ? { tookOverFrom } : {}),
    release() {
      if (released) return;
      released = true;
      // Remove only our own file: a lock taken over from us (we were judged gone) is someone else's now.
      try {
        if (statSync(path).ino === ino) unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
}

interface Seen {
  ino: number;
  info?: LockInfo;
  stale: boolean;
  /** Why it is stale, or the message for a live holder. */
  why: string;
}

function inspect(path: string): Seen | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const st = fstatSync(fd);
    const info = parse(readFileSync(fd, 'utf8'));
    if (!info) {
      const age = Date.now() - st.mtimeMs;
      if (age > UNREADABLE_BOUND_MS)
        return { ino: st.ino, stale: true, why: `it was unreadable and ${Math.round(age / 1000)} s old` };
      return {
        ino: st.ino,
        stale: false,
        why: `the lock ${path} cannot be read (written ${Math.round(age / 1000)} s ago); another run may be starting. If no shipshape run is active, remove it and run again`,
      };
    }
    const gone = holderGone(info);
    if (gone) return { ino: st.ino, info, stale: true, why: gone };
    return {
      ino: st.ino,
      info,
      stale: false,
      why: `another shipshape run holds the lock ${path} (pid ${info.pid} on ${info.host}, "${info.command}", since ${info.startedAt}); wait for it to finish`,
    };
  } finally {
    closeSync(fd);
  }
}

function parse(text: string): LockInfo | undefined {
  try {
    const d = JSON.parse(text) as LockInfo;
    return d && typeof d.pid === 'number' && typeof d.host === 'string' ? d : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why the holder no longer runs, or undefined while it (or anything we cannot rule out, such as a process on
 * another host) does. Also asked about the process a run record names (src/history/store.ts).
 */
export function holderGone(info: Pick<LockInfo, 'host' | 'pid' | 'procStart'>): string | undefined {
  if (info.host !== hostname()) return undefined;
  if (!isAlive(info.pid)) return `pid ${info.pid} no longer runs`;
  const live = processStart(info.pid);
  if (info.procStart && live && live !== info.procStart)
    return `pid ${info.pid} now belongs to another process (started ${live}, the holder started ${info.procStart})`;
  return undefined;
}

/** Runs `fn` holding `run.lock.takeover`; false when another run's takeover did not finish in time. */
function withTakeoverLock(stateDir: string, fn: () => boolean): boolean {
  const path = join(stateDir, 'run.lock.takeover');
  const deadline = Date.now() + TAKEOVER_WAIT_MS;
  for (;;) {
    const ino = publish(path, selfInfo('takeover'));
    if (ino !== undefined) {
      try {
        return fn();
      } finally {
        held(path, ino, undefined).release();
      }
    }
    const seen = inspect(path);
    if (seen && (seen.stale || !seen.info) && olderThan(path, seen.ino, TAKEOVER_BOUND_MS)) {
      // A run killed during its takeover: its lock is old and its holder gone.
      try {
        if (statSync(path).ino === seen.ino) unlinkSync(path);
      } catch {
        /* someone else cleared it */
      }
      continue;
    }
    if (Date.now() > deadline) return false;
    sleepMs(5 + Math.random() * 10);
  }
}

function olderThan(path: string, ino: number, ms: number): boolean {
  try {
    const st = statSync(path);
    return st.ino === ino && Date.now() - st.mtimeMs > ms;
  } catch {
    return false;
  }
}

function selfInfo(command: string): LockInfo {
  const procStart = processStart(process.pid);
  return {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    command,
    ...(procStart ? { procStart } : {}),
  };
}

let bootId: string | undefined | null = null;

/** `<boot id>:<starttime>` of a live process (Linux /proc, proc(5)); undefined when unknown. */
export function processStart(pid: number): string | undefined {
  try {
    if (bootId === null) bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may hold spaces: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = rest[19]; // field 22
    return ticks ? `${bootId ?? '?'}:${ticks}` : undefined;
  } catch {
    return undefined;
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

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
