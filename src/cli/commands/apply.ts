import { readFileSync } from 'node:fs';
import { redact } from '../../redact';
import { exitCodeFor } from '../../engine/outcome';
import { applyPlan, resolveInterrupted, type ApplyReport } from '../../engine/apply';
import type { Plan } from '../../plan/types';
import { UserError, type Logger } from '../../engine/contract';
import { acquireLockWaiting } from '../wait-lock';
import { CreateJournal } from '../../engine/journal';
import { migrateSiteJournals } from '../../providers/vsphere/legacy-journal';
import { parsePlanJson, renderText } from '../../plan/render';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { closeAll, observeAll, stateDir } from '../pipeline';
import { plan as makePlan } from '../../plan/planner';
import { progressPrinter } from '../progress';
import { freshPlan, type SourceOptions } from './plan';
import type { RunRecorder } from '../../history/recorder';
import { recorded, startRecorder } from '../record';
import { recordApplied } from '../../source/git';

export interface ApplyOptions extends SourceOptions {
  planFile?: string;
  concurrency?: number;
  maxDeletes?: number;
  /** Wait this long for another run's lock instead of failing at once. */
  waitLockMs?: number;
}

/**
 * `shipshape apply [PLAN]`: applies a fresh plan, or a saved one after checking that neither the
 * manifests nor the observed world changed since it was made.
 */
export async function applyCommand(opts: ApplyOptions, io: Io, log: Logger): Promise<number> {
  const { report } = await applyOnce(opts, io, log);
  // The exit code says why (outcome.ts): 3 blocked only, 4 credentials refused, 5 unreachable, 1 other failures.
  if (report && !report.ok)
    throw new ExitError(
      exitCodeFor(report.outcomes.flatMap((o) => (o.error ? [o.error.code] : ['failed' as const]))),
      '',
    );
  return 0;
}

/** The world after an apply, for the status page: one more observation and the plan that is left. */
async function observeAgain(fresh: Awaited<ReturnType<typeof freshPlan>>, opts: ApplyOptions) {
  const { loaded, providers, ctx } = fresh;
  const observations = await observeAll(providers, ctx, loaded.repo.systems);
  const plan = makePlan({
    systems: loaded.repo.systems,
    site: loaded.repo.site,
    providers,
    observations,
    maxDeletes: opts.maxDeletes ?? loaded.repo.site.defaults.maxDeletes,
    now: new Date(),
    ...(loaded.commit ? { commit: loaded.commit } : {}),
  });
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
  // The lock file names the source: without the credentials a --repo URL may carry.
  const lock = await acquireLockWaiting(
    stateDir(opts.stateDir),
    redact(`apply ${opts.repo ?? opts.dir}`),
    opts.waitLockMs ?? 0,
    io.err,
  );
  if (lock.tookOverFrom)
    io.err(
      `took over the stale lock ${lock.path} of "${lock.tookOverFrom.command}" (since ${lock.tookOverFrom.startedAt}): ${lock.tookOverFrom.reason}`,
    );
  try {
    const fresh = await freshPlan(
      opts,
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
    const { plan, providers, observations, loaded, source } = fresh;
    const ctx = signal ? { ...fresh.ctx, signal } : fresh.ctx;
    try {
      if (opts.planFile) {
        const saved = parsePlanJson(readFileSync(opts.planFile, 'utf8'), opts.planFile);
        if (saved.readOnly)
          throw new UserError(
            `${opts.planFile} is a read-only review plan (--read-only/--base): it was made without the role checks and, with --base, from other trusted files; nothing was applied. Apply a plan made without them`,
          );
        if (saved.desiredDigest !== plan.desiredDigest) {
          throw new UserError(
            `${opts.planFile} was made from other manifests than ${loaded.dir} holds now; make a new plan`,
          );
        }
        if (saved.observedDigest !== plan.observedDigest) {
          throw new UserError(
            `the world changed since ${opts.planFile} was made (${saved.createdAt}); nothing was applied. Make a new plan and review it`,
          );
        }
      }
      io.err(renderText(plan, { colour: false }).trimEnd());
      const steps = plan.actions.filter((a) => a.action !== 'noop' && !a.blocked).length;
      const journal = CreateJournal.forRepo(stateDir(opts.stateDir), loaded.dir, log);
      // Journal entries of an interrupted run are resolved even when nothing else is to be done.
      if (steps === 0 && plan.summary.blocked === 0 && journal.list().length === 0) {
        io.out('No changes: the world matches the manifests.\n');
        return { plan };
      }
      const report = await applyPlan({
        plan,
        systems: loaded.repo.systems,
        providers,
        observations,
        ctx,
        concurrency: opts.concurrency ?? loaded.repo.site.defaults.concurrency,
        retry: { attempts: 3, baseDelayMs: 1000 },
        onEvent: progressPrinter(io.err, steps),
        journal,
      });
      // The commit the world was brought to: a later run refuses a ref that moved back behind it.
      if (source.git && loaded.commit) recordApplied(source.git, loaded.commit);
      const lines = report.outcomes
        .filter((o) => o.status !== 'unchanged')
        .map((o) => `${o.status.padEnd(8)} ${o.system}${o.error ? `: ${o.error.kind}: ${o.error.message}` : ''}`);
      if (report.journalLeft.length)
        lines.push(`create journal entries kept for the next run: ${report.journalLeft.join(', ')}`);
      const a = report.applied;
      io.out(
        [
          ...lines,
          `Applied: ${a.create} created, ${a.update} updated, ${a.replace} replaced, ${a.delete} deleted${report.ok ? '' : '; some systems failed (see above)'}`,
        ].join('\n') + '\n',
      );
      await rec.observedAfter(() => observeAgain(fresh, opts));
      return { plan, report };
    } finally {
      await closeAll(providers, log);
    }
  } finally {
    lock.release();
  }
}
