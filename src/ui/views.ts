/**
 * The status page's views, pure functions of what the state dir holds: the estate snapshot of the
 * last run that observed the backends, the run history, the latest drift report and the install
 * records. No backend is contacted to render a page.
 */
import type { InstallRecord } from '../providers/install/state';
import type { DriftReport } from '../plan/drift';
import type { EstateSnapshot, RunRecord, RunSummary } from '../history/types';
import { counts } from '../cli/commands/history';
import type { FieldChange } from '../engine/contract';
import { formatValue } from '../plan/render/values';
import { ago, badge, html, table, time, toneOf, type Html } from './html';

export interface ViewData {
  estate?: EstateSnapshot;
  runs: RunSummary[];
  drift?: { run: RunSummary; report: DriftReport };
  installs: InstallRecord[];
  now: number;
  /** Set when the viewer is signed in and may apply the pending plan (apply-button.ts). */
  apply?: { user: string; plan: string; token: string };
}

type Observed = NonNullable<EstateSnapshot['observed']['vm']>[number];

function byKind(
  estate: EstateSnapshot | undefined,
): (kind: keyof EstateSnapshot['observed'], system: string) => Observed | undefined {
  const index = new Map<string, Observed>();
  for (const [kind, rows] of Object.entries(estate?.observed ?? {}))
    for (const r of rows ?? []) if (r.owned && !r.retired) index.set(`${kind}/${r.system}`, r);
  return (kind, system) => index.get(`${kind}/${system}`);
}

const f = (o: Observed | undefined, k: string): unknown => o?.fields[k];

