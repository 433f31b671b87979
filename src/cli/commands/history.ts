/** `shipshape history` and `shipshape show RUN`: read the run history of the state dir (no backend contacted). */
import { UserError } from '../../engine/contract';
import { openHistory, type HistoryStore } from '../../history/store';
import type { RunRecord, RunSummary } from '../../history/types';
import { renderDriftMarkdown, renderDriftText } from '../../plan/render/drift';
import { renderMarkdown, renderText } from '../../plan/render';
import type { Io } from '../io';
import { stateDir } from '../pipeline';

export type Format = 'text' | 'markdown' | 'json';

export interface HistoryOptions {
  stateDir?: string;
  system?: string;
  since?: string;
  kind?: 'plan' | 'apply' | 'drift';
  limit?: number;
  format: Format;
}

function openStore(dir?: string): Promise<HistoryStore> {
  return openHistory(stateDir(dir), { mustExist: true });
}

/** `--since`: an ISO date/time, or a duration back from now (30m, 24h, 7d). */
export function parseSince(v: string, now = new Date()): Date {
  const m = /^(\d+)\s*(m|h|d|w)$/.exec(v.trim());
  if (m)
    return new Date(
      now.getTime() -
        Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'm' | 'h' | 'd' | 'w'],
    );
  const d = new Date(v);
  if (Number.isNaN(d.getTime()))
    throw new UserError(
      `--since "${v}": write a date (2026-11-30, 2026-11-30T08:00Z) or a duration back from now (30m, 24h, 7d)`,
    );
  return d;
}

export async function historyCommand(o: HistoryOptions, io: Io): Promise<number> {
  const store = await openStore(o.stateDir);
  try {
    const runs = await store.list({
      ...(o.system ? { system: o.system } : {}),
      ...(o.kind ? { kind: o.kind } : {}),
      ...(o.since ? { since: parseSince(o.since) } : {}),
      limit: o.limit ?? 50,
    });
    if (o.format === 'json') io.out(JSON.stringify({ runs }, null, 2) + '\n');
    else if (o.format === 'markdown') io.out(historyMarkdown(runs));
    else io.out(historyText(runs));
    return 0;
  } finally {
    await store.close();
  }
}

export function counts(r: RunSummary): string {
  if (r.error) return r.error.split('\n')[0]!.slice(0, 100);
  if (r.kind === 'drift' && r.status === 'drift')
    return `drift on ${r.systems.length ? r.systems.join(', ') : 'the estate (backends disagree)'}`;
  if (r.kind === 'drift' && r.status === 'ok') return 'no drift';
  if (r.applied)
    return `${r.applied.create} created, ${r.applied.update} updated, ${r.applied.replace} replaced, ${r.applied.delete} deleted${r.summary?.blocked ? `, ${r.summary.blocked} blocked` : ''}`;
  if (r.summary) {
    const s = r.summary;
    return `plan: ${s.create} create, ${s.update} update, ${s.replace} replace, ${s.delete} delete${s.blocked ? `, ${s.blocked} blocked` : ''}`;
  }
  return '';
}

const seconds = (ms?: number) => (ms === undefined ? '' : `${(ms / 1000).toFixed(1)}s`);

function historyText(runs: RunSummary[]): string {
  if (!runs.length) return 'No runs match.\n';
  const head = ['RUN', 'STARTED (UTC)', 'KIND', 'STATUS', 'TRIGGER', 'COMMIT', 'WHO', 'TOOK', 'RESULT'];
  const rows = runs.map((r) => [
    String(r.id),
    r.startedAt.replace('T', ' ').slice(0, 19),
    r.kind,
    r.status,
    r.trigger,
    (r.commit ?? '').slice(0, 12) + (r.dirty ? '+dirty' : ''),
    r.author?.replace(/ <.*>$/, '') ?? r.user,
    seconds(r.durationMs),
    counts(r),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((l) => l[i]!.length)));
  return (
    [head, ...rows]
      .map((l) =>
        l
          .map((c, i) => (i === l.length - 1 ? c : c.padEnd(width[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function historyMarkdown(runs: RunSummary[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return (
    [
      '| run | started (UTC) | kind | status | trigger | commit | who | took | result |',
      '|---|---|---|---|---|---|---|---|---|',
      ...runs.map(
        (r) =>
          `| ${r.id} | ${r.startedAt.slice(0, 19)} | ${r.kind} | ${r.status} | ${esc(r.trigger)} | ${(r.commit ?? '').slice(0, 12)} | ${esc(r.author ?? r.user)} | ${seconds(r.durationMs)} | ${esc(counts(r))} |`,
      ),
    ].join('\n') + '\n'
  );
}

export async function showCommand(id: string, o: { stateDir?: string; format: Format }, io: Io): Promise<number> {
  if (!/^\d+$/.test(id)) throw new UserError(`run "${id}": a run is its number, as \`shipshape history\` lists it`);
  const store = await openStore(o.stateDir);
  try {
    const r = await store.get(Number(id));
    if (!r) throw new UserError(`there is no run ${id} in ${store.location} (it may be older than the retention)`);
    io.out(o.format === 'json' ? JSON.stringify(r, null, 2) + '\n' : showText(r, o.format === 'markdown'));
    return 0;
  } finally {
    await store.close();
  }
}

function showText(r: RunRecord, md: boolean): string {
  const out: string[] = [];
  const h = md ? '## ' : '';
  out.push(`${h}Run ${r.id}: ${r.kind} ${r.status}`);
  const facts: [string, string][] = [
    ['trigger', r.trigger],
    ['source', r.source],
    ...(r.commit
      ? [
          [
            'commit',
            `${r.commit}${r.dirty ? ' (with uncommitted changes in the working tree)' : ''}${r.author ? ` by ${r.author}` : ''}`,
          ] as [string, string],
        ]
      : []),
    ['who', `${r.user}@${r.host}`],
    ['started', r.startedAt],
    [
      'ended',
      `${r.endedAt ?? (r.status === 'running' ? '(still running)' : '(did not finish: the process ended during the run)')}${r.durationMs !== undefined ? ` (${seconds(r.durationMs)})` : ''}`,
    ],
  ];
  if (md) {
    // A list and a code block: plain lines would run together into one paragraph where the Markdown is shown.
    out.push('', ...facts.map(([k, v]) => `- **${k}:** ${v}`));
    if (r.error) out.push('', '**error:**', '', '```', r.error, '```');
  } else {
    out.push(...facts.map(([k, v]) => `${`${k}:`.padEnd(10)}${v}`));
    if (r.error) out.push(`error:    ${r.error.split('\n').join('\n          ')}`);
  }
  const changed = (r.outcomes ?? []).filter((o) => o.steps.length || o.status !== 'unchanged');
  if (changed.length) {
    out.push('', `${h}Result per system`);
    for (const o of changed) {
      out.push(
        `${md ? '- ' : ''}${o.status.padEnd(9)} ${o.system}${o.error ? ` (${o.error.kind}: ${o.error.message})` : ''}`,
      );
      for (const s of o.steps)
        out.push(
          `${md ? '  - ' : '            '}${s.kind.padEnd(10)} ${s.action.padEnd(7)} ${s.status.padEnd(7)} ${seconds(s.ms)}`,
        );
    }
  }
  if (r.drift) out.push('', `${h}Drift`, (md ? renderDriftMarkdown(r.drift) : renderDriftText(r.drift)).trimEnd());
  if (r.plan) out.push('', `${h}Plan`, (md ? renderMarkdown(r.plan) : renderText(r.plan, { colour: false })).trimEnd());
  return out.join('\n') + '\n';
}
