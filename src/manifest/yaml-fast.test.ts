/**
 * The fast reader must read every text it accepts exactly as the `yaml` package does (value and every
 * node's position), and accept the plain manifests operators write (else loading 10,000 of them is slow).
 */
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { LineCounter, parseDocument } from 'yaml';
import { parseFast } from './yaml-fast';
import { locateOffset, treeOfDocument, type PathSeg } from './yaml-tree';

const ROOT = join(__dirname, '..', '..');

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

/** Every path into a value, plus a missing child of each map and list (located at its parent). */
function paths(v: unknown, at: PathSeg[] = []): PathSeg[][] {
  const out: PathSeg[][] = [at];
  if (Array.isArray(v)) {
    v.forEach((x, i) => out.push(...paths(x, [...at, i])));
    out.push([...at, v.length]);
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
    out.push([...at, 'no-such-key']);
  }
  return out;
}

/** When the fast reader accepts `text`, the package reads it without a problem and to the same places. */
function expectSameAsPackage(text: string): boolean {
  const fast = parseFast(text);
  if (!fast) return false;
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  expect({ text, errors: doc.errors.map((e) => e.message), warnings: doc.warnings.map((w) => w.message) }).toEqual({
    text,
    errors: [],
    warnings: [],
  });
  expect(fast.value).toStrictEqual(doc.toJS());
  expect(fast.lineStarts).toEqual(lc.lineStarts);
  const tree = treeOfDocument(doc);
  for (const p of paths(fast.value)) {
    const where = (t: typeof tree, key: boolean) => [p.join('.'), key, locateOffset(t, p, key)];
    expect(where(fast.tree, false)).toEqual(where(tree, false));
    expect(where(fast.tree, true)).toEqual(where(tree, true));
  }
  return true;
}

