/**
 * The steps every command shares: load and validate the repo as a whole (nothing runs on an
 * invalid repo), build the providers the site configures, observe every backend once.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import {
  RESOURCE_KINDS,
  type Logger,
  type Observation,
  type Provider,
  type ProviderContext,
  type ResourceKind,
} from '../engine/contract';
import { formatDiagnostic, loadRepo, ManifestCache, reportedOnce, type LoadResult } from '../manifest';
import type { SiteConfig } from '../manifest/site';
import { buildProviders } from '../providers/registry';
import { indexObservations, orderedProviders, resolvedBefore, type PlanInput } from '../plan/planner';
import { shardPlanInput } from '../plan/shard-move';
import type { DesiredSystem } from '../manifest/types';
import type { Plan } from '../plan/types';
import { ExitError } from './errors';
import { secureStateDir } from './state-dir';
import { rememberSite } from './hints';
import { openSecretFileWarnings } from './secret-files';
import { SLOW_AFTER_MS, watchSlow } from './slow-observe';

export interface Loaded {
  dir: string;
  repo: LoadResult & { site: SiteConfig };
  commit?: string;
  /** The checkout has uncommitted changes (tracked or new files): the run uses the files on disk, not `commit` alone. */
  dirty?: boolean;
}

/**
 * Loads the repo; prints every diagnostic; throws ExitError(1) when anything is invalid. In a repo
 * with sites/, `site` names the site whose config and systems the command works on (src/cli/sites.ts
 * runs a command once per site).
 */
/** Set by `serve`: its runs read again only the manifests that changed since the last run (manifest/cache.ts). */
let manifestCache: ManifestCache | undefined;
export function keepManifestsBetweenLoads(): void {
  manifestCache ??= new ManifestCache();
}

export async function loadValid(dir: string, err: (s: string) => void, site?: string, shard?: string): Promise<Loaded> {
  const abs = resolve(dir);
  // git runs beside the load (a process of its own each): its answers are only needed once the repo is valid.
  const git = checkoutState(abs).then((c) => [c.commit, c.dirty] as const);
  const repo = await loadRepo(abs, {
    ...(site === undefined ? {} : { site }),
    ...(shard === undefined ? {} : { shard }),
    ...(manifestCache ? { cache: manifestCache } : {}),
  });
  const diagnostics = reportedOnce(repo.diagnostics);
  for (const d of diagnostics) err(formatDiagnostic(d));
  if (repo.ok && repo.sites && !repo.site)
    throw new ExitError(
      1,
      `${abs} holds several sites (${repo.sites.map((s) => s.name).join(', ')}): name one with --site NAME`,
    );
  if (!repo.ok || !repo.site) {
    const errors = diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
    const n = errors.length;
    throw new InvalidRepoError(
      `${n} error${n === 1 ? '' : 's'} in ${abs}: nothing was planned or changed. Fix them and run again.`,
      errors,
      abs,
      (await git)[0],
    );
  }
  rememberSite(repo.site);
  for (const w of openSecretFileWarnings(repo.site)) err(w);
  const [commit, modified] = await git;
  const dirty = commit ? modified : false;
  return { dir: abs, repo: repo as Loaded['repo'], ...(commit ? { commit } : {}), ...(dirty ? { dirty } : {}) };
}

/**
 * The repo does not validate. The errors were printed already; the run's record keeps them (`details`) with the
 * commit that has them, so `history`, `show`, the status page and webhooks say what is wrong and since which commit.
 */
export class InvalidRepoError extends ExitError {
  readonly outcome = 'invalid';
  constructor(
    message: string,
    readonly details: string[],
    readonly dir: string,
    readonly commit?: string,
  ) {
    super(1, message);
  }
}

/**
 * The systems the repo declares that this run does not work on: the site's other shards (`--shard`) and, in a
 * repo with sites/, the other sites' systems. Their marked resources in a backend they share with this run (one
 * i-doit for every site, one vCenter for two sites) are theirs: never reported as this run's orphans.
 */
export function declaredElsewhere(repo: LoadResult): string[] | undefined {
  const mine = new Set(repo.systems.map((s) => s.name));
  const names = new Set([
    ...(repo.shard?.others ?? []),
    ...(repo.sites ?? []).flatMap((site) => site.systems.map((s) => s.name).filter((n) => !mine.has(n))),
  ]);
  return names.size ? [...names] : undefined;
}

