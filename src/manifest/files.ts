/**
 * Reading manifest files defensively: a repo is operator input, so nothing in it may hang, exhaust memory or
 * read outside the repo. Every refusal becomes a diagnostic, never an exception.
 */
import * as fsSync from 'fs';
import { promises as fs } from 'fs';
import * as path from 'path';
import { Diagnostics, fileStart } from './diagnostics';

/** No manifest is legitimately bigger; a bigger file is a mistake (or an attack) and is not parsed. */
export const MAX_FILE_BYTES = 1024 * 1024;

export function isYamlName(name: string): boolean {
  return name.endsWith('.yaml') || name.endsWith('.yml');
}

/** Relative path with forward slashes, as diagnostics show it. */
export function relPath(root: string, abs: string): string {
  return path.relative(root, abs).split(path.sep).join('/');
}

function isInside(realRoot: string, realTarget: string): boolean {
  return realTarget === realRoot || realTarget.startsWith(realRoot + path.sep);
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? 'unknown error';
}

/**
 * Resolves symlinks and checks the target stays inside the repo. Returns the real path, or undefined
 * (with a diagnostic) when the link escapes, dangles or cannot be followed.
 */
export async function realInside(
  realRoot: string,
  abs: string,
  rel: string,
  diags: Diagnostics,
): Promise<string | undefined> {
  let real: string;
  try {
    real = await fs.realpath(abs);
  } catch (e) {
    diags.error(
      fileStart(rel),
      `cannot read ${rel}: ${errCode(e) === 'ENOENT' ? 'it is a broken symlink' : errCode(e)}`,
    );
    return undefined;
  }
  if (!isInside(realRoot, real)) {
    diags.error(
      fileStart(rel),
      `${rel} is a symlink to ${real}, outside the repo: refusing to read it (copy the file into the repo instead)`,
    );
    return undefined;
  }
  return real;
}