export function estateView(d: ViewData): Html {
  const e = d.estate;
  const get = byKind(e);
  const installs = new Map(d.installs.map((i) => [i.system, i]));
  const drifted = new Map<string, number>();
  for (const i of d.drift?.report.items ?? []) drifted.set(i.system, (drifted.get(i.system) ?? 0) + 1);
  const pendingBy = new Map<string, string[]>();
  for (const a of e?.pending.actions ?? [])
    if (a.action !== 'noop' || a.blocked)
      pendingBy.set(a.system, [...(pendingBy.get(a.system) ?? []), `${a.kind} ${a.blocked ? 'blocked' : a.action}`]);
  const names = [...new Set([...(e?.systems.map((s) => s.name) ?? []), ...d.installs.map((i) => i.system)])].sort();
  const declared = new Map(e?.systems.map((s) => [s.name, s]) ?? []);
  const lastRun = d.runs[0];
  const failing = d.runs.filter((r) => r.status === 'failed' || r.status === 'error').length;

  const rows = names.map((name) => {
    const s = declared.get(name);
    const vm = get('vm', name);
    const ip = get('ip', name);
    const dns = get('dns', name);
    const dhcp = get('dhcp', name);
    const spec = get('specialise', name);
    const inst = installs.get(name);
    const nDrift = drifted.get(name) ?? 0;
    const pend = pendingBy.get(name) ?? [];
    const state =
      s?.state === 'absent'
        ? badge('retired', 'muted')
        : nDrift
          ? badge('drifted', 'bad')
          : pend.length
            ? badge('pending', 'warn')
            : vm || ip
              ? badge('in sync', 'ok')
              : badge('unknown', 'info');
    const roles = spec
      ? Object.keys(spec.fields)
          .filter((k) => k.startsWith('roles.'))
          .map((k) => k.slice(6))
      : [];
    return html`<tr data-system="${name}">
      <th scope="row">
        <a href="/systems/${encodeURIComponent(name)}">${name}</a
        >${s ? '' : html` <span class="sub">(no manifest)</span>`}
      </th>
      <td>${state}${nDrift ? html` <span class="sub">${nDrift} field(s)</span>` : ''}</td>
      <td>
        ${vm ? html`${badge(String(f(vm, 'power')), toneOf(String(f(vm, 'power'))))} <span class="sub">${f(vm, 'cpu')} CPU · ${Math.round(Number(f(vm, 'memoryMiB')) / 1024)} GiB</span>` : html`<span class="empty">none</span>`}
      </td>
      <td>${(f(ip, 'ip') as string) ?? html`<span class="empty">none</span>`}</td>
      <td>
        ${dns ? html`${f(dns, 'fqdn')}${(f(dns, 'aliases') as string[] | undefined)?.length ? html` <span class="sub">+${(f(dns, 'aliases') as string[]).length} alias</span>` : ''}` : html`<span class="empty">none</span>`}
      </td>
      <td>
        ${dhcp ? html`${f(dhcp, 'mac')} <span class="sub">${((f(dhcp, 'servers') as string[]) ?? []).join(', ')}</span>` : html`<span class="empty">none</span>`}
      </td>
      <td>
        ${inst ? html`${badge(inst.state, toneOf(inst.state))} <span class="sub">attempt ${inst.attempt}, ${ago(inst.updatedAt, d.now)}</span>` : html`<span class="empty">—</span>`}
      </td>
      <td class="wrap">${(s?.roles ?? []).map((r) => roleCell(r, roles, spec))}</td>
      <td class="wrap">${pend.length ? pend.join(', ') : html`<span class="empty">nothing</span>`}</td>
    </tr>`;
  });

  const warnings = e?.warnings ?? [];
  return html`
    <h2 id="summary">At a glance</h2>
    <p class="meta">
      ${e ? html`Estate as observed by run <a href="/runs/${e.runId}">#${e.runId}</a>, ${time(e.takenAt)} (${ago(e.takenAt, d.now)}), commit <code>${(e.commit ?? 'unknown').slice(0, 12)}</code>${e.dirty ? html` ${badge('uncommitted changes', 'warn')}` : ''}.` : 'Nothing observed yet: run shipshape plan, apply or drift (or serve).'}
    </p>
    <div class="cards">
      <div class="card"><b>${names.length}</b> systems</div>
      <div class="card"><b>${drifted.size}</b> drifted</div>
      <div class="card"><b>${pendingBy.size}</b> with pending changes</div>
      <div class="card"><b>${warnings.length}</b> orphans / unmanaged</div>
      <div class="card">
        <b>${lastRun ? badge(lastRun.status, toneOf(lastRun.status)) : '—'}</b> last
        run${lastRun ? html` <span class="sub">${ago(lastRun.endedAt ?? lastRun.startedAt, d.now)}</span>` : ''}
      </div>
      <div class="card"><b>${failing}</b> failed of the last ${d.runs.length} runs</div>
    </div>

    <h2 id="systems">Systems <span class="count">(${names.length})</span></h2>
    ${table(
      ['System', 'State', 'VM', 'Address', 'DNS', 'DHCP', 'Install', 'Roles', 'Pending'],
      rows.length
        ? rows
        : [
            html`<tr>
              <td colspan="9" class="empty">No systems known yet.</td>
            </tr>`,
          ],
      { labelledBy: 'systems' },
    )}
    ${driftSection(d.drift, d.now)}

    <h2 id="orphans">Orphans and unmanaged resources <span class="count">(${warnings.length})</span></h2>
    ${
      warnings.length
        ? table(
            ['System', 'Kind', 'Resource', 'What', 'Why'],
            warnings.map(
              (w) =>
                html`<tr>
                  <td>${w.system}</td>
                  <td>${w.kind}</td>
                  <td>${w.resourceId}</td>
                  <td>${badge(w.code, w.code === 'orphan' ? 'warn' : 'info')}</td>
                  <td class="wrap">${w.message}</td>
                </tr>`,
            ),
            { labelledBy: 'orphans' },
          )
        : html`<p class="empty">None: every resource seen is declared and ours.</p>`
    }
    ${pendingSection(e, d.apply)}

    <h2 id="runs">Last runs</h2>
    ${runsTable(d.runs.slice(0, 15), d.now)}
  `;
}

/**
 * One role of a system: applied (✓) or not run yet, and the result of its check as the last run saw it
 * (the specialise step runs each role's check on the target while observing: `check.<role>`).
 */
function roleCell(role: string, applied: string[], spec: Observed | undefined): Html {
  const name = role.replace(/@.*$/, '');
  const check = spec?.fields[`check.${name}`];
  const ran = applied.length ? (applied.some((x) => role.startsWith(x)) ? ' ✓' : ' (not run)') : '';
  return html`<span
    >${role}${ran}${
      check === undefined
        ? ''
        : html` ${badge(check === 'holds' ? 'check holds' : `check ${String(check)}`, check === 'holds' ? 'ok' : 'bad')}`
    }</span
  > `;
}

function driftSection(drift: ViewData['drift'], now: number): Html {
  if (!drift)
    return html`<h2 id="drift">Drift</h2>
      <p class="empty">No drift check has run yet (shipshape drift, or serve --mode drift).</p>`;
  const r = drift.report;
  return html`<h2 id="drift">
      Drift
      <span class="count"
        >(${r.items.length} field(s), checked by run
        <a href="/runs/${drift.run.id}">#${drift.run.id}</a> ${ago(drift.run.startedAt, now)})</span
      >
    </h2>
    ${
      r.items.length
        ? table(
            ['System', 'Kind', 'Field', 'Actual', 'Manifest', 'First seen'],
            r.items.map(
              (i) =>
                html`<tr class="drift-row" data-system="${i.system}">
                  <td><a href="/systems/${encodeURIComponent(i.system)}">${i.system}</a></td>
                  <td>${i.kind}</td>
                  <td>${i.path}</td>
                  <td>${badge(JSON.stringify(i.actual), 'bad')}</td>
                  <td>${JSON.stringify(i.desired)}${i.source ? html` <span class="sub">${i.source}</span>` : ''}</td>
                  <td>${time(i.firstSeen)} <span class="sub">${ago(i.firstSeen, now)}</span></td>
                </tr>`,
            ),
            { labelledBy: 'drift' },
          )
        : html`<p>${badge('no drift', 'ok')} Everything shipshape owns matches the manifests.</p>`
    }`;
}

function pendingSection(e: EstateSnapshot | undefined, apply?: ViewData['apply']): Html {
  const actions = (e?.pending.actions ?? []).filter((a) => a.action !== 'noop' || a.blocked);
  const doing = actions.filter((a) => !a.blocked);
  const deletes = doing.filter((a) => a.action === 'delete').length;
  const powerOffs = doing.filter((a) => a.needsPowerOff).length;
  const form = apply
    ? html`<form method="post" action="/apply" class="apply">
        <input type="hidden" name="plan" value="${apply.plan}" />
        <input type="hidden" name="token" value="${apply.token}" />
        <button type="submit">Apply this plan (${doing.length} change(s)) as ${apply.user}</button>
        ${
          deletes || powerOffs
            ? html`<span class="badge bad">${deletes} delete(s), ${powerOffs} power-off(s)</span>`
            : ''
        }
        <span class="sub">Only these actions; any whose resources changed since are refused.</span>
      </form>`
    : '';
  return html`<h2 id="pending">
      Pending plan
      <span class="count"
        >for commit ${(e?.commit ?? 'unknown').slice(0, 12)}${e?.dirty ? ' with uncommitted changes' : ''}</span
      >
    </h2>
    ${actions.length ? planTable(actions) : html`<p class="empty">No changes: the world matched the manifests at the last run.</p>`}
    ${form}`;
}

/** Old → new as the CLI's plan shows them: a create's new value alone, strings unquoted, nothing as (none). */
function changeValues(c: FieldChange): string {
  return c.from === null || c.from === undefined ? formatValue(c.to) : `${formatValue(c.from)} → ${formatValue(c.to)}`;
}

function planTable(actions: EstateSnapshot['pending']['actions']): Html {
  return table(
    ['System', 'Kind', 'Action', 'Changes', 'Why'],
    actions.map(
      (a) =>
        html`<tr>
          <td>${a.system}</td>
          <td>${a.kind}</td>
          <td>${badge(a.blocked ? 'blocked' : a.action, toneOf(a.blocked ? 'blocked' : a.action))}</td>
          <td class="wrap">
            ${a.changes.map((c) => html`<div>${c.path}: ${changeValues(c)}${c.source ? html` <span class="sub">${c.source}</span>` : ''}</div>`)}
          </td>
          <td class="wrap">${a.blocked ?? a.reason}</td>
        </tr>`,
    ),
  );
}

export function runsTable(runs: RunSummary[], now: number): Html {
  if (!runs.length) return html`<p class="empty">No runs recorded yet.</p>`;
  return table(
    ['Run', 'Started', 'Kind', 'Status', 'Trigger', 'Commit', 'Who', 'Took', 'Result'],
    runs.map(
      (r) =>
        html`<tr data-run="${r.id}">
          <td><a href="/runs/${r.id}">#${r.id}</a></td>
          <td>${time(r.startedAt)} <span class="sub">${ago(r.startedAt, now)}</span></td>
          <td>${r.kind}</td>
          <td>${badge(r.status, toneOf(r.status))}</td>
          <td>${r.trigger}</td>
          <td><code>${(r.commit ?? '').slice(0, 12)}</code>${r.dirty ? ' +dirty' : ''}</td>
          <td>${r.author?.replace(/ <.*>$/, '') ?? r.user}</td>
          <td>${r.durationMs !== undefined ? `${(r.durationMs / 1000).toFixed(1)}s` : ''}</td>
          <td class="wrap">${counts(r)}</td>
        </tr>`,
    ),
    { className: 'runs' },
  );
}

export function runView(r: RunRecord, now: number): Html {
  const outcomes = (r.outcomes ?? []).filter((o) => o.steps.length || o.status !== 'unchanged');
  return html`<h2>Run #${r.id}: ${r.kind} ${badge(r.status, toneOf(r.status))}</h2>
    <dl class="facts">
      <dt>Trigger</dt>
      <dd>${r.trigger}</dd>
      <dt>Source</dt>
      <dd>${r.source}</dd>
      <dt>Commit</dt>
      <dd>
        <code>${r.commit ?? 'unknown'}</code
        >${r.dirty ? html` ${badge('uncommitted changes', 'warn')}` : ''}${r.author ? ` by ${r.author}` : ''}
      </dd>
      <dt>Who</dt>
      <dd>${r.user}@${r.host}</dd>
      <dt>Started</dt>
      <dd>${time(r.startedAt)} (${ago(r.startedAt, now)})</dd>
      <dt>Ended</dt>
      <dd>
        ${r.endedAt ? html`${time(r.endedAt)} after ${((r.durationMs ?? 0) / 1000).toFixed(1)}s` : r.status === 'running' ? 'still running' : 'did not finish'}
      </dd>
      <dt>Result</dt>
      <dd>${counts(r)}</dd>
    </dl>
    ${
      r.error
        ? html`<h3>Error</h3>
            <pre>${r.error}</pre>`
        : ''
    }
    ${
      outcomes.length
        ? html`<h2 id="results">Result per system</h2>
            ${table(
              ['System', 'Status', 'Steps', 'Error'],
              outcomes.map(
                (o) =>
                  html`<tr>
                    <td><a href="/systems/${encodeURIComponent(o.system)}">${o.system}</a></td>
                    <td>${badge(o.status, toneOf(o.status))}</td>
                    <td class="wrap">
                      ${o.steps.map((s) => html`<div>${s.kind} ${s.action}: ${badge(s.status, toneOf(s.status))} <span class="sub">${(s.ms / 1000).toFixed(1)}s</span></div>`)}
                    </td>
                    <td class="wrap">${o.error ? `${o.error.kind}: ${o.error.message}` : ''}</td>
                  </tr>`,
              ),
              { labelledBy: 'results' },
            )}`
        : ''
    }
    ${r.drift ? driftSection({ run: r, report: r.drift }, now) : ''}
    ${
      r.plan
        ? html`<h2 id="plan">The plan it ${r.kind === 'apply' ? 'executed' : 'made'}</h2>
            ${(() => {
              const acts = r.plan.actions.filter((a) => a.action !== 'noop' || a.blocked);
              return acts.length ? planTable(acts) : html`<p class="empty">No changes.</p>`;
            })()}`
        : ''
    }`;
}

export function systemView(name: string, d: ViewData, runs: RunSummary[]): Html {
  const s = d.estate?.systems.find((x) => x.name === name);
  const observed = Object.entries(d.estate?.observed ?? {}).flatMap(([kind, rows]) =>
    (rows ?? []).filter((r) => r.system === name).map((r) => ({ kind, ...r })),
  );
  const inst = d.installs.find((i) => i.system === name);
  const drift = d.drift?.report.items.filter((i) => i.system === name) ?? [];
  return html`<h2>${name}</h2>
    ${
      s
        ? html`<dl class="facts">
            <dt>Manifest</dt>
            <dd>${s.file}</dd>
            <dt>State</dt>
            <dd>${s.state}</dd>
            <dt>OS</dt>
            <dd>${s.os}</dd>
            <dt>Size</dt>
            <dd>${s.cpu} CPU, ${s.memoryMiB} MiB</dd>
            <dt>Net</dt>
            <dd>${s.net}</dd>
            <dt>Roles</dt>
            <dd>${s.roles.join(', ') || 'none'}</dd>
            <dt>Labels</dt>
            <dd>
              ${
                Object.entries(s.labels)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(', ') || 'none'
              }
            </dd>
          </dl>`
        : html`<p class="meta">No manifest declares ${name}.</p>`
    }
    ${
      inst
        ? html`<h2>Installation</h2>
            <p>
              ${badge(inst.state, toneOf(inst.state))} attempt ${inst.attempt}, ${inst.os} by ${inst.bootPath}, since
              ${time(inst.updatedAt)}
            </p>`
        : ''
    }
    ${
      drift.length
        ? html`<h2>Drift</h2>
            <ul>
              ${drift.map((i) => html`<li>${i.kind} ${i.path}: ${JSON.stringify(i.actual)} (manifest ${JSON.stringify(i.desired)}), first seen ${time(i.firstSeen)}</li>`)}
            </ul>`
        : ''
    }
    <h2 id="backends">As each backend sees it</h2>
    ${
      observed.length
        ? table(
            ['Kind', 'Id', 'Ours', 'Fields'],
            observed.map(
              (o) =>
                html`<tr>
                  <td>${o.kind}</td>
                  <td>${o.id}</td>
                  <td>${o.owned ? (o.retired ? 'retired' : 'yes') : badge('not ours', 'info')}</td>
                  <td class="wrap">
                    ${Object.entries(o.fields).map(([k, v]) => html`<div>${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}</div>`)}
                  </td>
                </tr>`,
            ),
            { labelledBy: 'backends' },
          )
        : html`<p class="empty">Not observed in any backend.</p>`
    }
    <h2>History</h2>
    ${runsTable(runs, d.now)}`;
}
