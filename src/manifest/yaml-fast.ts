/**
 * A fast reader for the plain YAML most manifests are written in: block maps and lists, plain and
 * one-line quoted scalars, one-line flow maps and lists, comments. It gives the same value and node
 * offsets as the `yaml` package (YAML 1.2 core schema) for the texts it accepts, and gives up on
 * anything else (anchors, tags, block scalars, multi-line scalars, escapes, tabs, CR, documents
 * markers, duplicate keys, anything that could be an error or a warning): those texts go to the
 * `yaml` package, which also says what is wrong. At 10,000 manifests the package's full node tree
 * per file was most of `loadRepo`'s time; this reader is several times cheaper per file.
 * test/manifest/yaml-fast.test.ts checks it against the package on every manifest of the repo and on
 * edge cases.
 */
import type { PosNode, PosPair, PosRef } from './yaml-tree';

export interface FastParsed {
  value: Record<string, unknown>;
  tree: PosNode;
  /** Offsets where lines start (0 first), as yaml's LineCounter keeps them. */
  lineStarts: number[];
}

/** Thrown inside the reader when the text is outside the subset; never leaves this module. */
class GiveUp extends Error {}
/** Deeper nesting is no manifest's; the package reports it (and this reader's recursion stays small). */
const MAX_DEPTH = 64;
const giveUp = (): never => {
  throw new GiveUp();
};

// Anything that could be a non-plain construct, a control character or a line break other than LF.
const OUTSIDE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff]|^(?:%|---|\.\.\.)/m;
/** A block key: a name that the core schema reads as a string, followed by `:` and a space or the end. */
const KEY = /^([A-Za-z_][A-Za-z0-9_./-]*):(?: +|$)/;
const NOT_STRING_KEY = /^(?:[Nn]ull|NULL|[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
/** Core-schema numbers and specials (yaml's schema/core tests); only the two simple forms are converted here. */
const CORE_NUMBER =
  /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/;
const SIMPLE_INT = /^(?:0|-?[1-9][0-9]{0,14})$/;
const SIMPLE_FLOAT = /^-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,15}$/;

/** A plain scalar as the core schema reads it. */
function resolvePlain(s: string): unknown {
  if (s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  if (s === 'true' || s === 'True' || s === 'TRUE') return true;
  if (s === 'false' || s === 'False' || s === 'FALSE') return false;
  const c = s.charCodeAt(0);
  // Only text starting with a digit, a sign or a dot can be a number.
  if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) {
    if (SIMPLE_INT.test(s) || SIMPLE_FLOAT.test(s)) return Number(s);
    if (CORE_NUMBER.test(s)) giveUp();
  }
  return s;
}

function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__' || Object.prototype.hasOwnProperty.call(obj, key)) giveUp(); // duplicates are errors
  obj[key] = value;
}

interface Line {
  /** Offset of the line's first character. */
  start: number;
  indent: number;
  /** The line after the indentation, comments not yet removed. */
  text: string;
}

class Reader {
  /** Lines with content (blank and comment-only lines dropped). */
  readonly lines: Line[] = [];
  i = 0;

  constructor(
    readonly src: string,
    readonly lineStarts: number[],
  ) {
    let start = 0;
    for (;;) {
      lineStarts.push(start);
      const nl = src.indexOf('\n', start);
      const end = nl < 0 ? src.length : nl;
      let indent = 0;
      while (start + indent < end && src.charCodeAt(start + indent) === 0x20) indent++;
      if (start + indent < end && src.charCodeAt(start + indent) !== 0x23 /* # */)
        this.lines.push({ start, indent, text: src.slice(start + indent, end) });
      if (nl < 0) break;
      start = nl + 1;
    }
  }

  /** A block node whose lines are indented at least `min`: a map or a list. */
  block(min: number): { value: unknown; node: PosNode } {
    const line = this.lines[this.i];
    if (!line || line.indent < min || line.indent > MAX_DEPTH * 4) giveUp();
    return isSeqLine(line!.text) ? this.seq(line!.indent) : this.map(line!.indent, line!.start + line!.indent);
  }

