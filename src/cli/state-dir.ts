/**
 * The state dir holds install records (while an install runs: the answer file with the root
 * password hash), the cached clone of the manifests repo, journals and the run lock. Only its owner
 * may read or write it: it is created 0700, a group- or world-writable one is refused (anyone who
 * can write there can plant an install record or a lock), one owned by another user is refused,
 * and anything below that group or others could read is tightened to owner-only on every start
 * (files keep their owner bits: 0600, or 0700 for executables).
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../engine/contract';

const checked = new Set<string>();

export function secureStateDir(dir: string): string {
  if (checked.has(dir)) return dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory())
    throw new UserError(
      `state dir ${dir} is not a directory (a symlink or file); point --state-dir at a directory only you can write`,
    );
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new UserError(
      `state dir ${dir} belongs to user ${st.uid}, not to the user running shipshape (${process.getuid()}); use a state dir of your own (--state-dir)`,
    );
  }
  if (st.mode & 0o022) {
    throw new UserError(
      `state dir ${dir} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)}): others could plant install records or locks. Run \`chmod 700 ${dir}\` and start again`,
    );
  }
  tighten(dir, st.mode);
  checked.add(dir);
  return dir;
}

function tighten(path: string, mode: number): void {
  if (mode & 0o077) chmodSync(path, mode & 0o700);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isSymbolicLink()) continue;
    const p = join(path, e.name);
    const m = lstatSync(p).mode;
    if (e.isDirectory()) tighten(p, m);
    else if (m & 0o077) chmodSync(p, m & 0o700);
  }
}
