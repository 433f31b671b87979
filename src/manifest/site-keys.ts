/**
 * Where the site files (shipshape.yaml, sites/*.yaml) set a key, as file:line:col. The loaded site
 * config keeps values, not positions: the files are read again here, only when a message needs the
 * position (an error's hint, a plan's blocked sentence), never on a plan that blocks nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { yamlLib } from './yaml-lib';

export function siteFiles(root: string): string[] {
  try {
    return ['shipshape.yaml', ...readdirSync(join(root, 'sites')).map((f) => `sites/${f}`)];
  } catch {
    return ['shipshape.yaml']; // a repo with one site
  }
}

/**
 * Where the site files set `dotted` (under spec), as file:line:col; a key that is missing is shown at the
 * nearest section that is there (`add vms.templates.rocky9` → where vms.templates is).
 */
export function siteKeyAt(root: string, dotted: string): { key: string; at: string[] } | undefined {
  const { LineCounter, parseDocument } = yamlLib(); // only now: a message's position, not every start
  for (let path = dotted.split('.'); path.length > 0; path = path.slice(0, -1)) {
    const at: string[] = [];
    for (const f of siteFiles(root)) {
      let text: string;
      try {
        text = readFileSync(join(root, f), 'utf8');
      } catch {
        continue;
      }
      const lc = new LineCounter();
      const node = parseDocument(text, { lineCounter: lc }).getIn(['spec', ...path], true) as
        { range?: [number, number, number] } | undefined;
      if (node?.range) {
        const p = lc.linePos(node.range[0]);
        at.push(`${f}:${p.line}:${p.col}`);
      }
    }
    if (at.length) return { key: path.join('.'), at };
  }
  return undefined;
}

/** Where the site files set `dotted` exactly (`shipshape.yaml:12:16`), '' when they do not (or `root` is unknown). */
export function setAt(root: string | undefined, dotted: string): string {
  if (!root) return '';
  const found = siteKeyAt(root, dotted);
  return found?.key === dotted ? found.at.join(', ') : '';
}
