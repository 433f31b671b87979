import { plan as makePlan } from '../../plan/planner';
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
}

/** Loads, observes and plans: the shared front half of plan, apply and drift. */
export async function freshPlan(opts: { dir: string; maxDeletes?: number; stateDir?: string }, io: Io, log: Logger) {
  const loaded: Loaded = await loadValid(opts.dir, io.err);
  const providers = providersFor(loaded, log, stateDir(opts.stateDir));
  const ctx = providerContext(loaded, log);
  try {
    const observations = await observeAll(providers, ctx);
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
  const { plan, providers } = await freshPlan(opts, io, log);
  await closeAll(providers, log);
  writeOut(io, renderPlan(plan, opts.format, io), opts.out);
  const changes = plan.actions.some((a) => a.action !== 'noop' || a.blocked);
  return opts.detailedExitcode && changes ? 2 : 0;
}
