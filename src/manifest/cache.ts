/**
 * Manifests kept between loads (`serve`): a file whose size, inode, modification and change times are
 * the same as at the last load is not read or parsed again; its parse, schema check and their
 * diagnostics are reused. Everything after (profiles, expansion, cross-file rules) runs on every load,
 * so the result is the one a full load gives. A symlink is always read (its target may change alone).
 */
import { lstatSync } from 'fs';
import type { Diagnostic } from './diagnostics';
import type { ManifestKind } from './schemas';
import type { ParsedFile } from './yaml-file';

export interface CachedParse {
  pf: ParsedFile;
  valid: boolean;
}

interface Entry {
  stamp: string;
  kind: ManifestKind;
  parsed: CachedParse | undefined;
  diagnostics: Diagnostic[];
}

export class ManifestCache {
  private readonly entries = new Map<string, Entry>();
  private seen = new Set<string>();
  /** Files the last load read and parsed (repo-relative), in the order it read them; the rest came from here. */
  lastRead: string[] = [];

  /** What identifies this version of the file without reading it; undefined: do not cache it. */
  stamp(abs: string): string | undefined {
    try {
      const st = lstatSync(abs, { bigint: true });
      if (!st.isFile()) return undefined;
      return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      return undefined;
    }
  }

  get(abs: string, kind: ManifestKind, stamp: string | undefined): Entry | undefined {
    const e = this.entries.get(abs);
    if (!e || stamp === undefined || e.stamp !== stamp || e.kind !== kind) return undefined;
    this.seen.add(abs);
    return e;
  }

  set(abs: string, rel: string, entry: Entry): void {
    this.entries.set(abs, entry);
    this.seen.add(abs);
    this.lastRead.push(rel);
  }

  /** A load starts: what it does not look at again is dropped when it ends (a removed file). */
  begin(): void {
    this.seen = new Set();
    this.lastRead = [];
  }

  end(): void {
    for (const k of [...this.entries.keys()]) if (!this.seen.has(k)) this.entries.delete(k);
  }
}
