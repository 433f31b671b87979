/**
 * Generic field diff for providers: compares only the keys the desired side names (the fields
 * the manifest owns), so anything else a backend reports (placement, guest-reported values)
 * can never show up as a change. Per-field rules say what a change implies.
 */
import type { FieldChange, Fields } from '../engine/contract';
import { stableStringify } from './digest';

export interface FieldRule {
  forcesReplace?: boolean;
  needsPowerOff?: boolean | ((from: unknown, to: unknown) => boolean);
  needsReboot?: boolean;
  /** Return a reason to refuse this change (e.g. shrinking a disk), or undefined to allow it. */
  refuse?: (from: unknown, to: unknown) => string | undefined;
}

export function equalValues(a: unknown, b: unknown): boolean {
  return stableStringify(a ?? null) === stableStringify(b ?? null);
}

export function diffFields(desired: Fields, observed: Fields, rules: Record<string, FieldRule> = {}): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const path of Object.keys(desired).sort()) {
    const to = desired[path];
    const from = observed[path];
    if (equalValues(from, to)) continue;
    const rule = rules[path] ?? {};
    const change: FieldChange = { path, from: from ?? null, to };
    if (rule.forcesReplace) change.forcesReplace = true;
    const pw = typeof rule.needsPowerOff === 'function' ? rule.needsPowerOff(from, to) : rule.needsPowerOff;
    if (pw) change.needsPowerOff = true;
    if (rule.needsReboot) change.needsReboot = true;
    const refused = rule.refuse?.(from, to);
    if (refused) change.refused = refused;
    changes.push(change);
  }
  return changes;
}
