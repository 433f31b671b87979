import { plan as makePlan, scopePlan } from '../../plan/planner';
import { affectedSystems, changedFiles } from '../../source/changes';
import { renderJson, renderMarkdown, renderText } from '../../plan/render';
import type { Plan } from '../../plan/types';
import type { Logger } from '../../engine/contract';
import type { Io } from '../io';
import { writeOut } from '../io';
import { closeAll, loadValid, observeAll, providerContext, providersFor, stateDir, type Loaded } from '../pipeline';

export interface PlanOptions {
  dir: string;
  format: 'text' | 'markdown' | 'json';
  out?: string;
  detailedExitcode?: boolean;
  maxDeletes?: number;
  stateDir?: string;
  /** Plan only the systems whose manifests, profiles, OS entries or roles changed since this git ref. */
  base?: string;
}

/** Loads, observes and plans: the shared front half of plan, apply and drift. */
export async function freshPlan(opts: { dir: string; maxDeletes?: number; stateDir?: string }, io: Io, log: Logger) {
  const loaded: Loaded = await loadValid(opts.dir, io.err);
  const providers = providersFor(loaded, log, stateDir(opts.stateDir));
  const ctx = providerContext(loaded, log);
  try {
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
    return { loaded, providers, ctx, observations, plan };
  } catch (e) {
    await closeAll(providers, log);
    throw e;
  }
}

export function renderPlan(plan: Plan, format: PlanOptions['format'], io: Io): string {
  if (format === 'json') return renderJson(plan);
  if (format === 'markdown') return renderMarkdown(plan);
  return renderText(plan, { colour: io.isTty });
}

/** `shipshape plan`: exit 0 (no changes) or, with --detailed-exitcode, 2 when there are changes. */
export async function planCommand(opts: PlanOptions, io: Io, log: Logger): Promise<number> {
  const fresh = await freshPlan(opts, io, log);
  await closeAll(fresh.providers, log);
  let plan = fresh.plan;
  if (opts.base) {
    const changed = await changedFiles(fresh.loaded.dir, opts.base);
    const affected = affectedSystems(fresh.loaded.repo.systems, changed);
    plan = scopePlan(plan, affected);
    io.err(`planning ${affected.size} system(s) touched since ${opts.base} (${changed.length} file(s) changed)`);
  }
  writeOut(io, renderPlan(plan, opts.format, io), opts.out);
  const changes = plan.actions.some((a) => a.action !== 'noop' || a.blocked);
  return opts.detailedExitcode && changes ? 2 : 0;
}
