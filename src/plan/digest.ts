import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so equal data always gives equal text (and equal digests). */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as object).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function digest(value: unknown): string {
  return 'sha256:' + createHash('sha256').update(stableStringify(value)).digest('hex');
}
