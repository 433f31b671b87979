/**
 * Where shipshape keeps what only makes it start faster (compiled code): `$SHIPSHAPE_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/shipshape`, else `~/.cache/shipshape`; `SHIPSHAPE_CACHE_DIR=` (empty) turns caching off.
 * Everything in it is safe to lose. What is read from it is code that runs, so it is used only when it
 * is a directory of the user running shipshape that nobody else may write (else: no cache, no error).
 * Imports only Node's own modules: it runs before anything else is loaded.
 */
import { lstatSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const checked = new Map<string, boolean>();

/** The cache folder `sub` below the cache dir, created 0700; undefined when caching is off or the folder is not safe. */
export function cacheDir(sub: string): string | undefined {
  const env = process.env.SHIPSHAPE_CACHE_DIR;
  if (env === '') return undefined;
  let base: string;
  try {
    base = env ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'shipshape');
  } catch {
    return undefined; // no home directory
  }
  const dir = join(base, sub);
  let ok = checked.get(dir);
  if (ok === undefined) {
    ok = ownedPrivateDir(base) && ownedPrivateDir(dir);
    checked.set(dir, ok);
  }
  return ok ? dir : undefined;
}

/** Creates `dir` (0700) when missing; true when it is a real directory of this user that group and others cannot write. */
function ownedPrivateDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
    return st.isDirectory() && mine && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** Writes a cache file whole or not at all (another shipshape may read it at the same moment); errors are ignored. */
export function writeCacheFile(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // A full disk or a read-only home: the next start compiles again.
  }
}
