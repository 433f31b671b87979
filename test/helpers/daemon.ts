/**
 * Start real daemons for tests: free 127.0.0.1 port, own temp dir, readiness raced against the child's
 * exit (a daemon that dies at start fails with its log), stop by pid (SIGTERM, SIGKILL after 5 s).
 * Every started pid is also killed when the test process exits, and written with its start time to
 * $SHIPSHAPE_TEST_PIDS (when set) so .ci/run can stop leftovers if the test process itself died.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running)
    if (c.pid)
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

export { requireBinary, freePort, run } from '../../src/lab/process';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `shipshape-${prefix}-`));
}

export interface Daemon {
  pid: number;
  log: () => string;
  stop: () => Promise<void>;
}

/** Spawns `cmd args` (core dumps off), polls `ready()` until it resolves true, or fails with the log. */
export async function startDaemon(
  name: string,
  cmd: string,
  args: string[],
  logFile: string,
  ready: () => Promise<boolean>,
  env: NodeJS.ProcessEnv = {},
): Promise<Daemon> {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('/bin/sh', ['-c', `ulimit -c 0; exec ${quoted} >>'${logFile}' 2>&1`], {
    stdio: 'ignore',
    env: { ...process.env, ...env },
  });
  running.add(child);
  // pid and start time (field 22 of /proc/PID/stat), so .ci/run never kills a reused pid
  if (process.env.SHIPSHAPE_TEST_PIDS && child.pid) {
    const start = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ')[19];
    appendFileSync(process.env.SHIPSHAPE_TEST_PIDS, `${child.pid} ${start}\n`);
  }
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  let exited: number | null | undefined;
  const exitP = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      running.delete(child);
      resolve();
    }),
  );
  const stop = async () => {
    if (exited !== undefined) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exitP;
    clearTimeout(t);
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${name} exited with ${exited} during start:\n${log()}`);
    if (await ready().catch(() => false)) return { pid: child.pid!, log, stop };
    await new Promise((r) => setTimeout(r, 30));
  }
  await stop();
  throw new Error(`${name} not ready after 15 s:\n${log()}`);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
