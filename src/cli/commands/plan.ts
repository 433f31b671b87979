import { plan as makePlan, scopePlan, type PlanInput } from '../../plan/planner';
import { affectedSystems, changedFiles } from '../../source/changes';
import { renderJson, renderMarkdown, renderText } from '../../plan/render';
import type { Plan } from '../../plan/types';
import {
  UserError,
  type Logger,
  type Observation,
  type Provider,
  type ProviderContext,
  type ResourceKind,
} from '../../engine/contract';
import { join } from 'node:path';
import type { GitSource } from '../../source/git';
import { splitUserinfo } from '../../redact';
import type { Io } from '../io';
import { writeOut } from '../io';
import type { RunRecorder } from '../../history/recorder';
import { recorded, startRecorder, type RecordOptions } from '../record';
import {
  closeAll,
  planInputOf,
  headCommit,
  loadValid,
  observeAll,
  providerContext,
  providersFor,
  stateDir,
  type Loaded,
  type ProviderSource,
} from '../pipeline';
import { composeTrusted } from '../../source/trusted';
import { isTargeted, selectSystems, targetPlan, type Target } from '../../plan/target';
import { ExitError } from '../errors';
import { forEachSite, runName, siteFile } from '../sites';

export interface PlanOptions extends SourceOptions {
  format: 'text' | 'markdown' | 'json';
  out?: string;
  detailedExitcode?: boolean;
  maxDeletes?: number;
  /**
   * Merge requests: trusted files (site config, roles, OS catalog, …) from this git ref, systems/ and
   * profiles/ from the checkout; only the systems touched since the ref are planned. Implies readOnly.
   */
  base?: string;
  /** Observe by reading only: nothing runs on a managed host (no role checks). */
  readOnly?: boolean;
  /** `--adopt`: plan what `shipshape adopt` would take over (adoptions with their diff, instead of blocked creates). */
  adopt?: boolean;
}

/** Where the manifests come from: a local folder, or a git repository fetched on every run. */
export interface SourceOptions extends RecordOptions {
  dir: string;
  repo?: string;
  ref?: string;
  stateDir?: string;
  /** Narrow the plan (and so apply and drift) to some systems and steps: src/plan/target.ts. */
  target?: Target;
  /** The systems whose manifests, profiles, roles or OS entries changed between this git ref and HEAD. */
  changedSince?: string;
  /** Repos with sites/: the one site this run works on (src/cli/sites.ts sets it, and its state dir). */
  site?: string;
  /** The repo's diagnostics were printed already (several sites: validated once before the first). */
  validated?: boolean;
  /** A shard of the site (`--shard`): only its systems, nets, zones and DHCP servers; its own lock and state dir. */
  shard?: string;
  /** A shard's run: the site's state dir, where the provisioning server keeps install records. */
  sharedStateDir?: string;
  /** `serve`: providers kept between runs. */
  providers?: ProviderSource;
  /** `serve`'s change-feed runs: these observations instead of observing again. */
  observed?: ReadonlyMap<ResourceKind, Observation>;
  /** Read every target in full instead of what the state dir keeps from unchanged machines (drift always does). */
  refresh?: boolean;
}

/** Fetches `--repo` at `--ref` into the cache (refusing a rewind), or uses the local folder as it is. */
export async function resolveSource(opts: SourceOptions, io: Io): Promise<{ dir: string; git?: GitSource }> {
  if (!opts.repo) return { dir: opts.dir };
  const state = stateDir(opts.stateDir);
  const git: GitSource = { url: opts.repo, ref: opts.ref ?? 'main', cacheDir: join(state, 'repos'), stateDir: state };
  // Loaded only for --repo: a plan of a local folder never needs the clone and fetch code (simple-git).
  const { syncRepo } = await import('../../source/git');
  const synced = await syncRepo(git);
  io.err(
    `source: ${splitUserinfo(opts.repo).url} ${git.ref} at ${synced.commit.slice(0, 12)}${synced.lastApplied && synced.lastApplied !== synced.commit ? ` (last applied ${synced.lastApplied.slice(0, 12)})` : ''}`,
  );
  return { dir: synced.dir, git };
}

