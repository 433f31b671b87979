import { readFileSync } from 'node:fs';
import { redact } from '../../redact';
import { exitCodeForRun } from '../../engine/outcome';
import { applyPlan, checkDeletes, resolveInterrupted, type ApplyReport } from '../../engine/apply';
import type { Plan } from '../../plan/types';
import { UserError, type Logger } from '../../engine/contract';
import { acquireLockWaiting, suggestWaiting } from '../wait-lock';
import { CreateJournal } from '../../engine/journal';
import { migrateSiteJournals } from '../../providers/vsphere/legacy-journal';
import { parsePlanJson, renderText } from '../../plan/render';
import { ExitError } from '../errors';
import { hintFor } from '../hints';
import type { Io } from '../io';
import { closeAll, planInputOf, observeAll, stateDir, untouchedObservations } from '../pipeline';
import { plan as makePlan } from '../../plan/planner';
import { progressPrinter } from '../progress';
import { freshPlan, type SourceOptions } from './plan';
import type { RunRecorder } from '../../history/recorder';
import { recorded, startRecorder } from '../record';
import { recordApplied } from '../../source/git';
import { assertCheckable, staleActions, withoutSystems, type StaleAction } from '../../plan/stale';
import { isTargeted } from '../../plan/target';
import { confirmText } from '../confirm';
import { forEachSite } from '../sites';
import { TouchedResources } from '../../serve/touched';

export interface ApplyOptions extends SourceOptions {
  planFile?: string;
  concurrency?: number;
  maxDeletes?: number;
  /** Wait this long for another run's lock instead of failing at once. */
  waitLockMs?: number;
  /** Asked after the plan is printed, before anything changes (an interactive terminal without --yes). */
  confirm?: (plan: Plan) => Promise<boolean>;
}

/**
 * `shipshape apply [PLAN]`: applies a fresh plan, or a saved one after checking that neither the
 * manifests nor the observed world changed since it was made.
 */
export async function applyCommand(opts: ApplyOptions & { yes?: boolean }, io: Io, log: Logger): Promise<number> {
  // Several sites: one after another, each with its own lock; a failed site does not stop the next (src/cli/sites.ts).
  return forEachSite(
    opts,
    io,
    (o) => applySite(o, io, log),
    opts.planFile ? "a saved plan is one site's plan: add --site NAME" : undefined,
  );
}

async function applySite(opts: ApplyOptions & { yes?: boolean }, io: Io, log: Logger): Promise<number> {
  const ask = io.ask;
  const confirm =
    ask && !opts.yes ? async (plan: Plan) => (await ask(confirmText(plan))).trim().toLowerCase() === 'yes' : undefined;
  const { report } = await applyOnce({ ...opts, ...(confirm ? { confirm } : {}) }, io, log);
  // The exit code says why (outcome.ts): 6 some systems failed, the others did not; 3 blocked only; 4 credentials
  // refused; 5 unreachable; 1 other failures (nothing converged).
  if (report && !report.ok) throw new ExitError(exitCodeForRun(report.outcomes) || 1, '');
  return 0;
}

/** Reads a saved plan and refuses what cannot be applied as it is: a review plan, a plan without digests. */
function readSavedPlan(file: string, opts: ApplyOptions): Plan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new UserError(
      `cannot read the saved plan ${file} (${code}): make it with \`shipshape plan --format json --out ${file}\`, or apply without a plan file`,
      'invalid',
    );
  }
  const saved = parsePlanJson(text, file);
  if (saved.readOnly)
    throw new UserError(
      `${file} is a read-only review plan (--read-only/--base): it was made without the role checks and, with --base, from other trusted files; nothing was applied. Apply a plan made without them`,
    );
  if (isTargeted(opts.target) || opts.changedSince)
    throw new UserError(
      `${file} is applied as it was made${saved.scope ? ` (scoped: ${saved.scope})` : ''}; --system, --selector, --kind and --changed-since narrow a plan when it is made (shipshape plan … --out ${file}), not when it is applied`,
      'invalid',
    );
  assertCheckable(saved, file);
  return saved;
}

function staleText(stale: StaleAction[], file: string): string {
  const systems = [...new Set(stale.map((s) => s.system))].sort();
  return [
    `Not applied — changed since ${file} was made (nothing of ${systems.join(', ')} is changed; make a new plan and review it):`,
    ...stale.map((s) => `  ! ${s.message}`),
  ].join('\n');
}

