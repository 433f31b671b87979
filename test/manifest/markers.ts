/**
 * Reads `# expect: …` / `# warn: …` markers from the broken-repo fixture: the expected diagnostics are
 * derived from the files themselves, so adding a planted error without a marker (or a marker without
 * the error) fails the test.
 */
import { promises as fs } from 'fs';
import * as path from 'path';

export interface Expected {
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
  substring: string;
}

const MARKER = /# (expect|warn)(?: `([^`]+)`)?: (.*?)\s*(?=# (?:expect|warn)\b|$)/g;

export async function listFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const ent of await fs.readdir(dir, { withFileTypes: true })) {
    const abs = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...(await listFiles(abs, root)));
    else out.push(path.relative(root, abs).split(path.sep).join('/'));
  }
  return out.sort();
}

export async function readMarkers(root: string): Promise<Expected[]> {
  const out: Expected[] = [];
  for (const file of await listFiles(root)) {
    if (file === 'README.md') continue;
    const lines = (await fs.readFile(path.join(root, file), 'utf8')).split('\n');
    lines.forEach((text, i) => {
      const hash = text.search(/# (expect|warn)\b/);
      if (hash < 0) return;
      for (const m of text.slice(hash).matchAll(MARKER)) {
        const [, kind, token, substring] = m;
        const col = token !== undefined ? text.indexOf(token) + 1 : text.search(/\S/) + 1;
        if (col === 0) throw new Error(`${file}:${i + 1}: marker token \`${token}\` does not occur on its line`);
        out.push({ file, line: i + 1, col, severity: kind === 'warn' ? 'warning' : 'error', substring });
      }
    });
  }
  return out;
}
