/**
 * One redaction layer for everything shipshape writes: logs, errors, plans, drift reports, metrics,
 * health, provisioning logs and state files all pass `redact` on their way out. It removes
 * - URL userinfo (`https://user:token@host/…` → `https://[redacted]@host/…`), wherever a URL appears;
 * - every secret value this process resolved (`registerSecret`, called by the one place secrets are
 *   read, manifest/secrets.ts, and by the git source for credentials in a --repo URL).
 * Key-name redaction in the logger stays as a second line; this one works on the final text, so a
 * secret that reached a message, an error or a plan field by any path is still cut out.
 */

export const REDACTED = '[redacted]';

const secrets = new Set<string>();
let pattern: RegExp | undefined;

/** Values shorter than this are not secrets worth the false positives (a password `1` would eat every digit). */
const MIN_LENGTH = 4;

/** Remembers a resolved secret (and the forms it takes in URLs and JSON) so no output carries it. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < MIN_LENGTH) return;
  const forms = [value, value.trim(), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
  for (const v of forms)
    if (v.length >= MIN_LENGTH && !secrets.has(v)) {
      secrets.add(v);
      pattern = undefined;
    }
}

/** For tests: forget every registered secret. */
export function clearSecrets(): void {
  secrets.clear();
  pattern = undefined;
}

const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;

/** The secrets as one pattern, longest first (so a secret that contains another is removed whole). */
function secretPattern(): RegExp | undefined {
  if (!secrets.size) return undefined;
  pattern ??= new RegExp(
    [...secrets]
      .sort((a, b) => b.length - a.length)
      .map(escapeRe)
      .join('|'),
    'g',
  );
  return pattern;
}

export function redact(text: string): string {
  const out = text.replace(USERINFO, `$1${REDACTED}@`);
  const p = secretPattern();
  return p ? out.replace(p, REDACTED) : out;
}

/**
 * Where in `text` what `redact` replaces occurs, as [start, end) ranges (unsorted, may overlap): a text
 * with none comes out of `redact` as it went in. The secrets are looked for with indexOf: a regex
 * alternation of long literals (a private key) scanned a large text several times slower.
 */
export function redactableRanges(text: string): [number, number][] {
  const out: [number, number][] = [];
  for (const m of text.matchAll(USERINFO)) out.push([m.index, m.index + m[0].length]);
  for (const s of secrets)
    for (let i = text.indexOf(s); i >= 0; i = text.indexOf(s, i + 1)) out.push([i, i + s.length]);
  return out;
}

/** A JSON-able value with every string redacted (keys too). */
export function redactDeep<T>(value: T): T {
  return JSON.parse(redact(JSON.stringify(value) ?? 'null')) as T;
}

/** A URL without its userinfo, and what the userinfo held (for a credential helper). */
export function splitUserinfo(url: string): { url: string; username?: string; password?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  if (!u.username && !u.password) return { url };
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { url: u.toString(), ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
