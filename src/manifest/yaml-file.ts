/**
 * YAML parsing with source positions. One manifest per file; every node keeps its range so any later
 * problem (schema, cross-file rule) can point at `file:line:col` of the exact node.
 */
import type { Document, Node } from 'yaml';
import { Diagnostics, fileStart } from './diagnostics';
import type { SourceRef } from './types';
import { keepParse, keptParse } from './parse-cache';
import { parseFast } from './yaml-fast';
import { yamlLib } from './yaml-lib';
import { hasPathIn, locateOffset, treeOfDocument } from './yaml-tree';
import type { PathSeg, PosNode } from './yaml-tree';

/** Aliases are allowed for convenience, but a few expansions only: stops "billion laughs" bombs. */
export const MAX_ALIAS_COUNT = 20;

export type { PathSeg };

export interface ParsedFile {
  /** Path relative to the repo root. */
  rel: string;
  /** Where each node starts (yaml-tree.ts). */
  tree: PosNode | undefined;
  /** Offsets where lines start, ascending (yaml's LineCounter.lineStarts): offsets become line and column only when asked. */
  lineStarts: number[];
  /** The plain JS value of the document. */
  value: unknown;
}

/** `offset` as 1-based line and column, as yaml's LineCounter.linePos gives it (a binary search over the line starts). */
function at(rel: string, lineStarts: number[], offset: number): SourceRef {
  let low = 0;
  let high = lineStarts.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (lineStarts[mid]! < offset) low = mid + 1;
    else high = mid;
  }
  if (lineStarts[low] === offset) return { file: rel, line: low + 1, col: 1 };
  if (low === 0) return { file: rel, line: 0, col: offset };
  return { file: rel, line: low, col: offset - lineStarts[low - 1]! + 1 };
}

/** Core-schema tags are harmless (`!!str 12`); anything else (`!!binary`, `!foo`) is not JSON data. */
const ALLOWED_TAGS = /^tag:yaml\.org,2002:(str|int|float|bool|null|map|seq)$/;

/** Rejects what JSON cannot express or what hides meaning: collection keys and non-core tags. */
function checkNodes(
  rel: string,
  text: string,
  doc: Document.Parsed,
  lineStarts: number[],
  diags: Diagnostics,
): boolean {
  let ok = true;
  const { visit, isScalar, isAlias } = yamlLib();
  visit(doc, {
    Pair(_k, pair) {
      if (pair.key !== null && !isScalar(pair.key)) {
        diags.error(
          at(rel, lineStarts, (pair.key as Node).range?.[0] ?? 0),
          'a map key must be a plain name, not a list or map',
        );
        ok = false;
      }
    },
    Node(_k, node) {
      if (!isAlias(node) && node.tag && !ALLOWED_TAGS.test(node.tag)) {
        // The node's range starts after its tag: point at the `!` that precedes it.
        const start = node.range?.[0] ?? 0;
        let bang = text.lastIndexOf('!', start);
        while (bang > 0 && text[bang - 1] === '!') bang--;
        diags.error(
          at(rel, lineStarts, bang >= 0 ? bang : start),
          `YAML tag \`${node.tag}\` is not allowed in manifests: write a plain value`,
        );
        ok = false;
      }
    },
  });
  return ok;
}

/** Offset of the first non-blank character on a line after `from`, or undefined at the end of the text. */
function nextLineText(text: string, from: number): number | undefined {
  const m = /\n[ \t]*(?=[^\s])/g;
  m.lastIndex = from;
  const hit = m.exec(text);
  return hit ? hit.index + hit[0].length : undefined;
}

/**
 * Parses one manifest text. Returns undefined (after reporting) for syntax errors, duplicate keys, several
 * documents, an empty file, tags, collection keys and alias bombs.
 */
export function parseManifest(rel: string, text: string, diags: Diagnostics): ParsedFile | undefined {
  // Most manifests are plain YAML that yaml-fast.ts reads for a fraction of the package's cost; the rest
  // (and every text with a problem) goes through the package, which also explains the problem.
  const fast = parseFast(text);
  if (fast) return { rel, tree: fast.tree, lineStarts: fast.lineStarts, value: fast.value };
  const kept = keptParse(text, slowCode);
  if (kept) return { rel, ...kept };
  const before = diags.list.length;
  const slow = parseSlow(rel, text, diags);
  // Kept only when the text is fine as it is: a file with a warning says it again on every run.
  if (slow && diags.list.length === before)
    keepParse(text, slowCode, { tree: slow.tree, lineStarts: slow.lineStarts, value: slow.value });
  return slow;
}

/** The source of the functions a slow parse runs: a change to any of them makes the kept parses another's. */
const slowCode = () =>
  [parseSlow, checkNodes, treeOfDocument, MAX_ALIAS_COUNT, ALLOWED_TAGS.source].map(String).join('\0');

