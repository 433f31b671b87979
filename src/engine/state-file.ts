/**
 * Every file shipshape keeps between runs (install records, role records, create journals,
 * applied commits, drift history) is read and written here, so none of them can wedge a run.
 *
 * Writes are crash-safe: a temp file beside the target, fsynced, renamed over the target, then
 * the directory fsynced so the rename itself survives a power cut (rename(2) is atomic within a
 * file system; the directory fsync is what makes it durable, see fsync(2)).
 *
 * Reads validate: a file that does not parse or does not have the expected shape is never
 * returned half-understood and never stops the run with a bare SyntaxError. It is moved aside to
 * `<file>.corrupt-<time>` (kept for inspection, out of the way of the next run) and reported
 * with its path, so the caller can rebuild it from the backends or say what to do.
 */
import {
  close,
  closeSync,
  fsync,
  fsyncSync,
  mkdir,
  mkdirSync,
  open,
  openSync,
  readFileSync,
  rename,
  renameSync,
  rm,
  rmSync,
  writeFile,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

export type StateRead<T> =
  | { status: 'missing' }
  | { status: 'ok'; value: T }
  /** Unreadable or malformed: moved to `movedTo`; `reason` says what was wrong. */
  | { status: 'corrupt'; movedTo: string; reason: string };

/**
 * Reads a JSON state file. `check` returns what is wrong with the parsed value (or undefined when
 * it has the expected shape).
 */
export function readStateFile<T>(file: string, check: (v: unknown) => string | undefined): StateRead<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    throw e;
  }
  let reason: string | undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
    reason = check(value);
  } catch (e) {
    reason = `not valid JSON (${(e as Error).message})`;
  }
  if (reason === undefined) return { status: 'ok', value: value as T };
  const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(file, movedTo);
  return { status: 'corrupt', movedTo, reason };
}

/** The sentence a caller prints for a corrupt file it could not rebuild. */
export function corruptMessage(file: string, r: { movedTo: string; reason: string }): string {
  return `state file ${file} was corrupt (${r.reason}); moved it to ${r.movedTo}`;
}

/** Writes `text` to `file` so that a crash leaves either the old or the new content, never a mix. */
export function writeFileAtomic(file: string, text: string, mode = 0o644): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dir);
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Removes a state file durably (the directory entry's removal is fsynced too). */
export function removeStateFile(file: string): void {
  rmSync(file, { force: true });
  syncDir(dirname(file));
}

/**
 * writeFileAtomic without holding up the event loop: each step (write, fsync, rename, directory fsync)
 * runs on libuv's thread pool. Apply records a create journal entry and install records for many
 * systems at once, and a synchronous fsync stops every other system's work for the disk's latency.
 * Plain callbacks rather than FileHandle promises, and each directory made once per process (again
 * when it went missing): apply writes some 16 of these per system it creates, and the promise
 * machinery cost as much of apply's own CPU as the system calls.
 */
export async function writeFileAtomicAsync(file: string, text: string, mode = 0o644): Promise<void> {
  const dir = dirname(file);
  if (!madeDirs.has(dir)) await makeDir(dir);
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  let fd: number;
  try {
    fd = await call<number>((cb) => open(tmp, 'w', mode, cb));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await makeDir(dir);
    fd = await call<number>((cb) => open(tmp, 'w', mode, cb));
  }
  try {
    await call((cb) => writeFile(fd, text, cb));
    await call((cb) => fsync(fd, cb));
  } finally {
    await call((cb) => close(fd, cb));
  }
  try {
    await call((cb) => rename(tmp, file, cb));
  } catch (e) {
    await call((cb) => rm(tmp, { force: true }, cb));
    throw e;
  }
  await syncDirShared(dir);
}

/** removeStateFile on the thread pool. */
export async function removeStateFileAsync(file: string): Promise<void> {
  await call((cb) => rm(file, { force: true }, cb));
  await syncDirShared(dirname(file));
}

/** Directories writeFileAtomicAsync made or found (it makes one again when an open says it is gone). */
const madeDirs = new Set<string>();

async function makeDir(dir: string): Promise<void> {
  await call<string | undefined>((cb) => mkdir(dir, { recursive: true }, cb));
  madeDirs.add(dir);
}

/** One callback-style fs call as a promise. */
function call<T = void>(f: (cb: (e: NodeJS.ErrnoException | null, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v as T))));
}

/** Per directory while its fsync runs: the callers whose renames or removals wait for the next one. */
const dirSyncs = new Map<string, { waiting: (() => void)[] }>();

/**
 * The directory fsync of a write or removal whose rename or unlink is done, shared with the other
 * writers in that directory (group commit). A caller waits for an fsync that *starts* after its own
 * call: when none runs, one starts now; when one runs (it may have begun before this rename), the
 * caller waits for the next, which starts as soon as the running one ends and serves everyone who
 * queued meanwhile. Each write is as durable as with an fsync of its own when its promise resolves;
 * apply's many systems writing journal entries and install records into the same few directories
 * at once share one open, fsync and close instead of one each.
 */
function syncDirShared(dir: string): Promise<void> {
  return new Promise((resolve) => {
    const running = dirSyncs.get(dir);
    if (running) return void running.waiting.push(resolve);
    const state = { waiting: [] as (() => void)[] };
    dirSyncs.set(dir, state);
    const round = (served: (() => void)[]) =>
      void syncDirAsync(dir)
        .catch(() => undefined)
        .then(() => {
          const next = state.waiting;
          state.waiting = [];
          if (next.length) round(next);
          else dirSyncs.delete(dir);
          for (const done of served) done();
        });
    round([resolve]);
  });
}

/** Never rejects: a directory that cannot be opened or fsynced still got an atomic rename. */
async function syncDirAsync(dir: string): Promise<void> {
  let fd: number;
  try {
    fd = await call<number>((cb) => open(dir, 'r', cb));
  } catch {
    return; /* gone, or not ours to open: the rename is still atomic */
  }
  try {
    await call((cb) => fsync(fd, cb));
  } catch {
    /* some file systems refuse fsync on a directory; the rename is still atomic */
  } finally {
    await call((cb) => close(fd, cb)).catch(() => undefined);
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* some file systems refuse fsync on a directory; the rename is still atomic */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Shape checks for `readStateFile`: small and explicit, the message names the bad field. */
export const shape = {
  object(v: unknown): v is Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  },
  /** An object whose listed fields are strings; the problem, or undefined. */
  strings(v: unknown, fields: string[]): string | undefined {
    if (!shape.object(v)) return 'not a JSON object';
    const bad = fields.filter((f) => typeof v[f] !== 'string');
    return bad.length ? `field${bad.length > 1 ? 's' : ''} ${bad.join(', ')} missing or not text` : undefined;
  },
};
