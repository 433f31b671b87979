/**
 * The steps every command shares: load and validate the repo as a whole (nothing runs on an
 * invalid repo), build the providers the site configures, observe every backend once.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { simpleGit } from 'simple-git';
import type { Logger, Observation, Provider, ProviderContext, ResourceKind } from '../engine/contract';
import { formatDiagnostic, loadRepo, ManifestCache, type LoadResult } from '../manifest';
import type { SiteConfig } from '../manifest/site';
import { buildProviders } from '../providers/registry';
import { indexObservations, orderedProviders, resolvedBefore } from '../plan/planner';
import type { DesiredSystem } from '../manifest/types';
import { ExitError } from './errors';
import { secureStateDir } from './state-dir';
import { rememberSite } from './hints';

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
  const repo = await loadRepo(abs, {
    ...(site === undefined ? {} : { site }),
    ...(shard === undefined ? {} : { shard }),
    ...(manifestCache ? { cache: manifestCache } : {}),
  });
  for (const d of repo.diagnostics) err(formatDiagnostic(d));
  if (repo.ok && repo.sites && !repo.site)
    throw new ExitError(
      1,
      `${abs} holds several sites (${repo.sites.map((s) => s.name).join(', ')}): name one with --site NAME`,
    );
  if (!repo.ok || !repo.site) {
    const n = repo.diagnostics.filter((d) => d.severity === 'error').length;
    throw new ExitError(
      1,
      `${n} error${n === 1 ? '' : 's'} in ${abs}: nothing was planned or changed. Fix them and run again.`,
    );
  }
  rememberSite(repo.site);
  const commit = await headCommit(abs);
  const dirty = commit ? await isDirty(abs) : false;
  return { dir: abs, repo: repo as Loaded['repo'], ...(commit ? { commit } : {}), ...(dirty ? { dirty } : {}) };
}

export async function headCommit(dir: string): Promise<string | undefined> {
  try {
    const git = simpleGit(dir);
    if (!(await git.checkIsRepo())) return undefined;
    return (await git.revparse(['HEAD'])).trim();
  } catch {
    return undefined;
  }
}

async function isDirty(dir: string): Promise<boolean> {
  try {
    return !(await simpleGit(dir).status()).isClean();
  } catch {
    return false;
  }
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
): Promise<Map<ResourceKind, Observation>> {
  const t0 = Date.now();
  // Per backend how long its observe took (from the start of the run's observe): where a slow plan's time goes.
  const timed = async (p: Provider, earlier?: Parameters<Provider['observe']>[1]) => {
    const o = await p.observe(ctx, earlier);
    ctx.log.debug({ kind: p.kind, ms: Date.now() - t0, roundTrips: o.roundTrips }, 'observed');
    return [p.kind, o] as const;
  };
  const results = new Map<ResourceKind, Observation>();
  for (const p of providers) if (reuse?.has(p.kind)) results.set(p.kind, reuse.get(p.kind)!);
  providers = providers.filter((p) => !results.has(p.kind));
  const first = providers.filter((p) => !p.observeAfterEarlier);
  for (const [k, o] of await Promise.all(first.map((p) => timed(p)))) results.set(k, o);
  // One after another in step order, each seeing what the steps before it observed (specialisation
  // finds its targets through the host key install hands on, install its VM through the vm step).
  const later = orderedProviders(providers.filter((p) => p.observeAfterEarlier));
  const byName = new Map(systems.map((s) => [s.name, s]));
  for (const p of later) {
    const index = indexObservations(results);
    const earlier = {
      resolved: (name: string) => {
        const s = byName.get(name);
        return s ? resolvedBefore(s, p.kind, providers, index, ctx.site) : undefined;
      },
    };
    const [k, o] = await timed(p, earlier);
    results.set(k, o);
  }
  return results;
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