/** The text through the `yaml` package, which also explains what is wrong with it. */
function parseSlow(rel: string, text: string, diags: Diagnostics): ParsedFile | undefined {
  const { LineCounter, parseDocument, parseAllDocuments } = yamlLib();
  let lc = new LineCounter();
  let docs: Document.Parsed[];
  try {
    // One document is the rule: parseDocument is a sixth cheaper than parseAllDocuments (measured on 10,000
    // small manifests). It flags a second document with MULTIPLE_DOCS; only then is the text read as several.
    const opts = { lineCounter: lc, uniqueKeys: true, prettyErrors: false } as const;
    const one = parseDocument(text, opts) as Document.Parsed;
    docs = one.errors.some((e) => e.code === 'MULTIPLE_DOCS')
      ? (parseAllDocuments(text, { ...opts, lineCounter: (lc = new LineCounter()) }) as Document.Parsed[])
      : [one];
  } catch (e) {
    diags.error(fileStart(rel), `YAML could not be parsed: ${(e as Error).message}`);
    return undefined;
  }
  if (!Array.isArray(docs) || docs.length === 0 || docs[0].contents === null) {
    diags.error(fileStart(rel), `${rel} is empty: expected one manifest (apiVersion, kind, metadata, spec)`);
    return undefined;
  }
  let ok = true;
  // A key over-indented below a `key: value` line reads as one multi-line key: the parser reports it (and a
  // compact-mapping error) at the value above; the line to fix is the next one that holds text.
  const multiline = new Set(docs[0].errors.filter((e) => e.code === 'MULTILINE_IMPLICIT_KEY').map((e) => e.pos[0]));
  for (const e of docs[0].errors) {
    const pos = at(rel, lc.lineStarts, e.pos[0]);
    if (multiline.has(e.pos[0])) {
      if (e.code !== 'MULTILINE_IMPLICIT_KEY') continue; // one message per mis-indented line
      const above = at(rel, lc.lineStarts, e.pos[0]).line;
      diags.error(
        at(rel, lc.lineStarts, nextLineText(text, e.pos[0]) ?? e.pos[0]),
        `YAML indentation: this line is indented differently from the key on line ${above}, so YAML reads both lines as one key; indent it exactly like the keys beside it`,
      );
    } else if (e.code === 'DUPLICATE_KEY') {
      const key = keyAt(docs[0], e.pos[0]);
      diags.error(
        pos,
        key === undefined
          ? 'duplicate key: a key may appear only once in a map'
          : `duplicate key \`${key}\`: a key may appear only once in a map`,
      );
    } else if (/call stack/i.test(e.message)) {
      diags.error(pos, 'YAML is nested too deeply here for the parser: a manifest needs only a few levels');
      ok = false;
      break; // the parser repeats it for every enclosing level
    } else {
      diags.error(pos, `YAML syntax error: ${e.message}`);
    }
    ok = false;
  }
  for (const w of docs[0].warnings) {
    // An unknown tag is reported as an error by checkNodes below.
    if (w.code !== 'TAG_RESOLVE_FAILED') diags.warning(at(rel, lc.lineStarts, w.pos[0]), `YAML: ${w.message}`);
  }
  if (docs.length > 1) {
    diags.error(
      at(rel, lc.lineStarts, docs[1].range[0]),
      `${rel} holds ${docs.length} YAML documents: put exactly one manifest in each file`,
    );
    ok = false;
  }
  if (!ok) return undefined;
  const doc = docs[0];
  if (!checkNodes(rel, text, doc, lc.lineStarts, diags)) return undefined;
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const firstAlias = findFirstAlias(doc);
    const pos = firstAlias ? at(rel, lc.lineStarts, firstAlias) : fileStart(rel);
    const msg = (e as Error).message;
    if (/resource exhaustion/.test(msg)) {
      diags.error(
        pos,
        `too many alias expansions (more than ${MAX_ALIAS_COUNT}): write the values out instead of nesting aliases`,
      );
    } else {
      diags.error(pos, `YAML alias error: ${msg}`);
    }
    return undefined;
  }
  return { rel, tree: treeOfDocument(doc), lineStarts: lc.lineStarts, value };
}

/** The scalar map key starting at `offset`, for naming a duplicate key. */
function keyAt(doc: Document.Parsed, offset: number): string | undefined {
  let found: string | undefined;
  const { visit, isScalar } = yamlLib();
  visit(doc, {
    Pair(_k, pair) {
      if (isScalar(pair.key) && pair.key.range?.[0] === offset) {
        found = String(pair.key.value);
        return visit.BREAK;
      }
    },
  });
  return found !== undefined && /^[^\n`]{1,80}$/.test(found) ? found : undefined;
}

function findFirstAlias(doc: Document.Parsed): number | undefined {
  let first: number | undefined;
  const { visit } = yamlLib();
  visit(doc, {
    Alias(_k, node) {
      if (first === undefined) first = node.range?.[0];
      return visit.BREAK;
    },
  });
  return first;
}

/**
 * The node at `path`, or the deepest existing ancestor when the path does not exist (so a missing key is
 * reported at its parent map). `key: true` returns the key node of the last segment (for unknown keys).
 */
export function locate(pf: ParsedFile, path: PathSeg[], opts: { key?: boolean } = {}): SourceRef {
  const offset = locateOffset(pf.tree, path, opts.key);
  return offset === undefined ? fileStart(pf.rel) : at(pf.rel, pf.lineStarts, offset);
}

/** True when the node at `path` exists in the file (used for provenance). */
export function hasPath(pf: ParsedFile, path: PathSeg[]): boolean {
  return hasPathIn(pf.tree, path);
}
