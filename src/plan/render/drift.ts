/** Drift report as text, Markdown or JSON. */
import type { DriftReport } from '../drift';
import { formatValue } from './values';

export function renderDriftText(r: DriftReport): string {
  const lines: string[] = [];
  for (const i of r.items) {
    lines.push(
      `${i.system} ${i.kind}${i.resourceId ? ` ${i.resourceId}` : ''}: ${i.path} is ${formatValue(i.actual)}, manifest wants ${formatValue(i.desired)}${i.source ? ` (${i.source})` : ''}; first seen ${i.firstSeen}`,
    );
  }
  for (const o of r.orphans) lines.push(`${o.system} ${o.kind} ${o.resourceId}: ${o.message}`);
  for (const d of r.disagreements)
    lines.push(
      `${d.system}: backends disagree on the ${d.what === 'ip' ? 'address' : 'MAC'}: ${describeValues(d.values)}`,
    );
  if (r.pending.length) lines.push(`Not yet applied (not drift): ${r.pending.join(', ')}`);
  const unmanaged = r.unmanaged ?? [];
  if (unmanaged.length)
    lines.push(
      `Unmanaged (not drift; \`shipshape import\` writes manifests for them): ${unmanaged.map((u) => `${u.kind} ${u.resourceId}`).join(', ')}`,
    );
  lines.push(
    r.drifted
      ? `Drift: ${r.items.length} field(s) differ, ${r.orphans.length} marked resource(s) without a manifest, ${r.disagreements.length} disagreement(s) between backends.`
      : 'No drift: the world matches the manifests.',
  );
  return lines.join('\n') + '\n';
}

export function renderDriftMarkdown(r: DriftReport): string {
  const esc = (s: string) => s.replace(/[|<>]/g, (c) => ({ '|': '\\|', '<': '&lt;', '>': '&gt;' })[c] as string);
  const out = ['### shipshape drift report' + (r.commit ? ` at \`${r.commit.slice(0, 12)}\`` : ''), ''];
  if (!r.drifted) out.push('No drift: the world matches the manifests.', '');
  if (r.items.length) {
    out.push('| system | kind | field | actual | desired | source | first seen |', '|---|---|---|---|---|---|---|');
    for (const i of r.items)
      out.push(
        `| ${esc(i.system)} | ${i.kind} | ${esc(i.path)} | ${esc(formatValue(i.actual))} | ${esc(formatValue(i.desired))} | ${esc(i.source ?? '')} | ${i.firstSeen} |`,
      );
    out.push('');
  }
  if (r.orphans.length) {
    out.push('#### Marked resources that no manifest names', '');
    for (const o of r.orphans) out.push(`- \`${esc(o.system)}\` ${o.kind} \`${esc(o.resourceId)}\``);
    out.push('');
  }
  if (r.disagreements.length) {
    out.push('#### Backends that disagree', '', '| system | what | values |', '|---|---|---|');
    for (const d of r.disagreements)
      out.push(`| ${esc(d.system)} | ${d.what === 'ip' ? 'address' : 'MAC'} | ${esc(describeValues(d.values))} |`);
    out.push('');
  }
  if (r.pending.length) out.push(`Not yet applied (not drift): ${r.pending.map(esc).join(', ')}`, '');
  if (r.unmanaged?.length) {
    out.push('#### Unmanaged resources in the managed scope (not drift)', '');
    for (const u of r.unmanaged) out.push(`- \`${esc(u.system)}\` ${u.kind} \`${esc(u.resourceId)}\``);
    out.push('');
  }
  return out.join('\n');
}

function describeValues(values: Record<string, string | undefined>): string {
  return Object.entries(values)
    .map(([kind, v]) => `${kind} ${v}`)
    .join(', ');
}

export function renderDriftJson(r: DriftReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}