/** The report with the systems a stale plan left untouched, as failed with code `stale`. */
function withStale(report: ApplyReport, stale: StaleAction[]): ApplyReport {
  if (!stale.length) return report;
  const outcomes = [...report.outcomes.filter((o) => !stale.some((s) => s.system === o.system))];
  for (const system of new Set(stale.map((s) => s.system))) {
    const first = stale.find((s) => s.system === system)!;
    outcomes.push({
      system,
      status: 'failed',
      steps: [],
      error: { kind: first.kind, code: 'stale', message: `${first.message}; make a new plan and review it` },
    });
  }
  outcomes.sort((a, b) => a.system.localeCompare(b.system));
  return { ...report, ok: false, outcomes };
}

/**
 * The world after an apply, for the status page: one more observation and the plan that is left. A
 * change-feed run (serve) planned from the kept observations: the resources it touched are read
 * again through their feed, which patches those observations, instead of observing everything.
 * Otherwise only the kinds the applied plan touched are observed again (untouchedObservations).
 */
async function observeAgain(
  fresh: Awaited<ReturnType<typeof freshPlan>>,
  opts: ApplyOptions,
  applied: Plan,
  touched: TouchedResources | undefined,
) {
  const { loaded, providers, ctx } = fresh;
  if (opts.observed && touched && opts.providers?.reread)
    for (const [kind, ids] of touched.byKind()) await opts.providers.reread(kind, ids);
  const reuse = opts.observed ?? untouchedObservations(applied, providers, fresh.observations);
  const observations = await observeAll(providers, ctx, loaded.repo.systems, reuse);
  if (!opts.observed) opts.providers?.observed(loaded, providers, observations); // serve: the world after this apply
  const plan = makePlan({ ...planInputOf(loaded, opts.maxDeletes), providers, observations, now: new Date() });
  return { plan, dir: loaded.dir, systems: loaded.repo.systems, observations };
}

/** One apply run: the plan it made and, when anything was to be done, the report. Used by `apply` and `serve`. */
export async function applyOnce(
  opts: ApplyOptions,
  io: Io,
  log: Logger,
  signal?: AbortSignal,
): Promise<{ plan: Plan; report?: ApplyReport }> {
  const rec = startRecorder('apply', opts, io);
  return recorded(
    rec,
    () => applyRun(opts, io, log, rec, signal),
    (r) => (r.report ? { report: r.report } : {}),
  );
}

