/**
 * What the history stores passes the one redaction layer (src/redact: URL userinfo and every secret
 * this process resolved) and, because a record outlives the run and is shown on the status page, a
 * stricter pass on top: bearer tokens, `password=`/`secret:` pairs and crypt hashes that a backend
 * echoed back in an error.
 */
import { redact as redactOutput } from '../redact';

export function redact(text: string): string {
  return redactOutput(text)
    .replace(/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 (removed)')
    .replace(
      /\b(password|passwd|secret|token|api[_-]?key|apikey)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;}&]+)/gi,
      '$1$2(removed)',
    )
    .replace(/\$(1|5|6|y|2[aby])\$[A-Za-z0-9./=$,]{8,}/g, '(password hash removed)');
}

/**
 * A JSON-able record with every string value through `redact` (each value on its own, so the JSON
 * itself stays intact; keys as they are). A plan repeats most of its strings (kinds, field names,
 * `unchanged`…): each distinct one is redacted once per record.
 */
export function redactRecord<T>(value: T): T {
  const done = new Map<string, string>();
  return JSON.parse(JSON.stringify(value) ?? 'null', (_key, v: unknown) => {
    if (typeof v !== 'string') return v;
    let r = done.get(v);
    if (r === undefined) done.set(v, (r = redact(v)));
    return r;
  }) as T;
}
