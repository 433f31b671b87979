/**
 * What the history stores passes the one redaction layer (src/redact: URL userinfo and every secret
 * this process resolved) and, because a record outlives the run and is shown on the status page, a
 * stricter pass on top: bearer tokens, `password=`/`secret:` pairs and crypt hashes that a backend
 * echoed back in an error.
 */
import { redactableRanges, redact as redactOutput } from '../redact';

const BEARER = /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const SECRET_PAIR =
  /\b(password|passwd|secret|token|api[_-]?key|apikey)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;}&]+)/gi;
const CRYPT_HASH = /\$(1|5|6|y|2[aby])\$[A-Za-z0-9./=$,]{8,}/g;
const HISTORY_PATTERNS = [BEARER, SECRET_PAIR, CRYPT_HASH];

export function redact(text: string): string {
  return redactOutput(text)
    .replace(BEARER, '$1 (removed)')
    .replace(SECRET_PAIR, '$1$2(removed)')
    .replace(CRYPT_HASH, '(password hash removed)');
}

/**
 * A JSON-able record with every string value through `redact` (each value on its own, so the JSON
 * itself stays intact; keys as they are), as a copy: JSON's own (dates as text, undefined left out).
 */
export function redactRecord<T>(value: T): T {
  return JSON.parse(redactJson(value)) as T;
}

/**
 * The JSON text of `value` with every string value through `redact` (keys as they are): what the stores
 * write. Made from the value's own JSON text rather than a walked copy (a plan run stores a 700-action
 * plan three times). In the compact text JSON.stringify writes, a string token followed by `:` is a key
 * and every other one a value, so each value is redacted where it stands. Only tokens a pattern can
 * touch are decoded and redacted: those with an escape (their text is not the string itself) and those
 * overlapping a match of one of the patterns in the whole text. A pattern that matches inside one token
 * matches there in the whole text too (every pattern stops at a `"` or at a word boundary, which the
 * token's quotes keep), and a replacement only changes a token a pattern matched; so a token outside
 * every match comes out of `redact` unchanged, and its text is already what JSON.stringify writes.
 */
export function redactJson(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  const hits = matchedRanges(text, HISTORY_PATTERNS, redactableRanges(text));
  if (hits.length === 0 && !text.includes('\\')) return text;
  const done = new Map<string, string>();
  let h = 0;
  return text.replace(STRING_TOKEN, (token: string, offset: number) => {
    if (text.charCodeAt(offset + token.length) === COLON) return token;
    const end = offset + token.length;
    while (h < hits.length && hits[h]![1] <= offset) h++;
    if (!(h < hits.length && hits[h]![0] < end) && !token.includes('\\')) return token;
    let r = done.get(token);
    if (r === undefined) {
      const s = JSON.parse(token) as string;
      const c = redact(s);
      done.set(token, (r = c === s ? token : JSON.stringify(c)));
    }
    return r;
  });
}

/**
 * A shallow copy of a run record for its columns and system index: its own string members and its
 * systems through `redact` (the rest is stored only in the record's JSON, `redactJson`).
 */
export function redactColumns<R extends { systems: string[] }>(record: R): R {
  const out: Record<string, unknown> = { ...record };
  for (const [k, v] of Object.entries(out)) if (typeof v === 'string') out[k] = redact(v);
  out.systems = record.systems.map(redact);
  return out as R;
}

const STRING_TOKEN = /"(?:[^"\\]|\\.)*"/g;
const COLON = 0x3a;

/** Where any of the patterns matches in `text`, with `more` such ranges, as sorted, disjoint [start, end) ranges. */
function matchedRanges(text: string, patterns: RegExp[], more: [number, number][]): [number, number][] {
  const all = more;
  for (const re of patterns) for (const m of text.matchAll(re)) all.push([m.index, m.index + Math.max(1, m[0].length)]);
  all.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of all) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}
