/**
 * Processes for the lab and the tests: binaries, free ports, and daemons started DETACHED (they outlive
 * the command that started them) with their pid and start time recorded, so they are stopped by pid
 * later (SIGTERM, then SIGKILL) and a reused pid is never mistaken for ours.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { UserError } from '../engine/contract';

/** Something the lab cannot start, with what to do: printed as it is, without a stack. */
export class LabError extends UserError {}

export function requireBinary(path: string, pkg: string): string {
  if (!existsSync(path))
    throw new LabError(
      `${path} is missing: install the Debian package ${pkg} (scripts/apt-packages.txt, or run scripts/install-system-deps.sh as root)`,
    );
  return path;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** True when nothing listens on 127.0.0.1:port yet (TCP). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot); undefined when the pid is gone. */
export function startTime(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The process we started is still the one running under this pid (an exited, not yet reaped child is not). */
export function isAlive(pid: number, start: string): boolean {
  return startTime(pid) === start && !zombie(pid);
}

export interface DetachedProcess {
  pid: number;
  start: string;
}

export interface DetachOptions {
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  cwd?: string;
  /** File mode mask for the daemon (kea's control socket takes it; its directory guards access). */
  umask?: string;
}

/** `cmd args` in its own session, output appended to logFile, core dumps off; the caller does not wait for it. */
export function startDetached(cmd: string, args: string[], logFile: string, o: DetachOptions = {}): DetachedProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(
      '/bin/sh',
      ['-c', `ulimit -c 0; ${o.umask ? `umask ${o.umask}; ` : ''}exec "$0" "$@"`, cmd, ...args],
      {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ...o.env },
        ...(o.uid !== undefined ? { uid: o.uid } : {}),
        ...(o.gid !== undefined ? { gid: o.gid } : {}),
        ...(o.cwd ? { cwd: o.cwd } : {}),
      },
    );
    child.unref();
    const pid = child.pid;
    const start = pid ? startTime(pid) : undefined;
    if (!pid || !start) throw new LabError(`${cmd} could not be started (see ${logFile})`);
    return { pid, start };
  } finally {
    closeSync(fd);
  }
}

/** Stops a recorded process: SIGTERM, SIGKILL after graceMs; never signals a pid that now belongs to another process. */
export async function stopProcess(p: DetachedProcess, graceMs = 5000): Promise<'stopped' | 'killed' | 'gone'> {
  if (!isAlive(p.pid, p.start)) return 'gone';
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(p.pid, p.start)) return 'stopped';
    await sleep(50);
  }
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    /* gone meanwhile */
  }
  return 'killed';
}

/** A child of this very process that exited but was not reaped yet (tests start and stop in one process). */
function zombie(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .startsWith('Z');
  } catch {
    return true;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls ready() until it resolves true; fails with the log's tail when the process dies or time runs out. */
export async function waitReady(
  name: string,
  p: DetachedProcess,
  logFile: string,
  ready: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(p.pid, p.start))
      throw new LabError(`${name} exited during start; its log (${logFile}):\n${tail(logFile)}`);
    if (await ready().catch(() => false)) return;
    await sleep(50);
  }
  throw new LabError(`${name} not ready after ${timeoutMs / 1000} s; its log (${logFile}):\n${tail(logFile)}`);
}

export function tail(file: string, lines = 20): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
}