  /** A block list at `indent`; `- ` items. */
  seq(indent: number): { value: unknown[]; node: PosNode } {
    const value: unknown[] = [];
    const node: PosNode = { at: this.lines[this.i]!.start + indent, items: [] };
    for (let line = this.lines[this.i]; line && line.indent === indent; line = this.lines[this.i]) {
      if (!isSeqLine(line.text)) break;
      let col = 1;
      while (line.text.charCodeAt(col) === 0x20) col++;
      const rest = line.text.slice(col);
      if (rest === '' || rest.startsWith('#')) {
        this.i++;
        const inner = this.block(indent + 1);
        value.push(inner.value);
        node.items!.push(inner.node);
        continue;
      }
      if (isSeqLine(rest)) giveUp(); // `- - x`: rare, left to the package
      const itemIndent = indent + col;
      if (KEY.test(rest)) {
        // `- key: value` opens a map whose keys line up with `key`.
        const m = this.map(itemIndent, line.start + itemIndent, { ...line, indent: itemIndent, text: rest });
        value.push(m.value);
        node.items!.push(m.node);
        continue;
      }
      this.i++;
      const s = this.inline(rest, line.start + itemIndent);
      value.push(s.value);
      node.items!.push(s.node);
      this.noMoreIndented(indent);
    }
    return { value, node };
  }

  /** A block map at `indent`; `first` is its first line when it starts after a `- `. */
  map(indent: number, at: number, first?: Line): { value: Record<string, unknown>; node: PosNode } {
    const value: Record<string, unknown> = {};
    const node: PosNode = { at, pairs: [] };
    let line: Line | undefined = first ?? this.lines[this.i];
    while (line && line.indent === indent) {
      const m = KEY.exec(line.text);
      if (!m) giveUp();
      const key = m![1]!;
      if (NOT_STRING_KEY.test(key)) giveUp();
      const keyAt = line.start + indent;
      const rest = line.text.slice(m![0].length);
      this.i++;
      const pair: PosPair = { key, keyAt };
      if (rest === '' || rest.startsWith('#')) {
        const next = this.lines[this.i];
        if (next && (next.indent > indent || (next.indent === indent && isSeqLine(next.text)))) {
          const inner = next.indent > indent ? this.block(indent + 1) : this.seq(indent);
          setKey(value, key, inner.value);
          pair.value = inner.node;
        } else setKey(value, key, null);
      } else {
        const s = this.inline(rest, keyAt + m![0].length);
        setKey(value, key, s.value);
        pair.value = s.node;
        this.noMoreIndented(indent);
      }
      node.pairs!.push(pair);
      line = this.lines[this.i];
    }
    // A line between this map's indentation and its parent's is an error the package explains.
    if (line && line.indent > indent) giveUp();
    return { value, node };
  }

  /** After a one-line value, a more indented line would continue it (a multi-line scalar): not handled. */
  noMoreIndented(indent: number): void {
    const next = this.lines[this.i];
    if (next && next.indent > indent) giveUp();
  }

