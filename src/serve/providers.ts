/**
 * The providers `serve` keeps from run to run. A provider that says it is `reusable` (vSphere) is
 * built once and handed to every run while the site config stays the same, so its session lives on
 * (its client logs in again by itself when vCenter ended it); the others are built per run as the
 * CLI builds them. Kept providers with a change feed (`watch`) are watched from the first run on;
 * the pool remembers what the last run observed and patches it with what the feeds report, which
 * is what a change-feed run plans from instead of observing again (src/serve/events.ts).
 */
import type {
  Logger,
  Observation,
  Provider,
  ProviderContext,
  ProviderWatch,
  ResourceKind,
  WatchedChanges,
} from '../engine/contract';
import { keptProviders, providersFor, type Loaded, type ProviderSource } from '../cli/pipeline';

interface Kept {
  key: string;
  provider: Provider;
  watch?: ProviderWatch;
  starting?: Promise<void>;
}

export interface LastRun {
  loaded: Loaded;
  providers: Provider[];
  observations: Map<ResourceKind, Observation>;
}

export class ProviderPool implements ProviderSource {
  private readonly kept = new Map<ResourceKind, Kept>();
  private lastRun: LastRun | undefined;
  private closed = false;

  constructor(
    private readonly o: {
      log: Logger;
      /** What a feed reported, after the pool patched its copy of the observation. */
      onChanges?: (kind: ResourceKind, changes: WatchedChanges, before: Observation | undefined) => void;
    },
  ) {}

  providers(loaded: Loaded, log: Logger, state: string, sharedState?: string): Provider[] {
    const key = configKey(loaded);
    return providersFor(loaded, log, state, sharedState).map((p) => {
      if (!p.reusable || this.closed) return p;
      const k = this.kept.get(p.kind);
      if (k?.key === key) return k.provider; // the new one was never connected: nothing to close
      if (k) void this.retire(k, 'the site config changed');
      this.kept.set(p.kind, { key, provider: p });
      keptProviders.add(p);
      return p;
    });
  }

  observed(loaded: Loaded, providers: Provider[], observations: Map<ResourceKind, Observation>): void {
    this.lastRun = { loaded, providers, observations: new Map(observations) };
  }

  /** What the last run observed, with the feeds' changes since applied. */
  get last(): LastRun | undefined {
    return this.lastRun;
  }

  /** The kept provider of a kind (tests and metrics look at its session's round trips). */
  provider(kind: ResourceKind): Provider | undefined {
    return this.kept.get(kind)?.provider;
  }

  /** The kinds whose provider has a running feed. */
  get watched(): ResourceKind[] {
    return [...this.kept].filter(([, k]) => k.watch).map(([kind]) => kind);
  }

  /** Starts the feed of each kept provider that has one and is not watching yet; a failure is logged and tried after the next run. */
  async startWatches(ctx: ProviderContext): Promise<void> {
    await Promise.all(
      [...this.kept.values()].map((k) => {
        if (!k.provider.watch || k.watch || k.starting || this.closed) return k.starting;
        k.starting = k.provider
          .watch(ctx, (changes) => this.changed(k.provider.kind, changes))
          .then((w) => {
            if (this.kept.get(k.provider.kind) === k && !this.closed) k.watch = w;
            else void w.stop();
          })
          .catch((e: unknown) =>
            this.o.log.warn(
              { kind: k.provider.kind, err: (e as Error).message },
              'serve: the change feed did not start; scheduled runs go on, it is tried again after the next run',
            ),
          )
          .finally(() => (k.starting = undefined));
        return k.starting;
      }),
    );
  }

  /** The kind's feed reads these resources again now (its report patches the observations first). */
  async reread(kind: ResourceKind, ids: string[]): Promise<void> {
    await this.kept.get(kind)?.watch?.reread(ids);
  }

  watchStats(): Record<string, Record<string, number>> {
    return Object.fromEntries([...this.kept].filter(([, k]) => k.watch).map(([kind, k]) => [kind, k.watch!.stats]));
  }

  /** Stops every feed and closes every kept provider (serve's shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.kept.values()];
    this.kept.clear();
    await Promise.all(all.map((k) => this.retire(k, 'shutdown')));
  }

  private changed(kind: ResourceKind, changes: WatchedChanges): void {
    const obs = this.lastRun?.observations.get(kind);
    if (obs && this.lastRun) {
      const byId = new Map(obs.resources.map((r) => [r.id, r]));
      for (const id of changes.gone) byId.delete(id);
      for (const r of changes.changed) byId.set(r.id, r);
      this.lastRun.observations.set(kind, { ...obs, resources: [...byId.values()] });
    }
    this.o.onChanges?.(kind, changes, obs);
  }

  private async retire(k: Kept, why: string): Promise<void> {
    keptProviders.delete(k.provider);
    await k.starting;
    await k.watch?.stop();
    try {
      await k.provider.close?.();
    } catch (e) {
      this.o.log.warn({ kind: k.provider.kind, err: (e as Error).message, why }, 'closing the session failed');
    }
  }
}

/** A kept provider serves runs while this stays the same: the site config and where systems are placed. */
function configKey(loaded: Loaded): string {
  return JSON.stringify([loaded.dir, loaded.repo.site, loaded.repo.systems.map((s) => [s.name, s.placement ?? null])]);
}
