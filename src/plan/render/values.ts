/** Shared formatting of plan values for the text and Markdown renderers. */
import type { FieldChange } from '../../engine/contract';
import type { Plan } from '../types';

export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '(none)';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** `blocked`: the action's BLOCKED sentence, shown above the changes; a refusal it already says is not said again. */
export function formatChange(c: FieldChange, blocked?: string): string {
  const src = c.source ? ` (${c.source})` : '';
  const flags = [
    c.forcesReplace ? 'forces replace' : '',
    c.needsPowerOff ? 'needs power-off' : '',
    c.needsReboot ? 'needs reboot' : '',
    c.refused ? (blocked?.includes(c.refused) ? 'refused' : `refused: ${c.refused}`) : '',
    c.after && !c.refused ? `after ${c.after} frees it` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const from = c.from === null || c.from === undefined ? '' : `${formatValue(c.from)} → `;
  return `${c.path}: ${from}${formatValue(c.to)}${src}${flags ? ` [${flags}]` : ''}`;
}

/** The header lines of a read-only / merge-request plan, and the trusted-file changes it did not use. */
export function readOnlyLines(plan: Plan): { header?: string; notUsedTitle?: string; notUsed: string[] } {
  if (!plan.readOnly && !plan.trusted) return { notUsed: [] };
  const t = plan.trusted;
  const header =
    'read-only plan (--read-only): observed by reading only, nothing ran on a managed host' +
    (t
      ? `; site config, roles and OS catalog from ${t.base} (${t.commit.slice(0, 12)}), systems and profiles from the branch`
      : '');
  if (!t || t.notUsed.length === 0) return { header, notUsed: [] };
  const shown = t.notUsed
    .slice(0, 50)
    .map((c) => `${c.file} (${c.status}${c.added !== undefined ? `, +${c.added} -${c.removed}` : ', binary'})`);
  const notUsed = t.notUsed.length > shown.length ? [...shown, `… and ${t.notUsed.length - shown.length} more`] : shown;
  return {
    header,
    notUsedTitle: 'changes to trusted files, not used for this plan; applied only after merge',
    notUsed,
  };
}

/** The header line of a narrowed plan: only what the flags select is planned, applied or reported. */
export function scopeLine(scope: string): string {
  return `scoped plan (${scope}): other systems and steps are left as they are`;
}
