import * as crypto from 'node:crypto';

/**
 * SHA-256 of a text (UTF-8) or bytes, as hex. `crypto.hash` (Node 20.12 and later) is the one-shot form:
 * a plan hashes a few thousand small texts, and a Hash object for each cost several times the hashing.
 */
const oneShot = (crypto as { hash?: (alg: string, data: string | Buffer, enc: 'hex') => string }).hash;
export function sha256Hex(data: string | Buffer): string {
  return oneShot ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}

/**
 * JSON with object keys sorted, so equal data always gives equal text (and equal digests). Written
 * directly: the very text of `JSON.stringify` of a copy with sorted keys (undefined members left out,
 * integer-like keys first in numeric order as JavaScript objects keep them, Dates as their JSON),
 * without building that copy for each of a plan's hundreds of digests.
 */
export function stableStringify(value: unknown): string {
  return write(value)!;
}

const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;
/** Only a key starting with a digit can be an array index: the regex runs for those alone. */
const isIndex = (k: string) => {
  const c = k.charCodeAt(0);
  return c >= 48 && c <= 57 && ARRAY_INDEX.test(k) && Number(k) < 4294967295;
};
/** Keys as JSON writes them (`"name":`): a plan's objects repeat a few hundred keys thousands of times. */
const quotedKeys = new Map<string, string>();
function quotedKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = JSON.stringify(k) + ':';
    if (quotedKeys.size < 10_000) quotedKeys.set(k, q);
  }
  return q;
}

function write(v: unknown): string | undefined {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + (write(v[i]) ?? 'null');
    return s + ']';
  }
  if (v instanceof Date) return JSON.stringify(v);
  let keys = Object.keys(v);
  if (keys.length > 1) keys.sort();
  let indices = false;
  for (const k of keys) if (isIndex(k)) indices = true;
  if (indices)
    keys = [...keys.filter(isIndex).sort((a, b) => Number(a) - Number(b)), ...keys.filter((k) => !isIndex(k))];
  let s = '{';
  let first = true;
  for (const k of keys) {
    // A copy's `__proto__` member would set its prototype, not a key: left out as JSON.stringify of it leaves it.
    if (k === '__proto__') continue;
    const t = write((v as Record<string, unknown>)[k]);
    if (t === undefined) continue;
    s += first ? quotedKey(k) + t : ',' + quotedKey(k) + t;
    first = false;
  }
  return s + '}';
}

export function digest(value: unknown): string {
  return 'sha256:' + sha256Hex(stableStringify(value));
}

/**
 * The two digests a planned action carries, so a saved plan is checked per action (README "Plan JSON"):
 * `observedDigest` covers what the action touches — every resource of its kind observed for its system
 * (owned or not, without the provider's private handle) — and the values earlier steps hand it from their
 * own observations (an address from the IPAM, a VM's host); `desiredDigest` covers what it is to reach:
 * the system as expanded from its manifest and profiles, the provider's desired fields (role contents
 * included) and the site config. A change anywhere else leaves both equal.
 */
export function actionDigests(input: {
  found: { handle?: unknown }[];
  resolved: unknown;
  desired: unknown;
  system: { sources?: unknown };
  site: { root?: unknown };
  /** Texts of the site and systems already made in this plan (`digestTexts()`): each is stringified once. */
  texts?: DigestTexts;
}): { observedDigest: string; desiredDigest: string } {
  // A VM's boot time only says which boot a cached read belongs to: a reboot changes no action.
  const resolved =
    input.resolved && typeof input.resolved === 'object'
      ? { ...(input.resolved as object), vmBootTime: undefined }
      : input.resolved;
  return {
    observedDigest: digest({ resources: input.found.map(({ handle: _h, ...r }) => r), resolved }),
    desiredDigest: desiredDigest(input.system, input.desired, input.site, input.texts ?? digestTexts()),
  };
}

/**
 * The texts of the site and of each system, made once per object for one plan: a plan digests every
 * action's desired state, and the site config (with the system) is most of each; stringifying it
 * again for each of 700 actions was most of a 100-system plan's digest time.
 */
export type DigestTexts = WeakMap<object, string>;
export const digestTexts = (): DigestTexts => new WeakMap();
function textOnce(texts: DigestTexts, key: object, make: () => string): string {
  let t = texts.get(key);
  if (t === undefined) texts.set(key, (t = make()));
  return t;
}

/**
 * `digest({ system, desired, site })` with the system's sources and the site's root and file left out (where
 * the repo is, not what it asks for), built
 * from the memoised texts: the very same text (keys in sorted order, undefined left out), so digests
 * of saved plans do not change.
 */
function desiredDigest(
  system: { sources?: unknown },
  desired: unknown,
  site: { root?: unknown },
  texts: DigestTexts,
): string {
  const parts: string[] = [];
  const d = stableStringify(desired);
  if (d !== undefined) parts.push(`"desired":${d}`);
  parts.push(`"site":${textOnce(texts, site, () => stableStringify({ ...site, root: undefined, file: undefined }))}`);
  parts.push(
    `"system":${textOnce(texts, system, () => {
      const { sources: _s, ...rest } = system;
      return stableStringify(rest);
    })}`,
  );
  return 'sha256:' + sha256Hex(`{${parts.join(',')}}`);
}
