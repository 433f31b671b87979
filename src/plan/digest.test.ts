import { createHash } from 'node:crypto';
import { actionDigests, digest, digestTexts, sha256Hex, stableStringify } from './digest';

// A plan saved before the digests were built from memoised texts must still apply: same digests.
test('the desired digest is the digest of { system without sources, desired, site without root }, texts memoised or not', () => {
  const site = { root: '/repo', nets: { 'dev-net': { cidr: '198.51.100.0/24' } }, lab: true, zones: [{ b: 1, a: 2 }] };
  const system = {
    name: 'web-01',
    cpu: 2,
    sources: { cpu: { file: 'x', line: 1, col: 1 } },
    labels: { z: '1', a: '2' },
  };
  const texts = digestTexts();
  for (const desired of [{ cpu: 2, mac: '00:50:56:00:00:01' }, null, undefined, 'x']) {
    const want = digest({
      system: { name: 'web-01', cpu: 2, labels: { z: '1', a: '2' } },
      desired,
      site: { ...site, root: undefined },
    });
    expect(actionDigests({ found: [], resolved: {}, desired, system, site, texts }).desiredDigest).toBe(want);
    expect(actionDigests({ found: [], resolved: {}, desired, system, site }).desiredDigest).toBe(want);
  }
});

test('the observed digest leaves out handles and the VM boot time, and nothing else', () => {
  const found = [{ kind: 'vm', system: 'web-01', id: 'vm-1', fields: { cpu: 2 }, handle: { ref: 'vm-1' } }];
  const base = { found, desired: null, system: { name: 'web-01', sources: {} }, site: {} };
  const at = (resolved: unknown) => actionDigests({ ...base, resolved }).observedDigest;
  expect(at({ ip: '198.51.100.10', vmBootTime: '2026-12-01T08:00:00Z' })).toBe(at({ ip: '198.51.100.10' }));
  expect(at({ ip: '198.51.100.10' })).not.toBe(at({ ip: '198.51.100.11' }));
  expect(at(undefined)).toBe(digest({ resources: [{ kind: 'vm', system: 'web-01', id: 'vm-1', fields: { cpu: 2 } }] }));
});

/** The definition stableStringify is written to match: JSON.stringify of a copy with sorted keys. */
function reference(value: unknown): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === 'object' && !(v instanceof Date)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = sortKeys(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(sortKeys(value));
}

// Saved plans carry digests of this text: it must not change by a byte.
test('stableStringify gives the same text as before, for plan-like data and the corners of JSON', () => {
  const corners: unknown[] = [
    { b: 1, a: [3, { d: undefined, c: null }], e: 'x"\\\n\u2028', f: -0, g: NaN, h: Infinity, i: new Date(0) },
    { 10: 'ten', 9: 'nine', b: 1, '01': 'not an index', 4294967295: 'too big', 4294967294: 'last index', '': 'empty' },
    [undefined, () => 1, Symbol('s'), [], {}, new Date(NaN), true, 1.5e300],
    {
      f: () => 1,
      s: Symbol('s'),
      m: new Map([[1, 2]]),
      buf: Buffer.from('ab'),
      nested: { z: { y: { x: [1, { w: 2 }] } } },
    },
    JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}'),
    'plain',
    42,
    null,
    false,
  ];
  for (const v of corners) expect(stableStringify(v)).toBe(reference(v));
  expect(stableStringify(undefined)).toBe(reference(undefined));
  // Random nested data of the shapes a plan holds.
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  const gen = (depth: number): unknown => {
    const pick = rnd(depth > 3 ? 5 : 8);
    if (pick === 0) return null;
    if (pick === 1) return rnd(1000) - 500;
    if (pick === 2) return `s${rnd(50)}`;
    if (pick === 3) return rnd(2) === 0;
    if (pick === 4) return undefined;
    if (pick === 5) return Array.from({ length: rnd(4) }, () => gen(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rnd(6); i > 0; i--) o[rnd(3) === 0 ? String(rnd(20)) : `k${rnd(30)}`] = gen(depth + 1);
    return o;
  };
  for (let i = 0; i < 2000; i++) {
    const v = gen(0);
    expect(stableStringify(v)).toBe(reference(v));
  }
});

// Role digests are kept on the targets and plan digests in saved plans: the one-shot hash must give the same hex.
test('sha256Hex is the SHA-256 of the text as UTF-8 (or of the bytes)', () => {
  for (const v of ['', 'plain', 'ümlaut ✓ \u2028', Buffer.from([0, 255, 7])])
    expect(sha256Hex(v)).toBe(createHash('sha256').update(v).digest('hex'));
  expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});
