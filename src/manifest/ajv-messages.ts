/**
 * ajv errors → plain sentences at the offending node:
 *   spec.cpu must be a whole number from 1 to 128, got "four"
 *   unknown key `memroyMiB` in spec (did you mean `memoryMiB`?)
 * Secret fields never echo their value.
 */
import type { ErrorObject } from 'ajv';
import { clip, describeValue } from './diagnostics';
import type { Diagnostics } from './diagnostics';
import { locate } from './yaml-file';
import type { ParsedFile, PathSeg } from './yaml-file';

type Schemaish =
  { 'x-shape'?: string; 'x-secret'?: boolean; properties?: Record<string, unknown>; enum?: unknown[] } | undefined;

/** JSON pointer → path segments (array indices as numbers). */
export function pointerToPath(pointer: string): PathSeg[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** `spec.disks[0].sizeGiB` */
export function displayPath(path: PathSeg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function levenshtein(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** The closest allowed key, if it is plausibly a typo. */
export function suggest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function quoteList(vals: unknown[]): string {
  return vals.map((v) => `\`${String(v)}\``).join(', ');
}

/** What the value must be, from the schema's `x-shape`, else from the failing keywords. */
function shapeOf(group: ErrorObject[]): string {
  for (const e of group) {
    if (e.keyword === 'enum') return `one of ${quoteList((e.params as { allowedValues: unknown[] }).allowedValues)}`;
  }
  for (const e of group) {
    const shape = (e.parentSchema as Schemaish)?.['x-shape'];
    if (shape) return shape;
  }
  const parts = group.map((e) => {
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'type':
        return typeWords(String(p.type));
      case 'const':
        return `\`${String(p.allowedValue)}\``;
      case 'minimum':
        return `at least ${String(p.limit)}`;
      case 'maximum':
        return `at most ${String(p.limit)}`;
      case 'minItems':
        return `a list of at least ${String(p.limit)} entries`;
      case 'maxItems':
        return `a list of at most ${String(p.limit)} entries`;
      case 'minProperties':
        return `a map with at least ${String(p.limit)} entries`;
      case 'maxProperties':
        return `a map with at most ${String(p.limit)} entries`;
      case 'minLength':
        return `at least ${String(p.limit)} characters long`;
      case 'maxLength':
        return `at most ${String(p.limit)} characters long`;
      case 'format':
        return `in the format \`${String(p.format)}\``;
      case 'pattern':
        return `text matching \`${String(p.pattern)}\``;
      default:
        return (e.message ?? e.keyword).replace(/^must (be )?/, '');
    }
  });
  return [...new Set(parts)].join(' and ');
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a map',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  null: 'empty',
};

function typeWords(types: string): string {
  return types
    .split(',')
    .map((t) => TYPE_WORDS[t] ?? t)
    .join(' or ');
}

/** What the value is: for repeated list entries, which ones. */
function gotText(group: ErrorObject[]): string {
  const dup = group.find((e) => e.keyword === 'uniqueItems');
  if (dup) {
    const { i, j } = dup.params as { i: number; j: number };
    return `but entries ${Math.min(i, j)} and ${Math.max(i, j)} are the same`;
  }
  return `got ${describeValue(group[0].data)}`;
}

function isSecret(group: ErrorObject[]): boolean {
  return group.some((e) => (e.parentSchema as Schemaish)?.['x-secret'] === true);
}

/**
 * Reports ajv errors for one file. `base` prefixes instance paths (role params are validated as a
 * sub-document located inside a system file).
 */
export function reportAjvErrors(
  errors: ErrorObject[],
  pf: ParsedFile,
  base: PathSeg[],
  diags: Diagnostics,
  label?: string,
): void {
  const groups = new Map<string, ErrorObject[]>();
  const missing = new Map<string, string[]>();
  for (const e of errors) {
    if (e.keyword === 'if' || e.keyword === 'propertyNames') continue;
    const path = [...base, ...pointerToPath(e.instancePath)];
    const name = label !== undefined ? displayPath([label, ...pointerToPath(e.instancePath)]) : displayPath(path);
    const propertyName = (e as { propertyName?: string }).propertyName;
    if (propertyName !== undefined) {
      const where = name === '' ? 'the top level' : name;
      diags.error(
        locate(pf, [...path, propertyName], { key: true }),
        `key \`${clip(propertyName)}\` in ${where} must be ${shapeOf([e])}`,
      );
    } else if (e.keyword === 'additionalProperties') {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys((e.parentSchema as Schemaish)?.properties ?? {});
      const hint = suggest(key, allowed);
      const where = name === '' ? 'the top level' : name;
      const tail = hint
        ? ` (did you mean \`${hint}\`?)`
        : allowed.length
          ? ` (allowed keys: ${quoteList(allowed)})`
          : '';
      diags.error(locate(pf, [...path, key], { key: true }), `unknown key \`${clip(key)}\` in ${where}${tail}`);
    } else if (e.keyword === 'required') {
      const list = missing.get(e.instancePath) ?? [];
      list.push(String((e.params as { missingProperty: string }).missingProperty));
      missing.set(e.instancePath, list);
    } else {
      const g = groups.get(e.instancePath) ?? [];
      g.push(e);
      groups.set(e.instancePath, g);
    }
  }
  for (const [ptr, keys] of missing) {
    const path = [...base, ...pointerToPath(ptr)];
    const name = label !== undefined ? displayPath([label, ...pointerToPath(ptr)]) : displayPath(path);
    const what = keys.length === 1 ? `required key \`${keys[0]}\`` : `required keys ${quoteList(keys)}`;
    diags.error(
      locate(pf, path, { key: true }),
      name === '' ? `missing ${what} at the top level` : `${name} is missing ${what}`,
    );
  }
  for (const [ptr, group] of groups) {
    const path = [...base, ...pointerToPath(ptr)];
    const name = label !== undefined ? displayPath([label, ...pointerToPath(ptr)]) : displayPath(path);
    const subject = name === '' ? 'the document' : name;
    // Only whether it looks like a broken reference is said, never the value.
    const broken = group.some((e) => typeof e.data === 'string' && e.data.startsWith('${'));
    const got = !isSecret(group)
      ? gotText(group)
      : broken
        ? 'it starts like a reference but is not one: write `${env:NAME}` or `${file:PATH}` (a closing `}` missing?)'
        : 'it holds a literal value: move the secret to an environment variable or a file';
    diags.error(locate(pf, path), `${subject} must be ${shapeOf(group)}, ${got}`);
  }
}