/**
 * What a plan of the loaded repo is made from, other than the observations: its systems and site, the
 * delete limit, the commit, and, for a shard's run, the systems of other shards (what they left here is
 * removed) and of other sites (never this run's orphans). `plan` and the apply's closing plan share it.
 */
export function planInputOf(
  loaded: Loaded,
  maxDeletes: number | undefined,
): Pick<PlanInput, 'systems' | 'site' | 'maxDeletes' | 'commit' | 'elsewhere' | 'declaredElsewhere'> {
  const elsewhere = declaredElsewhere(loaded.repo);
  return {
    systems: loaded.repo.systems,
    site: loaded.repo.site,
    maxDeletes: maxDeletes ?? loaded.repo.site.defaults.maxDeletes,
    ...(loaded.commit ? { commit: loaded.commit } : {}),
    ...(loaded.repo.shard ? shardPlanInput(loaded.repo.shard) : {}),
    ...(elsewhere ? { declaredElsewhere: elsewhere } : {}),
  };
}

/** `git <args>` in `dir`, its output; rejects on a non-zero exit. Git directly: these two questions need no library. */
function git(dir: string, args: string[]): Promise<string> {
  return new Promise((res, rej) =>
    execFile('git', args, { cwd: dir, timeout: 30_000, maxBuffer: 64 << 20 }, (e, out) => (e ? rej(e) : res(out))),
  );
}

