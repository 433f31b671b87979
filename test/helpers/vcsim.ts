/**
 * Starts the vcsim harness (tools/vcsim, built by scripts/build-vcsim.sh) for a test file: a free
 * 127.0.0.1 port (port 0), TLS with vcsim's own certificate, its own TMPDIR for the datastore
 * files, readiness by polling the `-env` file. Stopped by pid (SIGTERM, then SIGKILL), always:
 * call stop() in afterAll; a process 'exit' hook catches the rest.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repo root: the nearest folder up with a package.json (works from test/ and from dist/test/). */
const ROOT = ((): string => {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
})();

export interface Vcsim {
  /** https://127.0.0.1:PORT/sdk, no credentials in it. */
  url: string;
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
}

/** The harness binary; built (about 30 s the first time) when missing or older than main.go. */
export function vcsimBinary(): string {
  try {
    return execFileSync(path.join(ROOT, 'scripts', 'build-vcsim.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()!;
  } catch (e) {
    throw new Error(`cannot build the vcsim harness (scripts/build-vcsim.sh): ${(e as { stderr?: string }).stderr ?? e}. Install golang-go and golang-github-vmware-govmomi-dev.`);
  }
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) if (p.pid) try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
});

export async function startVcsim(o: VcsimOptions = {}): Promise<Vcsim> {
  const bin = vcsimBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vcsim-'));
  const envFile = path.join(dir, 'vcsim.env');
  const args = ['-l', '127.0.0.1:0', '-tls', '-env', envFile, '-standalone-host', '0', '-cluster', '1', '-host', '1', '-vm', '3', ...(o.args ?? [])];
  if (o.username) args.push('-username', o.username, '-password', o.password ?? '');
  const child = spawn(bin, args, { env: { ...process.env, TMPDIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  let exited = false;
  child.on('exit', () => { exited = true; running.delete(child); });

  const stop = async (): Promise<void> => {
    if (exited || !child.pid) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(child.pid, 'SIGTERM');
    const t = setTimeout(() => { if (!exited) process.kill(child.pid!, 'SIGKILL'); }, 5000);
    await gone;
    clearTimeout(t);
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  while (!fs.existsSync(envFile) || !fs.readFileSync(envFile, 'utf8').includes('VCSIM_CA_FILE=')) {
    if (exited) throw new Error(`vcsim exited before it was ready: ${stderr}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`vcsim not ready after ${o.readyTimeoutMs ?? 60_000} ms: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const env = Object.fromEntries(fs.readFileSync(envFile, 'utf8').trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  const u = new URL(env.GOVC_URL!);
  u.username = '';
  u.password = '';
  return { url: u.toString(), caFile: env.VCSIM_CA_FILE!, pid: child.pid!, dir, stop };
}