async function applyRun(
  opts: ApplyOptions,
  io: Io,
  log: Logger,
  rec: RunRecorder,
  signal?: AbortSignal,
): Promise<{ plan: Plan; report?: ApplyReport }> {
  // A saved plan that cannot be applied is said before anything is locked, connected to or observed.
  const savedPlan = opts.planFile ? readSavedPlan(opts.planFile, opts) : undefined;
  // The lock file names the source: without the credentials a --repo URL may carry.
  const lock = await acquireLockWaiting(
    stateDir(opts.stateDir),
    redact(`apply ${opts.repo ?? opts.dir}`),
    opts.waitLockMs ?? 0,
    io.err,
    undefined,
    undefined,
    opts.site,
    opts.shard,
  ).catch((e: unknown) => {
    throw opts.waitLockMs ? e : suggestWaiting(e);
  });
  if (lock.tookOverFrom)
    io.err(
      `took over the stale lock ${lock.path} of "${lock.tookOverFrom.command}" (since ${lock.tookOverFrom.startedAt}): ${lock.tookOverFrom.reason}`,
    );
  try {
    const fresh = await freshPlan(
      // A saved plan applies its systems only: the others take nothing in the fresh plan it is checked against.
      savedPlan ? { ...opts, only: new Set(savedPlan.actions.map((a) => a.system)) } : opts,
      io,
      log,
      async (loaded, providers, ctx) => {
        const journal = CreateJournal.forRepo(stateDir(opts.stateDir), loaded.dir, log);
        migrateSiteJournals(stateDir(opts.stateDir), loaded.dir, loaded.repo.site?.vms, journal, log);
        await resolveInterrupted({
          journal,
          providers,
          systems: loaded.repo.systems,
          ctx,
          onEvent: progressPrinter(io.err, 0),
        });
      },
      rec,
    );
    const { providers, observations, loaded, source } = fresh;
    let plan = fresh.plan;
    const ctx = signal ? { ...fresh.ctx, signal } : fresh.ctx;
    try {
      // A saved plan is applied as it was reviewed: its actions only, each checked on its own.
      let stale: StaleAction[] = [];
      if (opts.planFile && savedPlan) {
        const saved = savedPlan;
        stale = staleActions(saved, fresh.full);
        plan = { ...saved, maxDeletes: opts.maxDeletes ?? saved.maxDeletes };
        // `show RUN`: the plan it executed, and whether this run's tree had uncommitted changes.
        rec.planned(plan, loaded.dir, loaded.repo.systems, observations, !!loaded.dirty);
      }
      io.err(renderText(plan, { colour: false }).trimEnd());
      const staleSystems = new Set(stale.map((s) => s.system));
      if (stale.length) io.err(staleText(stale, opts.planFile!));
      const toRun = withoutSystems(plan, staleSystems);
      const steps = toRun.actions.filter((a) => a.action !== 'noop' && !a.blocked).length;
      const journal = CreateJournal.forRepo(stateDir(opts.stateDir), loaded.dir, log);
      if (stale.length && steps === 0)
        throw new UserError(
          `nothing was applied: every change of ${opts.planFile} is on a system that changed since the plan was made. Make a new plan and review it`,
          'stale',
        );
      // Journal entries of an interrupted run are resolved even when nothing else is to be done.
      if (steps === 0 && toRun.summary.blocked === 0 && journal.list().length === 0) {
        io.out('No changes: the world matches the manifests.\n');
        return { plan };
      }
      checkDeletes(toRun);
      if (opts.confirm && steps > 0 && !(await opts.confirm(toRun))) {
        throw new ExitError(1, 'Apply cancelled: nothing was changed.');
      }
      // A change-feed run: what it changes is read again afterwards (observeAgain).
      const touched = opts.observed ? new TouchedResources() : undefined;
      const applied = await applyPlan({
        plan: toRun,
        systems: loaded.repo.systems,
        ...(loaded.repo.shard ? { elsewhere: loaded.repo.shard.elsewhere } : {}),
        providers: touched ? touched.wrap(providers) : providers,
        observations,
        ctx,
        concurrency: opts.concurrency ?? loaded.repo.site.defaults.concurrency,
        // --concurrency N sets every step; otherwise each step takes the site's value for it.
        ...(opts.concurrency || !loaded.repo.site.defaults.stepConcurrency
          ? {}
          : { stepConcurrency: loaded.repo.site.defaults.stepConcurrency }),
        retry: { attempts: 3, baseDelayMs: 1000 },
        onEvent: progressPrinter(io.err, steps),
        journal,
      });
      const report = withStale(applied, stale);
      // The commit the world was brought to: a later run refuses a ref that moved back behind it.
      if (source.git && loaded.commit) recordApplied(source.git, loaded.commit);
      const lines = report.outcomes
        .filter((o) => o.status !== 'unchanged')
        .map((o) => `${o.status.padEnd(8)} ${o.system}${o.error ? `: ${o.error.kind}: ${o.error.message}` : ''}`);
      // Where the site file sets what a failure names (a template, a URL, a secret): once, however many systems failed on it.
      lines.push(...new Set(report.outcomes.flatMap((o) => (o.error ? (hintFor(o.error.message) ?? []) : []))));
      if (report.journalLeft.length)
        lines.push(`create journal entries kept for the next run: ${report.journalLeft.join(', ')}`);
      const a = report.applied;
      io.out(
        [
          ...lines,
          `Applied: ${a.create} created, ${a.update} updated, ${a.replace} replaced, ${a.delete} deleted${notDone(report)}`,
        ].join('\n') + '\n',
      );
      await rec.observedAfter(() => observeAgain(fresh, opts, toRun, touched));
      return { plan, report };
    } finally {
      await closeAll(providers, log);
    }
  } finally {
    lock.release();
  }
}

/** The end of the `Applied:` line: how many systems failed and how many are blocked (each listed above). */
function notDone(report: ApplyReport): string {
  const n = (status: string) => report.outcomes.filter((o) => o.status === status).length;
  const systems = (k: number) => `${k} system${k === 1 ? '' : 's'}`;
  const parts = [
    n('failed') ? `${systems(n('failed'))} failed` : '',
    n('blocked') ? `${systems(n('blocked'))} blocked` : '',
  ].filter(Boolean);
  return parts.length ? `; ${parts.join(', ')} (see above)` : '';
}
