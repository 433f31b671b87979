/** Plan as text for terminals: one block per system, coloured when writing to a TTY. */
import { deletedSystems, type Plan, type PlannedAction } from '../types';
import { formatChange, readOnlyLines, scopeLine } from './values';

const SYMBOL: Record<PlannedAction['action'], string> = {
  create: '+',
  update: '~',
  replace: '-/+',
  delete: '-',
  adopt: '<=',
  noop: '=',
};
const COLOUR: Record<PlannedAction['action'] | 'blocked', number> = {
  create: 32,
  update: 33,
  replace: 35,
  delete: 31,
  adopt: 36,
  noop: 90,
  blocked: 91,
};

export function renderText(plan: Plan, opts: { colour: boolean; showNoop?: boolean }): string {
  const paint = (code: number, s: string) => (opts.colour ? `\u001b[${code}m${s}\u001b[0m` : s);
  const lines: string[] = [];
  const ro = readOnlyLines(plan);
  if (ro.header) lines.push(paint(1, ro.header));
  if (plan.scope) lines.push(paint(1, scopeLine(plan.scope)));
  if (ro.notUsedTitle) lines.push(paint(1, `${ro.notUsedTitle}:`), ...ro.notUsed.map((l) => `  ~ ${l}`));
  for (const [kind, about] of Object.entries(plan.backends ?? {})) {
    lines.push(
      paint(
        90,
        `${kind}: ${Object.entries(about)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      ),
    );
  }
  const bySystem = groupBySystem(plan.actions.filter((a) => opts.showNoop || a.action !== 'noop' || a.blocked));
  for (const [system, actions] of bySystem) {
    lines.push(paint(1, system));
    for (const a of actions) {
      const colour = a.blocked ? COLOUR.blocked : COLOUR[a.action];
      const flags = [a.needsPowerOff ? 'needs power-off' : '', a.needsReboot ? 'needs reboot' : '']
        .filter(Boolean)
        .join(', ');
      lines.push(
        `  ${paint(colour, `${SYMBOL[a.action]} ${a.kind} ${a.action}`)}${a.resourceId ? ` ${a.resourceId}` : ''}: ${a.reason}${flags ? ` [${flags}]` : ''}`,
      );
      if (a.blocked) lines.push(`      ${paint(COLOUR.blocked, `BLOCKED: ${a.blocked}`)}`);
      for (const c of a.changes) lines.push(`      ${formatChange(c, a.blocked)}`);
    }
  }
  if (plan.warnings.length) {
    lines.push(paint(1, 'Warnings'));
    for (const w of plan.warnings) lines.push(`  ! ${w.system} ${w.kind} ${w.resourceId}: ${w.message}`);
  }
  const s = plan.summary;
  lines.push(
    `Plan: ${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete, ${s.adopt ? `${s.adopt} to adopt, ` : ''}${s.noop} unchanged` +
      (s.blocked ? `, ${paint(COLOUR.blocked, `${s.blocked} blocked`)}` : '') +
      (plan.commit
        ? ` (commit ${plan.commit.slice(0, 12)}${plan.dirty ? ' plus uncommitted changes in the working tree: this plan is of the files on disk, not of that commit' : ''})`
        : ''),
  );
  const deleting = deletedSystems(plan).length;
  if (deleting > plan.maxDeletes) {
    lines.push(
      paint(
        COLOUR.blocked,
        `Apply will refuse this plan: it deletes ${deleting} systems, more than --max-deletes ${plan.maxDeletes}.`,
      ),
    );
  }
  return lines.join('\n') + '\n';
}

export function groupBySystem(actions: PlannedAction[]): Map<string, PlannedAction[]> {
  const out = new Map<string, PlannedAction[]>();
  for (const a of actions) out.set(a.system, [...(out.get(a.system) ?? []), a]);
  return out;
}
