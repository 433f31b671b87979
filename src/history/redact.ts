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
 * `unchanged`…): each distinct one is redacted once per record. The copy is JSON's own (dates as text,
 * undefined left out); its strings are then replaced in place, which costs a fraction of a JSON.parse
 * reviver on a 700-action plan.
 */
export function redactRecord<T>(value: T): T {
  const done = new Map<string, string>();
  const clean = (v: string): string => {
    let r = done.get(v);
    if (r === undefined) done.set(v, (r = redact(v)));
    return r;
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return clean(v);
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) v[i] = walk(v[i]);
    else if (v && typeof v === 'object')
      for (const k of Object.keys(v)) {
        const r = walk((v as Record<string, unknown>)[k]);
        // A `__proto__` member JSON.parse made is an own property: set it as one, not as the prototype.
        if (k === '__proto__')
          Object.defineProperty(v, k, { value: r, enumerable: true, writable: true, configurable: true });
        else (v as Record<string, unknown>)[k] = r;
      }
    return v;
  };
  return walk(JSON.parse(JSON.stringify(value) ?? 'null')) as T;
}
