/**
 * Where each node of a parsed manifest starts, in a small tree of offsets: what `locate` needs to point a
 * diagnostic at `file:line:col`. Both parsers fill it (the fast one in yaml-fast.ts, the `yaml` package
 * for everything else), so a manifest keeps only its plain value and this tree, not the package's
 * full node tree (about a tenth of the memory at 10,000 files).
 */
import type { Document, Node } from 'yaml';
import { yamlLib } from './yaml-lib';

export interface PosPair {
  /** The key as `String(key)`: how a path segment is matched. */
  key: string;
  keyAt: number;
  /** Undefined for `key:` with nothing after it (a diagnostic then points at the key). */
  value?: PosRef;
}

export interface PosNode {
  /** Offset of the node's first character (for an alias: of the `*`). */
  at: number;
  pairs?: PosPair[];
  items?: PosRef[];
  /** An alias: the anchored node it stands for (paths continue there). */
  ref?: PosNode;
}

/**
 * A node, or for a scalar just its offset: a manifest's scalars are most of its nodes, and at 10,000 files
 * an object per scalar kept alive until the load ends was a good part of the garbage collector's work.
 */
export type PosRef = PosNode | number;

export type PathSeg = string | number;

/**
 * The node at `path` as an offset, or the deepest existing ancestor's when the path does not exist (so a
 * missing key is reported at its parent map). `key: true` gives the last segment's key (unknown keys).
 */
export function locateOffset(root: PosRef | undefined, path: PathSeg[], key = false): number | undefined {
  let node = root;
  for (let i = 0; node !== undefined && i < path.length; i++) {
    if (typeof node === 'number') break; // a scalar: nothing below it
    const here: PosNode = node.ref ?? node;
    node = here; // a path that stops below an alias points into the anchored node
    const seg = path[i];
    let next: PosRef | undefined;
    if (here.pairs) {
      const s = String(seg);
      const pair = here.pairs.find((p) => p.key === s);
      if (pair && key && i === path.length - 1) return pair.keyAt;
      next = pair ? (pair.value ?? pair.keyAt) : undefined;
    } else if (here.items && typeof seg === 'number') {
      next = here.items[seg];
    }
    if (next === undefined) break;
    node = next;
  }
  return typeof node === 'number' ? node : node?.at;
}

/** True when the node at `path` exists in the file (used for provenance). */
export function hasPathIn(root: PosRef | undefined, path: PathSeg[]): boolean {
  let node = root;
  for (const seg of path) {
    if (node === undefined || typeof node === 'number') return false;
    const here: PosNode = node.ref ?? node;
    if (here.pairs) {
      const pair = here.pairs.find((p) => p.key === String(seg));
      if (!pair) return false;
      node = pair.value ?? pair.keyAt;
    } else if (here.items && typeof seg === 'number') {
      node = here.items[seg];
      if (node === undefined) return false;
    } else return false;
  }
  return true;
}

/** The offsets of a document the `yaml` package parsed (anchors resolve to the closest one before). */
export function treeOfDocument(doc: Document.Parsed): PosNode | undefined {
  const { isAlias, isMap, isPair, isScalar, isSeq } = yamlLib();
  const anchors = new Map<string, PosNode>();
  const conv = (n: unknown): PosNode | undefined => {
    if (n === null || n === undefined) return undefined;
    let out: PosNode;
    if (isAlias(n)) {
      out = { at: n.range?.[0] ?? 0 };
      const target = anchors.get(n.source);
      if (target) out.ref = target;
      return out;
    }
    const node = n as Node;
    const at = node.range?.[0] ?? 0;
    if (isMap(node)) {
      out = { at, pairs: [] };
      for (const p of node.items) {
        if (!isPair(p) || !isScalar(p.key)) continue;
        const v = p.value;
        const empty = v === null || (isScalar(v) && v.value === null && !!v.range && v.range[0] === v.range[1]);
        const pair: PosPair = { key: String(p.key.value), keyAt: p.key.range?.[0] ?? at };
        const value = empty ? undefined : conv(v);
        if (value) pair.value = value;
        out.pairs!.push(pair);
      }
    } else if (isSeq(node)) {
      out = { at, items: [] };
      for (const item of node.items) out.items!.push(conv(item) ?? { at });
    } else out = { at };
    if (node.anchor) anchors.set(node.anchor, out);
    return out;
  };
  return conv(doc.contents);
}
