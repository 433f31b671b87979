/**
 * `shipshape adopt [SYSTEM…]`: takes existing resources without shipshape's marker over for the
 * systems the manifests declare (a VM an old pipeline cloned, …). It plans the adoptions, shows the
 * diff between each manifest and what exists, and writes the markers only where that diff is empty,
 * or with --accept-changes after showing exactly what will change (made after the marker). It runs
 * nothing but adoptions: creates, updates and deletes are left to the next `apply`.
 *
 * A command rather than `adopt: true` in a manifest: taking a resource over is what makes shipshape
 * willing to change and later delete it, so it is an operator's act at the console, not something a
 * branch can ask for by adding a line that any merge would carry into every later run.
 */
import { exitCodeFor } from '../../engine/outcome';
import { applyPlan } from '../../engine/apply';
import { UserError, type Logger } from '../../engine/contract';
import { CreateJournal } from '../../engine/journal';
import { summarise } from '../../plan/planner';
import { renderText } from '../../plan/render';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { closeAll, stateDir } from '../pipeline';
import { progressPrinter } from '../progress';
import { acquireLockWaiting } from '../wait-lock';
import { freshPlan, renderPlan, type SourceOptions } from './plan';

export interface AdoptOptions extends SourceOptions {
  systems: string[];
  acceptChanges?: boolean;
  /** Show the adoption plan and stop. */
  dryRun?: boolean;
  format?: 'text' | 'markdown' | 'json';
  concurrency?: number;
}

export async function adoptCommand(opts: AdoptOptions, io: Io, log: Logger): Promise<number> {
  const lock = await acquireLockWaiting(stateDir(opts.stateDir), `adopt ${opts.dir}`, 0, io.err);
  try {
    const only = opts.systems.length ? new Set(opts.systems) : undefined;
    const fresh = await freshPlan(
      { ...opts, adopt: { ...(only ? { systems: only } : {}), acceptChanges: !!opts.acceptChanges } },
      io,
      log,
      // A name no manifest declares is said before anything is connected to or observed.
      async (loaded) => {
        const declared = new Set(loaded.repo.systems.map((s) => s.name));
        const unknown = [...(only ?? [])].filter((s) => !declared.has(s));
        if (unknown.length)
          throw new UserError(
            `no manifest declares ${unknown.join(', ')}; \`shipshape import\` writes manifests for existing systems`,
            'invalid',
          );
      },
    );
    const { loaded, providers, observations, ctx } = fresh;
    try {
      // Only adoptions run here; the rest of each system's plan is the next apply's.
      const actions = fresh.plan.actions.filter((a) => a.action === 'adopt' && (!only || only.has(a.system)));
      const plan = { ...fresh.plan, actions, summary: summarise(actions) };
      if (opts.dryRun || opts.format === 'json' || opts.format === 'markdown') {
        io.out(renderPlan(plan, opts.format ?? 'text', io));
        if (opts.dryRun) return 0;
      } else io.err(renderText(plan, { colour: false }).trimEnd());
      if (actions.length === 0) {
        io.out('Nothing to adopt: no declared system has an unmarked resource of its name.\n');
        return 0;
      }
      const steps = actions.filter((a) => !a.blocked).length;
      const report = await applyPlan({
        plan,
        systems: loaded.repo.systems,
        providers,
        observations,
        ctx,
        concurrency: opts.concurrency ?? loaded.repo.site.defaults.concurrency,
        retry: { attempts: 3, baseDelayMs: 1000 },
        onEvent: progressPrinter(io.err, steps),
        journal: CreateJournal.forRepo(stateDir(opts.stateDir), loaded.dir, log),
      });
      const adopted = report.outcomes.filter((o) => o.status === 'ok').map((o) => o.system);
      const lines = report.outcomes
        .filter((o) => o.status !== 'ok' && o.status !== 'unchanged')
        .map((o) => `${o.status.padEnd(8)} ${o.system}${o.error ? `: ${o.error.kind}: ${o.error.message}` : ''}`);
      io.out(
        [
          ...lines,
          `Adopted: ${report.applied.adopt ?? 0} resources of ${adopted.length} systems${report.ok ? '' : '; some were not adopted (see above)'}`,
        ].join('\n') + '\n',
      );
      if (!report.ok)
        throw new ExitError(exitCodeFor(report.outcomes.flatMap((o) => (o.error ? [o.error.code] : []))) || 1, '');
      return 0;
    } finally {
      await closeAll(providers, log);
    }
  } finally {
    lock.release();
  }
}