describe('fast manifest reader', () => {
  it('reads every YAML file of the repo as the yaml package does, and accepts the plain ones', () => {
    const files = yamlFiles(join(ROOT, 'examples')).concat(yamlFiles(join(ROOT, 'test')));
    const accepted = files.filter((f) => expectSameAsPackage(readFileSync(f, 'utf8')));
    // Every system, profile and environment manifest of the lab example is plain YAML.
    const plain = files.filter((f) => /examples\/lab\/(systems|profiles|environments)\//.test(f));
    expect(plain.length).toBeGreaterThan(5);
    expect(plain.filter((f) => !accepted.includes(f))).toEqual([]);
  });

  it('accepts a typical system manifest with flow maps, lists, quotes and comments', () => {
    const text = [
      '# a comment',
      'apiVersion: shipshape.dev/v1',
      'kind: System',
      'metadata:',
      '  name: app-00001',
      "  labels: { team: scale, tier: 'web' }",
      'spec:',
      '  profile: web-dev   # trailing comment',
      '  cpu: 2',
      '  network:',
      '    net: dev-net',
      '    mac: "00:50:56:00:00:01"',
      '    ip: 198.18.0.5',
      '  roles:',
      '  - name: app/shop',
      '    params: { projectKey: SHOP, ports: [80, 443], ratio: 1.5, on: true, none: ~ }',
      '  -',
      '    name: base',
      '  disks:',
      '    - sizeGiB: 20',
      '',
    ].join('\n');
    expect(expectSameAsPackage(text)).toBe(true);
  });

  // Each is either given up on (the package reads it) or read exactly like the package.
  const edge = [
    'a: 007',
    'a: 0o17',
    'a: 0x1F',
    'a: 1e3',
    'a: .5',
    'a: 1.',
    'a: -0',
    'a: +5',
    'a: .inf',
    'a: -.inf',
    'a: .nan',
    'a: 12.50',
    'a: -3',
    'a: 123456789012345678901',
    'a: ~\nb: null\nc: Null\nd: NULL\ne:',
    'a: true\nb: True\nc: FALSE\nd: yes\ne: on',
    'a: b: c',
    'a: foo:',
    'a: - x',
    'a: "x" y',
    "a: 'it''s'",
    'a: "a\\"b"',
    'a: "a\\tb"',
    'a: "open',
    'a: plain\n  continued',
    'a: |\n  block',
    'a: &x 1\nb: *x',
    'a: !!str 1',
    '---\na: 1',
    'a: 1\n---\nb: 2',
    'a: {b: 1, c: [x, y]}',
    'a: { b: 1, }',
    'a: {b:1}',
    'a: [x, y,]',
    'a: {}\nb: []',
    'a: {b: {c: d}}',
    'a: {u: http://x}',
    'a: [ "q", \'r\', 3 ]',
    'a:\n- x\n- y\nb: 1',
    'a:\n  -\n    b: 1',
    'a:\n  - - x',
    'a:   \n  b: 1   \n\n  # c\n  c: 2 # d\n',
    'a: x\r\nb: y',
    'a:\n\tb: 1',
    'a:\n   b: 1\n  c: 2',
    'a: 1\na: 2',
    'true: 1',
    '1: x',
    '__proto__: x',
    'a b: 1',
    '"a": 1',
    'a: x #c\nb: a#b',
    'a: grüße',
    'a: 1',
    '# only a comment\n\na: 1\n',
    'a:\n  b:\n    c:\n      - d: 1\n        e: [1]\n      - f\nz: 0',
    '- a',
    '  a: 1',
    'a:\n  b: 1\n c: 2',
    'a: -x',
    'a: --x',
    'a: [-1, -x]',
    'a: ?x',
    'a: :x',
    'a: x:y',
    'a: %x',
    'a: @x',
    'a: `x',
    'a: x,y',
    'a: x]',
    'a: [x]y',
    'a: {b: c} d',
    'a: "x"#c',
    'a: ""',
    "a: ''",
    'a: [a b, c d]',
    'a: {b: c d}',
    'a: [x #y]',
    'a:\n  - b: 1\n  c: 2',
    'a:\n    - b: 1\n      c: 2\n  d: 3',
    'a:\n- b\n  - c',
    'a: \u00a0x',
    '\ufeffa: 1',
    'a: x\u2028y',
    'a: 1\n...\n',
    'a:\n  b: 1\n\n',
    'a: 1\n\n\n',
  ];
  it.each(edge)('reads %j like the yaml package or leaves it to it', (text) => {
    expectSameAsPackage(text);
  });

  it('reads single-character edits of the lab manifests like the package, or leaves them to it', () => {
    const texts = yamlFiles(join(ROOT, 'examples', 'lab'))
      .filter((f) => /\/(systems|profiles|environments)\//.test(f))
      .map((f) => readFileSync(f, 'utf8'));
    const chars = [' ', ' ', ':', '-', '#', '"', "'", '{', '}', '[', ']', ',', '\n', '0', '.', 'x', '~'];
    let seed = 19;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    let accepted = 0;
    for (let k = 0; k < 600; k++) {
      const t = texts[rnd(texts.length)]!;
      const at = rnd(t.length);
      const c = chars[rnd(chars.length)]!;
      const op = rnd(3);
      const edited =
        op === 0 ? t.slice(0, at) + c + t.slice(at) : t.slice(0, at) + (op === 1 ? c : '') + t.slice(at + 1);
      if (expectSameAsPackage(edited)) accepted++;
    }
    expect(accepted).toBeGreaterThan(60); // the comparison saw many edited texts, not only give-ups
  });

  it('leaves constructs with meaning beyond plain data to the package', () => {
    const deep = `a: ${'['.repeat(5000)}${']'.repeat(5000)}`;
    for (const text of ['a: &x 1\nb: *x', 'a: !!str 1', 'a: |\n  block', 'a: 1\na: 2', 'a: 007', 'a: "a\\tb"', deep])
      expect([text, parseFast(text)]).toEqual([text, undefined]);
  });
});
