/**
 * Records one run in the history store from where a command finishes it: begin() before anything
 * is loaded (so a run that fails early still leaves a record), planned() once the plan exists,
 * then finished() or failed(). Recording never fails the run: a store that cannot be written
 * (read-only state dir, full disk, PostgreSQL down) is said once on stderr and the run goes on.
 * Writes are queued in order behind one promise, so a command never waits on the store until its end.
 */
import { execFileSync } from 'node:child_process';
import { hostname, userInfo } from 'node:os';
import type { ApplyReport } from '../engine/apply';
import { processStart } from '../engine/lock';
import { applyFailed } from '../engine/outcome';
import type { Observation, ResourceKind } from '../engine/contract';
import type { DesiredSystem } from '../manifest/types';
import type { DriftReport } from '../plan/drift';
import type { Plan } from '../plan/types';
import { notifyRun, type Webhook } from '../notify/webhook';
import { redact } from './redact';
import { openHistory, type HistoryStore } from './store';
import type { EstateSnapshot, RunKind, RunRecord } from './types';

export interface RecorderOptions {
  stateDir: string;
  kind: RunKind;
  trigger?: string;
  source: string;
  /** Runs older than this many days are deleted when a run finishes (0: keep everything). */
  retentionDays?: number;
  webhooks?: Webhook[];
  onRecorded?: (r: RunRecord) => void;
  warn: (line: string) => void;
}

export class RunRecorder {
  private store?: HistoryStore;
  private record?: RunRecord;
  private readonly started = Date.now();
  /** Every store call runs after the previous one; a failure disables the store for the rest of the run. */
  private queue: Promise<void>;

  constructor(private readonly opts: RecorderOptions) {
    const procStart = processStart(process.pid);
    const r: Omit<RunRecord, 'id'> = {
      kind: opts.kind,
      trigger: opts.trigger ?? process.env.SHIPSHAPE_TRIGGER ?? 'cli',
      source: opts.source,
      user: safeUser(),
      host: hostname(),
      pid: process.pid,
      ...(procStart ? { procStart } : {}),
      startedAt: new Date(this.started).toISOString(),
      status: 'running',
      systems: [],
    };
    this.queue = (async () => {
      try {
        this.store = await openHistory(opts.stateDir);
        this.record = { ...r, id: await this.store.begin(r) };
      } catch (e) {
        await this.disable(e);
      }
    })();
  }

  /** The run's number once the store gave one (after the first write settled). */
  async id(): Promise<number | undefined> {
    await this.queue;
    return this.record?.id;
  }

  /** The plan the run made, the manifests' commit and what was observed (kept as the estate snapshot). */
  planned(
    plan: Plan,
    dir: string,
    systems: DesiredSystem[],
    observations: Map<ResourceKind, Observation>,
    /** The tree had uncommitted changes (tracked or new files) when the run loaded it; a fresh plan says so itself. */
    dirty = !!plan.dirty,
  ): void {
    // Whether the tree had uncommitted changes the loader asked git already (untracked files too).
    const git: { author?: string; dirty?: boolean } = { ...gitAuthor(dir, plan.commit) };
    if (dirty) git.dirty = true;
    this.write(async () => {
      if (!this.record) return;
      Object.assign(this.record, {
        ...(plan.commit ? { commit: plan.commit } : {}),
        ...git,
        plan,
        summary: plan.summary,
        systems: [...new Set(plan.actions.filter((a) => a.action !== 'noop' || a.blocked).map((a) => a.system))].sort(),
      });
      await this.store!.update(this.record);
      await this.store!.saveEstate(snapshot(this.record, plan, systems, observations));
    });
  }

  /**
   * After an apply changed the world, the estate snapshot is taken again (best effort: a failure
   * leaves the snapshot of the plan, and says so).
   */
  async observedAfter(
    observe: () => Promise<{ plan: Plan; systems: DesiredSystem[]; observations: Map<ResourceKind, Observation> }>,
  ): Promise<void> {
    await this.queue;
    if (!this.store || !this.record) return;
    try {
      const after = await observe();
      this.write(() => this.store!.saveEstate(snapshot(this.record!, after.plan, after.systems, after.observations)));
    } catch (e) {
      this.opts.warn(
        `the status page keeps the world as it was before this apply: observing again failed: ${(e as Error).message}`,
      );
    }
  }