/** Byte offset → 1-based line and column (counted in bytes on that line; good enough for a binary file). */
function offsetPos(buf: Buffer, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (buf[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart + 1 };
}

/**
 * Reads one manifest as UTF-8 text with the guard rails: regular file only (a FIFO would hang), inside the
 * repo, at most MAX_FILE_BYTES, no NUL bytes, valid UTF-8. Returns undefined after reporting a problem.
 *
 * A file that is not a symlink is read with four synchronous calls (open without following a link and
 * without blocking on a FIFO, fstat, read, close): its folder was checked to be inside the repo when it
 * was listed, and at 10,000 small files the thread-pool round trips of the async calls (realpath, stat,
 * open, read, close) cost twenty times the reading itself. A symlink takes the checked path below.
 */
export async function readManifestText(
  realRoot: string,
  abs: string,
  rel: string,
  diags: Diagnostics,
): Promise<string | undefined> {
  let fd: number | undefined;
  try {
    fd = fsSync.openSync(abs, FAST_OPEN);
  } catch (e) {
    if (errCode(e) !== 'ELOOP') {
      diags.error(fileStart(rel), `cannot read ${rel}: ${errCode(e)}`);
      return undefined;
    }
  }
  if (fd !== undefined) {
    try {
      return readOpen(fd, rel, diags);
    } catch (e) {
      diags.error(fileStart(rel), `cannot read ${rel}: ${errCode(e)}`);
      return undefined;
    } finally {
      fsSync.closeSync(fd);
    }
  }
  const real = await realInside(realRoot, abs, rel, diags);
  if (real === undefined) return undefined;
  try {
    fd = fsSync.openSync(real, fsSync.constants.O_RDONLY | fsSync.constants.O_NONBLOCK);
  } catch (e) {
    diags.error(fileStart(rel), `cannot read ${rel}: ${errCode(e)}`);
    return undefined;
  }
  try {
    return readOpen(fd, rel, diags);
  } catch (e) {
    diags.error(fileStart(rel), `cannot read ${rel}: ${errCode(e)}`);
    return undefined;
  } finally {
    fsSync.closeSync(fd);
  }
}

const FAST_OPEN = fsSync.constants.O_RDONLY | fsSync.constants.O_NOFOLLOW | fsSync.constants.O_NONBLOCK;

function readOpen(fd: number, rel: string, diags: Diagnostics): string | undefined {
  const st = fsSync.fstatSync(fd);
  if (!st.isFile()) {
    diags.error(fileStart(rel), `${rel} is not a regular file: a manifest must be a plain YAML file`);
    return undefined;
  }
  if (st.size > MAX_FILE_BYTES) {
    diags.error(
      fileStart(rel),
      `${rel} is ${(st.size / 1048576).toFixed(1)} MiB, larger than the 1 MiB limit for a manifest file`,
    );
    return undefined;
  }
  // Read one byte more than stat reported: if it arrives, the file changed under us (never read past the cap).
  const buf = Buffer.allocUnsafe(st.size + 1);
  const bytesRead = fsSync.readSync(fd, buf, 0, buf.length, 0);
  if (bytesRead > st.size) {
    diags.error(fileStart(rel), `${rel} changed while it was read: run validate again once it is saved`);
    return undefined;
  }
  const bytes = buf.subarray(0, bytesRead);
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const p = offsetPos(bytes, nul);
    diags.error({ file: rel, ...p }, `${rel} is a binary file (NUL byte), not YAML text`);
    return undefined;
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    // Locate the first bad byte: the lenient decoder marks it with U+FFFD.
    const lenient = new TextDecoder('utf-8').decode(bytes);
    const before = lenient.slice(0, Math.max(0, lenient.indexOf('\ufffd')));
    const line = before.split('\n').length;
    const col = before.length - before.lastIndexOf('\n');
    diags.error({ file: rel, line, col }, `${rel} is not valid UTF-8 text: save it as UTF-8`);
    return undefined;
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export interface WalkOptions {
  /** Which files to load, by base name. */
  accept: (name: string) => boolean;
  /** Warn about other files (a `web-01.yaml.bak` is not loaded, say so). */
  warnOthers: boolean;
}

/**
 * Lists the accepted files below `dirRel` (relative paths, sorted). Follows symlinks that stay inside
 * the repo, never the same real directory twice (no loops). Hidden entries (`.git`, editor swap files) are skipped.
 */
export async function walk(
  realRoot: string,
  root: string,
  dirRel: string,
  opts: WalkOptions,
  diags: Diagnostics,
): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  async function visit(absDir: string): Promise<void> {
    const relDir = relPath(root, absDir);
    const real = await realInside(realRoot, absDir, relDir, diags);
    if (real === undefined || seen.has(real)) return;
    seen.add(real);
    let entries;
    try {
      entries = await fs.readdir(absDir, { withFileTypes: true });
    } catch (e) {
      diags.error(fileStart(relDir), `cannot list ${relDir}/: ${errCode(e)}`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // An entry's relative path is its folder's plus its name: path.relative per file was most of a 10,000-file walk.
    const prefix = relDir === '' ? '' : `${relDir}/`;
    for (const ent of entries) {
      if (ent.name.startsWith('.')) continue;
      let isDir = ent.isDirectory();
      if (ent.isSymbolicLink()) {
        const target = await fs.stat(path.join(absDir, ent.name)).catch(() => undefined);
        isDir = target?.isDirectory() ?? false;
      }
      const rel = prefix + ent.name;
      if (isDir) await visit(path.join(absDir, ent.name));
      else if (opts.accept(ent.name)) out.push(rel);
      else if (opts.warnOthers && !/^readme/i.test(ent.name)) {
        diags.warning(fileStart(rel), `${rel} is ignored: only .yaml and .yml files are loaded here`);
      }
    }
  }
  await visit(path.join(root, dirRel));
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
      // fn may finish synchronously (reads of small files do): let timers and sockets run now and then.
      if (i % 256 === 255) await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