/** Loads, observes and plans: the shared front half of plan, apply and drift. */
export async function freshPlan(
  opts: SourceOptions & {
    maxDeletes?: number;
    readOnly?: boolean;
    adopt?: PlanInput['adopt'];
    /**
     * Untargeted, the systems the run applies all the same (a saved plan's; a merge request's, which
     * the push's `apply --changed-since` applies): PlanInput.only.
     */
    only?: ReadonlySet<string> | ((loaded: Loaded) => ReadonlySet<string>);
  },
  io: Io,
  log: Logger,
  /** Runs before observing (apply resolves interrupted creates there, so the plan sees what they made). */
  beforeObserve?: (loaded: Loaded, providers: Provider[], ctx: ProviderContext) => Promise<void>,
  /** Records the plan and what was observed in the run history. */
  rec?: RunRecorder,
) {
  const source = await resolveSource(opts, io);
  const loaded: Loaded = await loadValid(source.dir, opts.validated ? () => undefined : io.err, opts.site, opts.shard);
  // A whole-site run beside shard workers would write what they write, under another lock.
  const shards = Object.keys(loaded.repo.site.shards ?? {});
  if (shards.length && !opts.shard)
    throw new UserError(
      `the site has shards (${shards.join(', ')}): a run works on one shard, with its lock; add --shard NAME (plan, apply and drift without it go shard by shard)`,
    );
  const target = await resolveTarget(opts, loaded, io);
  const providers =
    opts.providers?.providers(loaded, log, stateDir(opts.stateDir), opts.sharedStateDir) ??
    providersFor(loaded, log, stateDir(opts.stateDir), opts.sharedStateDir);
  const ctx = {
    ...providerContext(loaded, log),
    ...(opts.readOnly ? { readOnly: true } : {}),
    ...(opts.refresh ? { refresh: true } : {}),
  };
  try {
    await beforeObserve?.(loaded, providers, ctx);
    const observations = await observeAll(providers, ctx, loaded.repo.systems, opts.observed);
    // A change-feed run planned from the kept observations: they stay what the feeds keep current.
    if (!opts.observed) opts.providers?.observed(loaded, providers, observations);
    // The systems the run applies: the others take none of a net's last addresses in the foresight.
    const only = target
      ? selectSystems(loaded.repo.systems, target, opts.site ? () => undefined : undefined)
      : typeof opts.only === 'function'
        ? opts.only(loaded)
        : opts.only;
    const plan = makePlan({
      ...planInputOf(loaded, opts.maxDeletes),
      providers,
      observations,
      now: new Date(),
      ...(opts.adopt ? { adopt: opts.adopt } : {}),
      ...(only ? { only } : {}),
    });
    if (loaded.dirty) plan.dirty = true;
    const scoped = target ? targetPlan(plan, loaded.repo.systems, target, !!opts.site) : plan;
    rec?.planned(scoped, loaded.dir, loaded.repo.systems, observations);
    return { loaded, providers, ctx, observations, plan: scoped, full: plan, source, target };
  } catch (e) {
    await closeAll(providers, log);
    throw e;
  }
}

/**
 * The target of a run: the flags, plus the systems `--changed-since REF` finds (a manifest, profile,
 * role or OS entry changed between REF and HEAD: the same rule as a merge-request plan). Checked before
 * anything is observed, so an unknown system name costs no round trip.
 */
async function resolveTarget(opts: SourceOptions, loaded: Loaded, io: Io): Promise<Target | undefined> {
  let target = opts.target;
  if (opts.changedSince) {
    const changed = await changedFiles(loaded.dir, opts.changedSince);
    const systems = [...affectedSystems(loaded.repo.systems, changed)].sort();
    io.err(
      `--changed-since ${opts.changedSince}: ${changed.length} file(s) changed, ${systems.length} system(s) touched${systems.length ? `: ${systems.join(', ')}` : ''}`,
    );
    target = { ...target, changedSince: { ref: opts.changedSince, systems } };
  }
  if (!isTargeted(target)) return undefined;
  // A system of another shard of the site (declared, but not this run's): say which shard to run.
  const shard = loaded.repo.shard;
  const declared = new Set(loaded.repo.systems.map((s) => s.name));
  const theirs = shard ? (target.systems ?? []).filter((n) => !declared.has(n) && shard.shardOf[n]) : [];
  if (shard && theirs.length)
    throw new UserError(
      `--system ${theirs.map((n) => `${n} is a system of shard ${shard.shardOf[n]}`).join(', ')}, not of shard ${shard.name}: run it with ${[...new Set(theirs.map((n) => `--shard ${shard.shardOf[n]}`))].join(' and ')}`,
      'invalid',
    );
  selectSystems(
    loaded.repo.systems,
    target,
    opts.site ? (names) => io.err(`--system ${names.join(',')}: not a system of site ${opts.site}`) : undefined,
  );
  return target;
}