  async finished(result: { report?: ApplyReport; drift?: DriftReport } = {}): Promise<RunRecord | undefined> {
    await this.queue;
    if (!this.record) return undefined;
    const r = this.record;
    if (result.report) {
      r.outcomes = result.report.outcomes.map((o) =>
        o.error ? { ...o, error: { ...o.error, message: redact(o.error.message) } } : o,
      );
      r.applied = result.report.applied;
      const changed = Object.entries(result.report.applied).some(([k, n]) => k !== 'noop' && n > 0);
      r.status = applyFailed(result.report) ? 'failed' : changed ? 'changed' : 'ok';
    } else if (result.drift) {
      r.drift = result.drift;
      r.systems = [
        ...new Set([...result.drift.items.map((i) => i.system), ...result.drift.orphans.map((o) => o.system)]),
      ].sort();
      r.status = result.drift.drifted ? 'drift' : 'ok';
    } else {
      r.status = 'ok';
    }
    return this.end();
  }

  async failed(e: unknown): Promise<RunRecord | undefined> {
    await this.queue;
    if (!this.record) return undefined;
    this.record.status = 'error';
    this.record.error = redact((e instanceof Error ? e.message : String(e)) + detailLines(e));
    // An invalid repo fails before a plan names its commit: the error knows it (which commit broke the repo).
    const { commit, dir } = (e ?? {}) as { commit?: unknown; dir?: unknown };
    if (!this.record.commit && typeof commit === 'string' && typeof dir === 'string')
      Object.assign(this.record, { commit, ...gitAuthor(dir, commit) });
    return this.end();
  }

  private async end(): Promise<RunRecord | undefined> {
    const r = this.record!;
    r.endedAt = new Date().toISOString();
    r.durationMs = Date.now() - this.started;
    this.write(async () => {
      await this.store!.update(r);
      const days = this.opts.retentionDays ?? 90;
      if (days > 0) await this.store!.prune(new Date(Date.now() - days * 86_400_000));
    });
    await this.queue;
    if (this.opts.webhooks?.length) {
      let previous: RunRecord | undefined;
      try {
        previous = await this.store?.previous(r.kind, r.id);
      } catch {
        /* without the previous run every notification says what this run found */
      }
      await notifyRun(this.opts.webhooks, r, previous, this.opts.warn);
    }
    await this.store?.close().catch(() => undefined);
    this.store = undefined;
    this.opts.onRecorded?.(r);
    return r;
  }

  private write(fn: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (!this.store) return;
      try {
        await fn();
      } catch (e) {
        await this.disable(e);
      }
    });
  }

  private async disable(e: unknown): Promise<void> {
    this.opts.warn(
      `run history not recorded in ${this.store?.location ?? this.opts.stateDir}: ${(e as Error).message}`,
    );
    const s = this.store;
    this.store = undefined;
    await s?.close().catch(() => undefined);
  }
}

function safeUser(): string {
  try {
    return process.env.SUDO_USER || userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/** The author of the commit (git, best effort). */
function gitAuthor(dir: string, commit?: string): { author?: string } {
  if (!commit) return {};
  try {
    const author = execFileSync('git', ['-C', dir, 'log', '-1', '--format=%an <%ae>', commit], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim();
    return { author };
  } catch {
    return {}; // not a git checkout
  }
}

function snapshot(
  r: RunRecord,
  plan: Plan,
  systems: DesiredSystem[],
  observations: Map<ResourceKind, Observation>,
): EstateSnapshot {
  const observed: EstateSnapshot['observed'] = {};
  for (const [kind, obs] of observations) {
    observed[kind] = obs.resources.map((o) => ({
      system: o.system,
      id: o.id,
      owned: o.owned,
      ...(o.retired ? { retired: true } : {}),
      fields: o.fields,
    }));
  }
  return {
    takenAt: new Date().toISOString(),
    runId: r.id,
    ...(r.commit ? { commit: r.commit } : {}),
    ...(r.dirty ? { dirty: true } : {}),
    systems: systems.map((s) => ({
      name: s.name,
      state: s.state,
      os: s.os,
      cpu: s.cpu,
      memoryMiB: s.memoryMiB,
      net: s.network.net,
      roles: s.roles.map((x) => (x.version ? `${x.name}@${x.version}` : x.name)),
      labels: s.labels,
      file: s.file,
    })),
    observed,
    warnings: plan.warnings,
    pending: plan,
  };
}

/** At most this many of an error's detail lines (an invalid repo's diagnostics) are kept in the record. */
const MAX_DETAILS = 50;

/** An error's `details` (each diagnostic of an invalid repo, file:line:col first) as lines after its message. */
function detailLines(e: unknown): string {
  const d = (e as { details?: unknown } | null)?.details;
  if (!Array.isArray(d) || !d.length) return '';
  const shown = d.slice(0, MAX_DETAILS).map(String);
  const more = d.length > MAX_DETAILS ? [`… and ${d.length - MAX_DETAILS} more`] : [];
  return '\n' + [...shown, ...more].join('\n');
}
