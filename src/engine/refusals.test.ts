/**
 * Apply's refusal paths, enumerated from the source: every `new Refusal('id', …)` (and every class
 * that extends Refusal with a fixed id) names an id of the table, every id of the table is thrown
 * somewhere (a table entry nothing checks is a lie), and no error with a blocking outcome code is
 * thrown around the table. That each id is foreseen by plan is asserted scenario by scenario in
 * test/e2e/converge.test.ts, whose scenarios are a `Record<RefusalId, …>`: a new id without a
 * plan scenario does not compile.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BLOCKING_CODES } from './outcome';
import { REFUSALS, Refusal } from './refusals';

const SRC = join(__dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

const files = sources(SRC).map((f) => ({ file: relative(SRC, f), text: readFileSync(f, 'utf8') }));

/** `new Refusal(\n 'id'` and `super('id', …)` in classes extending Refusal: the ids apply throws. */
function thrownIds(): Map<string, string[]> {
  const ids = new Map<string, string[]>();
  const add = (id: string, file: string) => ids.set(id, [...(ids.get(id) ?? []), file]);
  for (const { file, text } of files) {
    for (const m of text.matchAll(/new Refusal\(\s*'([a-z-]+)'/g)) add(m[1]!, file);
    if (/extends Refusal\b/.test(text)) for (const m of text.matchAll(/super\(\s*'([a-z-]+)'/g)) add(m[1]!, file);
    // Refusals carried through a field change (diff) and thrown by a helper from it.
    for (const m of text.matchAll(/refusal: '([a-z-]+)'/g)) add(m[1]!, file);
  }
  return ids;
}

test('every refusal apply throws is in the table, and every table entry is checked somewhere in the code', () => {
  const thrown = thrownIds();
  const unknown = [...thrown.keys()].filter((id) => !Object.hasOwn(REFUSALS, id));
  expect(unknown).toEqual([]);
  // The engine's own checks (planner and executor) count: protected, not-owned, ambiguous.
  const planner = readFileSync(join(SRC, 'plan', 'planner.ts'), 'utf8');
  const unchecked = Object.keys(REFUSALS).filter((id) => !thrown.has(id) && !planner.includes(`'${id}'`));
  expect(unchecked).toEqual([]);
});

test('no error with a blocking outcome code is thrown around the refusal table', () => {
  const codes = BLOCKING_CODES.join('|');
  const bypass = new RegExp(`new UserError\\([^;]*?,\\s*'(${codes})',?\\s*\\)`, 'gs');
  const found = files.flatMap(({ file, text }) => [...text.matchAll(bypass)].map((m) => `${file}: ${m[1]}`));
  expect(found).toEqual([]);
});

test('a Refusal carries the outcome code of its table entry', () => {
  for (const id of Object.keys(REFUSALS) as (keyof typeof REFUSALS)[]) {
    const e = new Refusal(id, 'x');
    expect([e.refusal, e.outcome]).toEqual([id, REFUSALS[id].code]);
  }
});

test("every refusal has a row in the README's table of what the plan foresees", () => {
  const readme = readFileSync(join(SRC, '..', 'README.md'), 'utf8');
  const table = readme.split('### What the plan foresees')[1]!.split('\n### ')[0]!;
  // A row names one id or several (`disk-shrink` / `disk-move` / `disk-remove`) in its first column.
  const documented = new Set(
    table
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .flatMap((l) => [...l.split('|')[1]!.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!)),
  );
  expect(Object.keys(REFUSALS).filter((id) => !documented.has(id))).toEqual([]);
});
