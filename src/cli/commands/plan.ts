import { plan as makePlan, scopePlan } from '../../plan/planner';
import { affectedSystems, changedFiles } from '../../source/changes';
import { renderJson, renderMarkdown, renderText } from '../../plan/render';
import type { Plan } from '../../plan/types';
import type { Logger } from '../../engine/contract';
import { join } from 'node:path';
import { syncRepo, type GitSource } from '../../source/git';
import type { Io } from '../io';
import { writeOut } from '../io';
import type { RunRecorder } from '../../history/recorder';
import { recorded, startRecorder, type RecordOptions } from '../record';
import { closeAll, loadValid, observeAll, providerContext, providersFor, stateDir, type Loaded } from '../pipeline';

export interface PlanOptions extends SourceOptions {
  format: 'text' | 'markdown' | 'json';
  out?: string;
  detailedExitcode?: boolean;
  maxDeletes?: number;
  /** Plan only the systems whose manifests, profiles, OS entries or roles changed since this git ref. */
  base?: string;
}

/** Where the manifests come from: a local folder, or a git repository fetched on every run. */
export interface SourceOptions extends RecordOptions {
  dir: string;
  repo?: string;
  ref?: string;
  stateDir?: string;
}

/** Fetches `--repo` at `--ref` into the cache (refusing a rewind), or uses the local folder as it is. */
export async function resolveSource(opts: SourceOptions, io: Io): Promise<{ dir: string; git?: GitSource }> {
  if (!opts.repo) return { dir: opts.dir };
  const state = stateDir(opts.stateDir);
  const git: GitSource = { url: opts.repo, ref: opts.ref ?? 'main', cacheDir: join(state, 'repos'), stateDir: state };
  const synced = await syncRepo(git);
  io.err(`source: ${opts.repo} ${git.ref} at ${synced.commit.slice(0, 12)}${synced.lastApplied && synced.lastApplied !== synced.commit ? ` (last applied ${synced.lastApplied.slice(0, 12)})` : ''}`);
  return { dir: synced.dir, git };
}

/** Loads, observes and plans: the shared front half of plan, apply and drift. */
export async function freshPlan(opts: SourceOptions & { maxDeletes?: number }, io: Io, log: Logger, rec?: RunRecorder) {
  const source = await resolveSource(opts, io);
  const loaded: Loaded = await loadValid(source.dir, io.err);
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
    if (loaded.dirty) plan.dirty = true;
    rec?.planned(plan, loaded.dir, loaded.repo.systems, observations);
    return { loaded, providers, ctx, observations, plan, source };
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
  const rec = startRecorder('plan', opts, io);
  const fresh = await recorded(rec, () => freshPlan(opts, io, log, rec), () => ({}));
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
