/**
 * Mangled manifests never make loadRepo throw or report an internal error: a fixed-seed, bounded set of
 * mutations of the example repo's files, each loaded in full.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { loadRepo } from '../../src/manifest';
import { listFiles } from './markers';
import { cleanupRepos, makeRepo } from './tmp-repo';

afterAll(cleanupRepos);

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'lab');
const ROUNDS = 40;

/** Deterministic PRNG (mulberry32) so a failure is reproducible from its round number. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SNIPPETS = [
  ':',
  '- ',
  '{',
  ']',
  '&x ',
  '*x',
  '!!binary ',
  '"',
  '\t',
  '\n  ',
  '---\n',
  '? ',
  '|',
  '#',
  '0x1F',
  '~',
  'null',
  '<<: *x',
];

function mutate(text: string, r: () => number): string {
  const at = Math.floor(r() * text.length);
  switch (Math.floor(r() * 4)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1 + Math.floor(r() * 8));
    case 1:
      return text.slice(0, at) + SNIPPETS[Math.floor(r() * SNIPPETS.length)] + text.slice(at);
    case 2: {
      const ls = text.split('\n');
      const i = Math.floor(r() * ls.length);
      ls.splice(i, 0, ls[Math.floor(r() * ls.length)]);
      return ls.join('\n');
    }
    default: {
      const ls = text.split('\n');
      const i = Math.floor(r() * ls.length);
      ls[i] = ls[i].replace(/^ */, (s) => ' '.repeat(Math.max(0, s.length + (r() < 0.5 ? -2 : 2))));
      return ls.join('\n');
    }
  }
}

describe('mangled manifests', () => {
  it(`never throw and always locate their diagnostics (${ROUNDS} seeded mutations)`, async () => {
    const rels = (await listFiles(EXAMPLE)).filter((f) =>
      /^(shipshape\.yaml|(systems|profiles|os|roles)\/.*\.yaml)$/.test(f),
    );
    const originals = Object.fromEntries(
      await Promise.all(rels.map(async (f) => [f, await fs.readFile(path.join(EXAMPLE, f), 'utf8')] as const)),
    );
    const r = rng(20261126);
    const problems: string[] = [];
    let withErrors = 0;
    const root = await makeRepo(originals); // one repo; each round mangles one file and restores it
    for (let round = 0; round < ROUNDS; round++) {
      const target = rels[Math.floor(r() * rels.length)];
      let text = originals[target];
      for (let k = 0, n = 1 + Math.floor(r() * 3); k < n; k++) text = mutate(text, r);
      await fs.writeFile(path.join(root, target), text);
      const result = await loadRepo(root);
      await fs.writeFile(path.join(root, target), originals[target]);
      if (!result.ok) withErrors++;
      for (const d of result.diagnostics) {
        const bad = d.message.startsWith('internal error') || !(d.line >= 1 && d.col >= 1) || d.message.includes('\n');
        if (bad) problems.push(`round ${round} (${target}): ${d.file}:${d.line}:${d.col}: ${d.message}`);
      }
    }
    expect(problems).toEqual([]);
    // The mutations must actually break things, or this test proves nothing.
    expect(withErrors).toBeGreaterThan(ROUNDS / 3);
  }, 180_000);
});
