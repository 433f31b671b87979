/**
 * Starts the vcsim harness (tools/vcsim, built by scripts/build-vcsim.sh) for a test file: a free
 * 127.0.0.1 port (port 0), TLS with vcsim's own certificate, its own TMPDIR for the datastore
 * files, readiness by polling the `-env` file. Stopped by pid (SIGTERM, then SIGKILL), always:
 * call stop() in afterAll; a process 'exit' hook catches the rest.
 * Two modes: plain vcsim, and vCenter-like (tools/vcsim -vcenter: tasks that run, paging,
 * DuplicateName, vCenter's fault texts, idle-session expiry, API 8.0.2). The vSphere suite runs
 * in both (`describe.each(SIM_MODES)`); SHIPSHAPE_VSPHERE_SIM=vcsim|vcenter-like narrows it to one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readVcsimEnv, vcsimArgs, vcsimBinary, type SimulatorMode } from '../../src/lab/vcsim';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Vcsim {
  /** https://127.0.0.1:PORT/sdk, no credentials in it. */
  url: string;
  mode: SimulatorMode;
  /** PEM of vcsim's certificate (vcsim signs with Go's test CA cert itself). */
  caFile: string;
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

export interface VcsimOptions {
  /** Extra harness flags, e.g. ['-vm', '1000']. Default model: 1 cluster with 1 host and 3 VMs, no standalone host. */
  args?: string[];
  username?: string;
  password?: string;
  readyTimeoutMs?: number;
  /** Default: plain vcsim. */
  mode?: SimulatorMode;
  /** vCenter-like mode: ms each task stays queued/running (default 30: short, so the suite stays fast). */
  taskMs?: number;
}

const ALL_MODES: SimulatorMode[] = ['vcsim', 'vcenter-like'];
/** The modes the vSphere suite runs in. */
export const SIM_MODES: SimulatorMode[] = ALL_MODES.filter(
  (m) => !process.env.SHIPSHAPE_VSPHERE_SIM || process.env.SHIPSHAPE_VSPHERE_SIM === m,
);

/** Test hooks of the harness (tools/vcsim/vcenter.go `control`, vCenter-like mode; collector.go, both modes). */
export async function simControl<T = unknown>(
  sim: Vcsim,
  what: 'task-rule' | 'expire-sessions' | 'settings' | 'state' | 'collector-version-fault',
  body?: object,
): Promise<T> {
  const u = new URL(sim.url);
  u.pathname = `/shipshape-sim/${what}`;
  const https = await import('node:https');
  return new Promise<T>((resolve, reject) => {
    const req = https.request(
      u,
      {
        method: body || (what !== 'state' && what !== 'collector-version-fault') ? 'POST' : 'GET',
        ca: fs.readFileSync(sim.caFile),
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        let data = '';
        res.on('data', (d: Buffer) => {
          data += d.toString();
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(data || '{}') as T)
            : reject(new Error(`${what}: HTTP ${res.statusCode} ${data}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

export { vcsimBinary };

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running)
    if (p.pid)
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
});

export async function startVcsim(o: VcsimOptions = {}): Promise<Vcsim> {
  const bin = vcsimBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vcsim-'));
  const envFile = path.join(dir, 'vcsim.env');
  const mode = o.mode ?? 'vcsim';
  const args = [...vcsimArgs('127.0.0.1:0', envFile, 3, mode, o.taskMs ?? 30), ...(o.args ?? [])];
  if (o.username) args.push('-username', o.username, '-password', o.password ?? '');
  const child = spawn(bin, args, { env: { ...process.env, TMPDIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
    running.delete(child);
  });

  const stop = async (): Promise<void> => {
    if (exited || !child.pid) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(child.pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (!exited) process.kill(child.pid!, 'SIGKILL');
    }, 5000);
    await gone;
    clearTimeout(t);
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  while (!readVcsimEnv(envFile)) {
    if (exited) throw new Error(`vcsim exited before it was ready: ${stderr}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`vcsim not ready after ${o.readyTimeoutMs ?? 60_000} ms: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const env = readVcsimEnv(envFile)!;
  const u = new URL(env.GOVC_URL!);
  u.username = '';
  u.password = '';
  return { url: u.toString(), mode, caFile: env.VCSIM_CA_FILE!, pid: child.pid!, dir, stop };
}