export function renderPlan(plan: Plan, format: PlanOptions['format'], io: Io): string {
  if (format === 'json') return renderJson(plan);
  if (format === 'markdown') return renderMarkdown(plan);
  return renderText(plan, { colour: io.isTty });
}

/**
 * `shipshape plan`: exit 0 (no changes) or, with --detailed-exitcode, 2 when there are changes. In a
 * repo with sites/, once per site (`--site` picks one); `--out plan.md` becomes plan.<site>.md.
 */
export async function planCommand(opts: PlanOptions, io: Io, log: Logger): Promise<number> {
  if (opts.base && opts.changedSince)
    throw new UserError('--base already plans the systems touched since its ref; leave out --changed-since', 'invalid');
  return forEachSite(
    opts,
    io,
    (o, multi) => planSite(multi && o.out ? { ...o, out: siteFile(o.out, runName(o)) } : o, io, log),
    opts.format === 'json' && !opts.out
      ? "a JSON plan is one site's plan: add --site NAME, or --out FILE (one file per site)"
      : undefined,
  );
}

async function planSite(opts: PlanOptions, io: Io, log: Logger): Promise<number> {
  const rec = startRecorder('plan', opts, io);
  // A merge-request plan (--base) is recorded as a run, but its composed repo is not the estate: no snapshot.
  let plan = await recorded(
    rec,
    async () =>
      opts.base
        ? await mergeRequestPlan(opts, opts.base, io, log)
        : await (async () => {
            const { adopt, ...rest } = opts;
            const fresh = await freshPlan({ ...rest, ...(adopt ? { adopt: {} } : {}) }, io, log, undefined, rec);
            await closeAll(fresh.providers, log);
            return fresh.plan;
          })(),
    () => ({}),
  );
  if (opts.readOnly) plan = { ...plan, readOnly: true };
  writeOut(io, renderPlan(plan, opts.format, io), opts.out);
  const changes = plan.actions.some((a) => a.action !== 'noop' || a.blocked);
  return opts.detailedExitcode && changes ? 2 : 0;
}

/**
 * The plan of a merge request: on the repo composed of the base's trusted files and the branch's
 * systems/ and profiles/ (src/source/trusted.ts), read-only, scoped to the systems the branch touches.
 */
async function mergeRequestPlan(opts: PlanOptions, base: string, io: Io, log: Logger): Promise<Plan> {
  const checkout = await resolveSource(opts, io);
  const trusted = await composeTrusted(checkout.dir, base);
  try {
    if (trusted.notUsed.length)
      io.err(
        `changes to trusted files, not used for this plan; applied only after merge: ${trusted.notUsed.map((c) => c.file).join(', ')}`,
      );
    const changed = await changedFiles(checkout.dir, base);
    const fresh = await freshPlan(
      {
        ...opts,
        dir: trusted.dir,
        repo: undefined,
        readOnly: true,
        adopt: undefined,
        // The systems this change touches: the run on merge applies those only, the others take nothing.
        only: (loaded) => affectedSystems(loaded.repo.systems, changed),
      },
      io,
      log,
    ).catch((e: unknown) => {
      if (e instanceof ExitError && e.code === 1) {
        throw new ExitError(
          1,
          `${e.message.replace(trusted.dir, `the merge-request repo (site config, roles and OS catalog from ${base}; systems/ and profiles/ from the branch)`)}` +
            ' A system that needs a role or OS entry the branch adds can be planned once that change is merged.',
        );
      }
      throw e;
    });
    await closeAll(fresh.providers, log);
    const affected = affectedSystems(fresh.loaded.repo.systems, changed);
    io.err(
      `planning ${affected.size} system(s) touched since ${base} (${changed.length} file(s) changed); trusted files from ${base} (${trusted.baseCommit.slice(0, 12)})`,
    );
    const commit = await headCommit(checkout.dir);
    return {
      ...scopePlan(fresh.plan, affected),
      ...(commit ? { commit } : {}),
      readOnly: true,
      trusted: { base, commit: trusted.baseCommit, notUsed: trusted.notUsed },
    };
  } finally {
    trusted.cleanup();
  }
}