  /** A value that fits on its line: plain or quoted scalar, or a flow collection, then at most a comment. */
  inline(text: string, at: number): { value: unknown; node: PosRef } {
    const c = text[0];
    if (c === '{' || c === '[') {
      const f = new Flow(text, at);
      const r = f.value();
      f.end();
      return r;
    }
    if (c === '"' || c === "'") {
      const q = quoted(text, 0);
      const tail = text.slice(q.end);
      if (!/^(?: +(?:#.*)?)?$/.test(tail)) giveUp();
      return { value: q.value, node: at };
    }
    let end = text.indexOf(' #');
    if (end < 0) end = text.length;
    const s = text.slice(0, end).trimEnd();
    if (!plainStart(s) || s.includes(': ') || s.endsWith(':')) giveUp();
    return { value: resolvePlain(s), node: at };
  }
}

function isSeqLine(text: string): boolean {
  return text.charCodeAt(0) === 0x2d /* - */ && (text.length === 1 || text.charCodeAt(1) === 0x20);
}

/** Whether `s` can start a plain scalar without any special meaning. */
function plainStart(s: string): boolean {
  if (s === '') return false;
  const c = s[0]!;
  if ('-?:,[]{}#&*!|>\'"%@`'.includes(c)) {
    // `-5`, `-x`, `:x`, `?x`: still plain, but keep to the common case: a negative number.
    return c === '-' && s.length > 1 && s[1] !== ' ' && s[1] !== '-';
  }
  return true;
}

/** A one-line quoted scalar starting at `from`: `'…'` with `''`, or `"…"` without escapes. */
function quoted(text: string, from: number): { value: string; end: number } {
  const q = text[from];
  let i = from + 1;
  let out = '';
  for (;;) {
    const j = text.indexOf(q!, i);
    if (j < 0) giveUp();
    out += text.slice(i, j);
    if (q === "'" && text[j + 1] === "'") {
      out += "'";
      i = j + 2;
      continue;
    }
    if (q === '"' && out.includes('\\')) giveUp();
    return { value: out, end: j + 1 };
  }
}

/** A one-line flow collection (`{ a: 1, b: [x, y] }`). */
class Flow {
  i = 0;
  constructor(
    readonly text: string,
    readonly at: number,
  ) {}

  spaces(): void {
    while (this.text.charCodeAt(this.i) === 0x20) this.i++;
  }

  value(depth = 0): { value: unknown; node: PosRef } {
    if (depth > MAX_DEPTH) giveUp();
    this.spaces();
    const c = this.text[this.i];
    const at = this.at + this.i;
    if (c === '{') {
      this.i++;
      const value: Record<string, unknown> = {};
      const node: PosNode = { at, pairs: [] };
      this.spaces();
      if (this.text[this.i] === '}') {
        this.i++;
        return { value, node };
      }
      for (;;) {
        this.spaces();
        const m = /^([A-Za-z_][A-Za-z0-9_./-]*): +/.exec(this.text.slice(this.i));
        if (!m || NOT_STRING_KEY.test(m[1]!)) giveUp();
        const key = m![1]!;
        const pair: PosPair = { key, keyAt: this.at + this.i };
        this.i += m![0].length;
        const v = this.value(depth + 1);
        setKey(value, key, v.value);
        pair.value = v.node;
        node.pairs!.push(pair);
        if (this.sep('}')) return { value, node };
      }
    }
    if (c === '[') {
      this.i++;
      const value: unknown[] = [];
      const node: PosNode = { at, items: [] };
      this.spaces();
      if (this.text[this.i] === ']') {
        this.i++;
        return { value, node };
      }
      for (;;) {
        const v = this.value(depth + 1);
        value.push(v.value);
        node.items!.push(v.node);
        if (this.sep(']')) return { value, node };
      }
    }
    if (c === '"' || c === "'") {
      const q = quoted(this.text, this.i);
      this.i = q.end;
      return { value: q.value, node: at };
    }
    const m = /^[^,[\]{}:#"'\s][^,[\]{}:#]*/.exec(this.text.slice(this.i));
    if (!m) giveUp();
    const s = m![0].trimEnd();
    if (!plainStart(s)) giveUp();
    this.i += m![0].length;
    return { value: resolvePlain(s), node: at };
  }

  /** After an entry: `,` (another entry follows) or the closing bracket (true). */
  sep(close: string): boolean {
    this.spaces();
    const c = this.text[this.i];
    this.i++;
    if (c === close) return true;
    if (c !== ',') giveUp();
    this.spaces();
    if (this.text[this.i] === close) giveUp(); // a trailing comma: left to the package
    return false;
  }

  /** Only a comment may follow the collection on its line. */
  end(): void {
    if (!/^(?: +(?:#.*)?)?$/.test(this.text.slice(this.i))) giveUp();
  }
}

/** The manifest's value and node offsets, or undefined when the text is not in the subset read here. */
export function parseFast(text: string): FastParsed | undefined {
  if (OUTSIDE.test(text)) return undefined;
  const lineStarts: number[] = [];
  try {
    const r = new Reader(text, lineStarts);
    if (!r.lines.length || r.lines[0]!.indent !== 0 || isSeqLine(r.lines[0]!.text)) return undefined;
    const m = r.map(0, r.lines[0]!.start);
    if (r.i !== r.lines.length) return undefined;
    return { value: m.value, tree: m.node, lineStarts };
  } catch (e) {
    if (e instanceof GiveUp) return undefined;
    throw e;
  }
}