export async function headCommit(dir: string): Promise<string | undefined> {
  try {
    // Fails outside a work tree and before the first commit: both mean no commit to name.
    return (await git(dir, ['rev-parse', 'HEAD'])).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The checkout's commit and whether it has tracked changes or untracked files (not ignored ones), from
 * ONE `git status` (its `# branch.oid` line names the commit): every plan asks both, and on a 2-core
 * machine a second git process was 10-15 ms of the plan. Outside a work tree: no commit, not dirty.
 */
export async function checkoutState(dir: string): Promise<{ commit?: string; dirty: boolean }> {
  let out: string;
  try {
    out = await git(dir, ['status', '--porcelain=v2', '--branch', '--untracked-files=all']);
  } catch {
    return { dirty: false };
  }
  const lines = out.split('\n').filter((l) => l !== '');
  const oid = /^# branch\.oid ([0-9a-f]{40,64})$/m.exec(out)?.[1]; // "(initial)" before the first commit
  return { ...(oid ? { commit: oid } : {}), dirty: lines.some((l) => !l.startsWith('# ')) };
}

/** The state dir, created 0700 and checked (secureStateDir) before any command uses it. */
export function stateDir(option?: string): string {
  return secureStateDir(
    option ??
      process.env.SHIPSHAPE_STATE_DIR ??
      join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'shipshape'),
  );
}

export function providerContext(loaded: Loaded, log: Logger): ProviderContext {
  return {
    site: loaded.repo.site,
    log,
    lab: loaded.repo.site.lab,
    declared: new Set(loaded.repo.systems.map((s) => s.name)),
    ...(loaded.commit ? { commit: loaded.commit } : {}),
  };
}

/** `sharedState`: a shard's run keeps install records in the site's state dir (its provisioning server's). */
export function providersFor(loaded: Loaded, log: Logger, state: string, sharedState?: string): Provider[] {
  return buildProviders({
    repo: loaded.repo,
    site: loaded.repo.site,
    log,
    stateDir: state,
    ...(sharedState ? { installStateDir: sharedState } : {}),
  });
}

/**
 * Where a run's providers come from when not built for it alone: `serve` keeps reusable ones from
 * run to run (src/serve/providers.ts) and hears what each run observed.
 */
export interface ProviderSource {
  providers(loaded: Loaded, log: Logger, state: string, sharedState?: string): Provider[];
  observed(loaded: Loaded, providers: Provider[], observations: Map<ResourceKind, Observation>): void;
  /** Reads these resources of a kind again through its change feed; the kept observations take what it reports. */
  reread?(kind: ResourceKind, ids: string[]): Promise<void>;
}

/** Providers a ProviderSource keeps beyond the run: closeAll leaves them open. */
export const keptProviders = new WeakSet<Provider>();

/**
 * Observes every backend once, in parallel: a constant number of round trips per backend. Providers
 * that need earlier steps' values (specialisation: address and host key) observe afterwards.
 */
export async function observeAll(
  providers: Provider[],
  ctx: ProviderContext,
  systems: DesiredSystem[] = [],
  /** Observations to take as they are instead of observing (serve's change-feed runs). */
  reuse?: ReadonlyMap<ResourceKind, Observation>,
  /** When an observation still running is named on stderr (src/cli/slow-observe.ts). */
  slowAfterMs = SLOW_AFTER_MS,
): Promise<Map<ResourceKind, Observation>> {
  const t0 = Date.now();
  // Per backend how long its observe took (from the start of the run's observe): where a slow plan's time goes.
  const timed = async (p: Provider, earlier?: Parameters<Provider['observe']>[1]) => {
    const stopWatching = watchSlow(p.kind, ctx.site, ctx.log, slowAfterMs);
    try {
      const o = await p.observe(ctx, earlier);
      ctx.log.debug({ kind: p.kind, ms: Date.now() - t0, roundTrips: o.roundTrips }, 'observed');
      return [p.kind, o] as const;
    } finally {
      stopWatching();
    }
  };
  const results = new Map<ResourceKind, Observation>();
  for (const p of providers) if (reuse?.has(p.kind)) results.set(p.kind, reuse.get(p.kind)!);
  const toObserve = providers.filter((p) => !results.has(p.kind));
  // The first error of a backend observed alongside others; the others' are caught so none goes unhandled.
  let failed: { e: unknown } | undefined;
  const done = new Map<ResourceKind, Promise<void>>();
  for (const p of toObserve.filter((q) => !q.observeAfterEarlier))
    done.set(
      p.kind,
      timed(p).then(
        ([k, o]) => void results.set(k, o),
        (e: unknown) => void (failed ??= { e }),
      ),
    );
  // One after another in step order, each seeing what the steps before it observed (specialisation
  // finds its targets through the host key install hands on, install its VM through the vm step).
  // Each waits only for the earlier steps that hand values on (`resolve`, `recovered`): DNS and DHCP,
  // slow over SSH, go on alongside.
  const later = orderedProviders(toObserve.filter((p) => p.observeAfterEarlier));
  const byName = new Map(systems.map((s) => [s.name, s]));
  const rank = (k: ResourceKind) => RESOURCE_KINDS.indexOf(k);
  for (const p of later) {
    const handsOn = providers.filter((q) => rank(q.kind) < rank(p.kind) && (q.resolve || q.recovered));
    await Promise.all(handsOn.map((q) => done.get(q.kind)));
    if (failed) break;
    const index = indexObservations(results);
    const earlier = {
      resolved: (name: string) => {
        const s = byName.get(name);
        // Every provider hands its values on, a reused observation's too (the VM's install marker).
        return s ? resolvedBefore(s, p.kind, providers, index, ctx.site) : undefined;
      },
    };
    const [k, o] = await timed(p, earlier);
    results.set(k, o);
    done.set(k, Promise.resolve());
  }
  await Promise.all(done.values());
  if (failed) throw failed.e;
  return results;
}

/**
 * What `observeAll` may take as it is after an apply: the observation of every kind the plan changed
 * nothing of. This run wrote nothing to those backends, so reading them again would read the same
 * again (an `ip` change does not touch the VM platform, a CPU change no DNS zone). Kinds that reach
 * their targets through the other kinds' values (`observeAfterEarlier`: install, specialisation) are
 * observed again whatever the plan, as are the kinds the plan touched, failed steps included.
 */
export function untouchedObservations(
  plan: Pick<Plan, 'actions'>,
  providers: Provider[],
  before: ReadonlyMap<ResourceKind, Observation>,
): Map<ResourceKind, Observation> {
  const touched = new Set(plan.actions.filter((a) => a.action !== 'noop' && !a.blocked).map((a) => a.kind));
  const same = new Map<ResourceKind, Observation>();
  for (const p of providers) {
    const o = before.get(p.kind);
    if (o && !touched.has(p.kind) && !p.observeAfterEarlier) same.set(p.kind, o);
  }
  return same;
}

export async function closeAll(providers: Provider[], log: Logger): Promise<void> {
  await Promise.all(
    providers.map(async (p) => {
      if (keptProviders.has(p)) return;
      try {
        await p.close?.();
      } catch (e) {
        log.warn({ kind: p.kind, err: (e as Error).message }, 'closing the session failed');
      }
    }),
  );
}
