/**
 * The lab systems' commands (`ip`, and the shell that becomes a system's sshd), started by a small
 * helper process instead of by apply itself. On a real site the installer runs in the VM and brings
 * its system up there: it costs shipshape's process nothing. The stand-in runs in apply, and every
 * process apply starts forks all of apply's memory first, on apply's one thread: two per system,
 * while that thread also drives the other systems' steps. The helper is a bare node process (no
 * module of ours loaded), so its forks are small and happen beside apply, not on its thread.
 *
 * One helper per process, started at the first command, lines of JSON both ways on its stdin and
 * stdout. It ends when its stdin closes (this process exited); it never keeps this process alive
 * while no command is waiting. A helper that dies fails the commands it had and the next command
 * starts a new one.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

const HELPER = `
const { execFile, spawn } = require('node:child_process');
const fs = require('node:fs');
const reply = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.op === 'run') {
    const c = execFile(m.cmd, m.args, { encoding: 'utf8' }, (e, stdout, stderr) =>
      reply({ id: m.id, ok: !e, stdout, stderr, message: e ? e.message : undefined }));
    c.stdin.on('error', () => undefined);
    c.stdin.end(m.input || '');
    return;
  }
  let fd;
  try {
    fd = fs.openSync(m.log, 'a');
    const c = spawn(m.cmd, m.args, { detached: true, stdio: ['ignore', fd, fd] });
    c.on('error', () => undefined);
    c.unref();
    reply({ id: m.id, ok: !!c.pid, pid: c.pid, message: c.pid ? undefined : m.cmd + ' could not be started' });
  } catch (e) {
    reply({ id: m.id, ok: false, message: e.message });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}).on('close', () => process.exit(0));
`;

interface Reply {
  id: number;
  ok: boolean;
  stdout?: string;
  stderr?: string;
  pid?: number;
  message?: string;
}

type Helper = ChildProcessByStdio<Writable, Readable, null>;

let helper: Helper | undefined;
let nextId = 0;
const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

/** The helper's pipes keep this process alive only while a command waits for its answer. */
function hold(h: Helper, on: boolean): void {
  for (const s of [h.stdin, h.stdout] as unknown as { ref(): void; unref(): void }[]) {
    if (on) s.ref();
    else s.unref();
  }
  if (on) h.ref();
  else h.unref();
}

function started(): Helper {
  if (helper) return helper;
  const h = spawn(process.execPath, ['-e', HELPER], { stdio: ['pipe', 'pipe', 'inherit'] });
  helper = h;
  let partial = '';
  h.stdout.setEncoding('utf8');
  h.stdout.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const r = JSON.parse(line) as Reply;
      waiting.get(r.id)?.resolve(r);
      waiting.delete(r.id);
    }
    if (!waiting.size) hold(h, false);
  });
  const gone = (why: string) => {
    if (helper === h) helper = undefined;
    for (const w of waiting.values()) w.reject(new Error(`lab: the helper that starts lab commands ${why}`));
    waiting.clear();
  };
  h.on('error', (e) => gone(`failed: ${e.message}`));
  h.on('exit', (code, signal) => gone(`exited (${signal ?? `status ${code}`})`));
  h.stdin.on('error', () => undefined); // the exit handler reports it
  return h;
}

function ask(m: Record<string, unknown>): Promise<Reply> {
  const h = started();
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    hold(h, true);
    h.stdin.write(JSON.stringify({ ...m, id }) + '\n');
  });
}

/** `cmd args` with `input` on its stdin; resolves with its stdout, rejects with its error and stderr. */
export async function runInHelper(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await ask({ op: 'run', cmd, args, input: input ?? '' });
  if (!r.ok) throw new Error(`${r.message ?? `${cmd} failed`}${r.stderr ? `\n${r.stderr}` : ''}`);
  return r.stdout ?? '';
}

/** `cmd args` in a session of its own, output appended to `log`; resolves with its pid once it runs. */
export async function detachInHelper(cmd: string, args: string[], log: string): Promise<number> {
  const r = await ask({ op: 'detach', cmd, args, log });
  if (!r.ok || !r.pid) throw new Error(r.message ?? `${cmd} could not be started`);
  return r.pid;
}
