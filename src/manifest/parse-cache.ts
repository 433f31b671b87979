/**
 * Parses of the manifests yaml-fast.ts cannot read (block scalars, anchors, escapes), kept between
 * processes in the cache dir (src/startup/cache-dir.ts), so a run over unchanged files neither loads
 * the `yaml` package nor parses them again. An entry is named by the SHA-256 of the text and of what
 * made the parse (this code's parsing functions, the yaml package's version, V8's): any change is
 * another entry. Only parses without a diagnostic are kept; an entry holds the plain value and the
 * position tree, written with V8's serializer so aliased nodes stay one object (as `yaml` gives them)
 * and `.inf`/`.nan` stay numbers. Safe to lose: a missing or unreadable entry is parsed again.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { sha256Hex } from '../plan/digest';
import { cacheDir, writeCacheFile } from '../startup/cache-dir';
import type { PosNode } from './yaml-tree';

export interface KeptParse {
  tree: PosNode | undefined;
  lineStarts: number[];
  value: unknown;
}

/** More entries than this (each edit of such a file adds one) and the folder is emptied before writing. */
const MAX_ENTRIES = 2000;

let madeBy: string | undefined;
/** What a parse depends on besides the text: `code` (the parsing functions' source), yaml's and V8's versions. */
function maker(code: () => string): string {
  if (madeBy === undefined) {
    let yamlVersion: string;
    try {
      yamlVersion = (JSON.parse(readFileSync(require.resolve('yaml/package.json'), 'utf8')) as { version: string })
        .version;
    } catch {
      // Without its version the entries of this process are its own: nothing another version parsed is used.
      yamlVersion = `unknown ${process.pid} ${Date.now()}`;
    }
    madeBy = `${code()}\0${yamlVersion}\0${process.versions.v8}`;
  }
  return madeBy;
}

const entry = (dir: string, text: string, code: () => string) => join(dir, sha256Hex(`${maker(code)}\0${text}`));

export function keptParse(text: string, code: () => string): KeptParse | undefined {
  const dir = cacheDir('yaml-parse');
  if (!dir) return undefined;
  try {
    const kept = deserialize(readFileSync(entry(dir, text, code))) as KeptParse;
    return kept && Array.isArray(kept.lineStarts) && 'value' in kept ? kept : undefined;
  } catch {
    return undefined;
  }
}

export function keepParse(text: string, code: () => string, parsed: KeptParse): void {
  const dir = cacheDir('yaml-parse');
  if (!dir) return;
  try {
    if (readdirSync(dir).length >= MAX_ENTRIES) for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
    writeCacheFile(entry(dir, text, code), serialize(parsed));
  } catch {
    // Not kept: the next run parses the file again.
  }
}
