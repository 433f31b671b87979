/**
 * Where the site file sets a key, as file:line:col. The loaded site config keeps values, not positions:
 * the file is read again here, only when a message needs the position (an error's hint, a plan's
 * blocked sentence), never on a plan that blocks nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Document, LineCounter } from 'yaml';
import type { SiteConfig } from './site';
import { yamlLib } from './yaml-lib';

/** A loaded site's place: the repo root and the file the site was loaded from (SiteConfig.file). */
export type SitePlace = Pick<SiteConfig, 'root' | 'file'>;

/** Every site file of a repo: shipshape.yaml and sites/*.yaml. */
export function siteFiles(root: string): string[] {
  try {
    return ['shipshape.yaml', ...readdirSync(join(root, 'sites')).map((f) => `sites/${f}`)];
  } catch {
    return ['shipshape.yaml']; // a repo with one site
  }
}

/**
 * The files a message about this site may name: its own file. In a repo of several sites every
 * sites/*.yaml sets the same keys, and naming them all would send the operator to another site's
 * file. A config built without its file (not by the loader) falls back to every site file.
 */
export function filesOf(site: SitePlace): string[] {
  return site.file ? [site.file] : siteFiles(site.root);
}

/**
 * The parsed site files, by absolute path, kept with the text they were parsed from: one plan may
 * ask for many blocked systems where the same key is set, and a long-running `serve` sees the file
 * change between runs (a changed text is parsed again).
 */
const parsed = new Map<string, { text: string; doc: Document; lc: LineCounter }>();

function parsedFile(root: string, f: string): { doc: Document; lc: LineCounter } | undefined {
  const file = join(root, f);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    parsed.delete(file);
    return undefined;
  }
  const hit = parsed.get(file);
  if (hit?.text === text) return hit;
  const { LineCounter, parseDocument } = yamlLib(); // only now: a message's position, not every start
  const lc = new LineCounter();
  const entry = { text, doc: parseDocument(text, { lineCounter: lc }), lc };
  parsed.set(file, entry);
  return entry;
}

/**
 * Where the site's file sets `dotted` (under spec), as file:line:col; a key that is missing is shown at the
 * nearest section that is there (`add vms.templates.rocky9` → where vms.templates is).
 */
export function siteKeyAt(site: SitePlace, dotted: string): { key: string; at: string[] } | undefined {
  const files = filesOf(site)
    .map((f) => ({ f, p: parsedFile(site.root, f) }))
    .filter((x) => x.p);
  for (let path = dotted.split('.'); path.length > 0; path = path.slice(0, -1)) {
    const at: string[] = [];
    for (const { f, p } of files) {
      const node = p!.doc.getIn(['spec', ...path], true) as { range?: [number, number, number] } | undefined;
      if (node?.range) {
        const pos = p!.lc.linePos(node.range[0]);
        at.push(`${f}:${pos.line}:${pos.col}`);
      }
    }
    if (at.length) return { key: path.join('.'), at };
  }
  return undefined;
}

/** Where the site's file sets `dotted` exactly (`shipshape.yaml:12:16`), '' when it does not (or the site is unknown). */
export function setAt(site: SitePlace | undefined, dotted: string): string {
  if (!site?.root) return '';
  const found = siteKeyAt(site, dotted);
  return found?.key === dotted ? found.at.join(', ') : '';
}
