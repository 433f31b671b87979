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

/** A JSON-able record with every string value through `redact` (walked, so the JSON itself stays intact). */
export function redactRecord<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(JSON.parse(JSON.stringify(value) ?? 'null')) as T;
}
