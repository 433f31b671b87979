/** Shared formatting of plan values for the text and Markdown renderers. */
import type { FieldChange } from '../../engine/contract';

export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '(none)';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

export function formatChange(c: FieldChange): string {
  const src = c.source ? ` (${c.source})` : '';
  const flags = [c.forcesReplace ? 'forces replace' : '', c.needsPowerOff ? 'needs power-off' : '', c.needsReboot ? 'needs reboot' : '', c.refused ? `refused: ${c.refused}` : '']
    .filter(Boolean)
    .join(', ');
  const from = c.from === null || c.from === undefined ? '' : `${formatValue(c.from)} → `;
  return `${c.path}: ${from}${formatValue(c.to)}${src}${flags ? ` [${flags}]` : ''}`;
}
