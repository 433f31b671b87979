/**
 * Plan as Markdown for a merge-request comment: a summary table, one collapsible section per
 * system. Always under the comment limit: when the details would not fit, they are cut and a
 * pointer to the full JSON plan is left instead.
 */
import { deletedSystems, type Plan } from '../types';
import { groupBySystem } from './text';
import { formatChange, readOnlyLines, scopeLine } from './values';

export const MARKDOWN_LIMIT = 60_000;

export function renderMarkdown(plan: Plan, opts: { fullPlanHint?: string; limit?: number } = {}): string {
  const limit = opts.limit ?? MARKDOWN_LIMIT;
  const s = plan.summary;
  const head = [
    '### shipshape plan' +
      (plan.commit
        ? ` for \`${plan.commit.slice(0, 12)}\`${plan.dirty ? ' **plus uncommitted changes** (the files on disk, not that commit)' : ''}`
        : ''),
    '',
    `| create | update | replace | delete |${s.adopt ? ' adopt |' : ''} unchanged | blocked |`,
    `|---:|---:|---:|---:|${s.adopt ? '---:|' : ''}---:|---:|`,
    `| ${s.create} | ${s.update} | ${s.replace} | ${s.delete} |${s.adopt ? ` ${s.adopt} |` : ''} ${s.noop} | ${s.blocked} |`,
    '',
  ];
  for (const [kind, about] of Object.entries(plan.backends ?? {})) {
    head.push(
      `_${kind}: ${escapeMd(
        Object.entries(about)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      )}_`,
      '',
    );
  }
  const ro = readOnlyLines(plan);
  if (plan.scope) head.splice(1, 0, '', `_${escapeMd(scopeLine(plan.scope))}_`);
  if (ro.header) head.splice(1, 0, '', `_${escapeMd(ro.header)}_`);
  if (ro.notUsedTitle)
    head.push(
      `#### ${ro.notUsedTitle[0]!.toUpperCase()}${ro.notUsedTitle.slice(1)}`,
      '',
      ...ro.notUsed.map((l) => `- \`${escapeMd(l)}\``),
      '',
    );
  const deleting = deletedSystems(plan).length;
  if (deleting > plan.maxDeletes)
    head.push(
      `> **Apply will refuse this plan:** it deletes ${deleting} systems, more than the limit of ${plan.maxDeletes}.`,
      '',
    );
  const sections: string[] = [];
  for (const [system, actions] of groupBySystem(plan.actions.filter((a) => a.action !== 'noop' || a.blocked))) {
    const verbs = [...new Set(actions.map((a) => (a.blocked ? 'blocked' : a.action)))].join(', ');
    const body = actions.flatMap((a) => [
      `- **${a.kind} ${a.action}**${a.resourceId ? ` \`${escapeMd(a.resourceId)}\`` : ''}: ${escapeMd(a.reason)}${a.needsPowerOff ? ' _(needs power-off)_' : ''}`,
      ...(a.blocked ? [`  - :no_entry: **blocked:** ${escapeMd(a.blocked)}`] : []),
      ...a.changes.map((c) => `  - \`${escapeMd(formatChange(c, a.blocked)).replace(/`/g, "'")}\``),
    ]);
    sections.push(
      [
        '<details>',
        `<summary><b>${escapeHtml(system)}</b>: ${verbs}</summary>`,
        '',
        ...body,
        '',
        '</details>',
        '',
      ].join('\n'),
    );
  }
  const warnings = plan.warnings.length
    ? [
        '#### Warnings',
        '',
        ...plan.warnings.map(
          (w) => `- \`${escapeMd(w.system)}\` ${w.kind} \`${escapeMd(w.resourceId)}\`: ${escapeMd(w.message)}`,
        ),
        '',
      ]
    : [];
  const hint = opts.fullPlanHint ?? 'the JSON plan (`shipshape plan --format json`)';
  let out = head.join('\n') + '\n';
  const tail = warnings.join('\n');
  const cut = `\n_Details cut to fit the comment: ${sections.length} systems in all. The full plan is in ${hint}._\n`;
  let shown = 0;
  for (const section of sections) {
    if (out.length + section.length + tail.length + cut.length + 1 > limit) break;
    out += section + '\n';
    shown++;
  }
  if (shown < sections.length) out += cut;
  if (out.length + tail.length <= limit) out += tail;
  return out.length <= limit ? out : out.slice(0, limit - cut.length) + cut;
}

function escapeMd(s: string): string {
  return s.replace(/[<>|]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '|': '\\|' })[c] as string);
}
function escapeHtml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);
}
