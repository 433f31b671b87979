/**
 * `shipshape serve`: the reconcile loop as a service. Runs on a cron schedule, when the git ref
 * moves (polling), when local files change (chokidar, debounced); one run at a time; apply mode or
 * report-only (drift) mode; /healthz and /metrics over HTTP; SIGTERM lets the step in progress
 * finish (or abandons it safely after the grace period: the next run resumes). Providers that can be
 * are kept from run to run, and a backend's change feed (vSphere's WaitForUpdatesEx) starts a run of
 * just the systems that drifted, planned from the last observations patched with the feed's changes
 * (src/serve/providers.ts, src/serve/events.ts); the scheduled run stays the full one.
 */
import { applyFailed, codeOf, type OutcomeCode } from '../../engine/outcome';
import { watch, type FSWatcher } from 'chokidar';
import { UserError, type Logger } from '../../engine/contract';
import { parseCron } from '../../serve/cron';
import { startServeHttp, type LastRun } from '../../serve/http';
import { debounce, ReconcileLoop } from '../../serve/loop';
import { reconcilerMetrics } from '../../serve/metrics';
import { remoteHead } from '../../source/git';
import type { Io } from '../io';
import { applyOnce } from './apply';
import { driftOnce } from './drift';
import { resolveSource, type SourceOptions } from './plan';
import { startSiteProvisioning } from './provision';
import { keepManifestsBetweenLoads, loadValid, providerContext, stateDir, type Loaded } from '../pipeline';
import { ProviderPool } from '../../serve/providers';
import { FeedTrigger, noticeChanges } from '../../serve/events';
import { shardOptions, siteOptions } from '../sites';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunRecord } from '../../history/types';
import { readiness } from '../../serve/ready';
import { uiRoutes } from '../../ui/server';
import type { UiApplyOptions } from '../../ui/apply-button';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { counts } from './history';

export interface ServeOptions extends SourceOptions {
  mode: 'apply' | 'drift';
  schedule?: string;
  pollSeconds?: number;
  watch?: boolean;
  listen: string;
  graceSeconds?: number;
  /** Run the provisioning server of the site's `provisioning:` section (default true). */
  provisioning?: boolean;
  /** Serve the status page on the listen address (default true). */
  ui?: boolean;
  /** Reload the site config on SIGHUP (the command sets it; in-process tests do not). */
  reloadOnHup?: boolean;
  /** Watch the backends' change feeds between runs (default true). */
  changeFeed?: boolean;
  /** Quiet time before a burst of feed changes starts its run (default 500 ms). */
  changeFeedDebounceMs?: number;
  /** The status page's "Apply this plan" button, for users a reverse proxy names in this header. */
  uiApplyHeader?: string;
  uiTrustedProxies?: string[];
}

export interface RunningServe {
  url: string;
  loop: ReconcileLoop;
  pool: ProviderPool;
  stop(): Promise<void>;
}

export async function startServe(opts: ServeOptions, io: Io, log: Logger): Promise<RunningServe> {
  keepManifestsBetweenLoads(); // each run reads again only the manifests that changed
  let schedule;
  try {
    schedule = opts.schedule ? parseCron(opts.schedule) : undefined;
  } catch (e) {
    throw new UserError(`--schedule: ${(e as Error).message}`);
  }
  const m = reconcilerMetrics();
  let last: LastRun = {};

  /** A press of the status page's apply button waiting for its run: that run applies exactly this plan. */
  let pressed: { file: string; user: string } | undefined;
  // A change feed's notices become one run of the systems that still differ once it is quiet (src/serve/events.ts).
  const feed = new FeedTrigger({
    last: () => pool.last,
    busy: () => loop.busy,
    reread: (kind, ids) => pool.reread(kind, ids),
    trigger: (reason, systems) => void loop.trigger(reason, systems),
    say: (line) => io.err(line),
    quietMs: opts.changeFeedDebounceMs ?? 500,
  });
  const pool = new ProviderPool({
    log,
    onChanges: (kind, changes, before) => {
      const found = noticeChanges(pool.last, kind, changes, before);
      const n = changes.changed.length + changes.gone.length;
      if (found.length) m.feedChanges({ kind, drifted: 'true' }, found.length);
      if (n > found.length) m.feedChanges({ kind, drifted: 'false' }, n - found.length);
      feed.add(found, changes.resync);
    },
  });
  const run = async (reason: string, signal: AbortSignal, scope?: string[]) => {
    const started = Date.now();
    const press = pressed;
    pressed = undefined;
    last = { reason, startedAt: new Date(started).toISOString() };
    io.err(`reconcile (${press ? 'apply of the plan approved on the status page' : opts.mode}): ${reason}`);
    let result: LastRun['result'] = 'ok';
    // A CLI apply on this host holds the lock for a while: the scheduled run waits for it rather than failing.
    // A change-feed run: its systems, the watched kinds, planned from the observations the feeds keep current.
    const kept = pool.last;
    const feedRun = scope && kept && !press ? { systems: scope, kinds: pool.watched } : undefined;
    const runOpts = {
      ...opts,
      providers: pool,
      ...(feedRun
        ? { target: { ...opts.target, systems: feedRun.systems, kinds: feedRun.kinds }, observed: kept!.observations }
        : {}),
      trigger: press ? `ui apply by ${press.user}` : reason,
      waitLockMs: 10 * 60_000,
      onRecorded: (r: RunRecord) => io.err(resultLine(r)),
      ...(press ? { planFile: press.file } : {}),
    };
    try {
      if (opts.mode === 'apply' || press) {
        const { report } = await applyOnce(runOpts, io, log, signal).finally(
          () => press && rmSync(press.file, { force: true }),
        );
        if (report) {
          for (const o of report.outcomes)
            if (o.status === 'failed' && o.error) m.failures({ kind: o.error.kind, code: o.error.code });
          const codes: Partial<Record<OutcomeCode, number>> = {};
          for (const o of report.outcomes) if (o.error) codes[o.error.code] = (codes[o.error.code] ?? 0) + 1;
          if (Object.keys(codes).length) last.codes = codes;
          for (const [action, n] of Object.entries(report.applied)) if (n) m.changes({ action }, n);
          if (applyFailed(report)) result = 'failed';
        }
      } else {
        const report = await driftOnce(runOpts, io, log);
        if (feedRun) for (const system of feedRun.systems) m.drift.set({ system }, 0);
        else m.drift.reset();
        const perSystem = new Map<string, number>();
        for (const i of report.items) perSystem.set(i.system, (perSystem.get(i.system) ?? 0) + 1);
        for (const [system, n] of perSystem) m.drift.set({ system }, n);
        if (report.drifted) result = 'drift';
      }
    } catch (e) {
      result = 'failed';
      last.error = (e as Error).message;
      last.codes = { [codeOf(e)]: 1 };
      throw e;
    } finally {
      const secs = (Date.now() - started) / 1000;
      last = { ...last, result, endedAt: new Date().toISOString() };
      m.runs({ mode: opts.mode, result });
      m.runSeconds({ mode: opts.mode }, secs);
      m.lastRunSeconds.set({ mode: opts.mode }, secs);
      m.lastRunTimestamp.set({ mode: opts.mode }, Date.now() / 1000);
      // From the first run on, the kept providers' change feeds run between runs (a failed start is tried after the next).
      if (opts.changeFeed !== false && pool.last && !signal.aborted)
        await pool.startWatches({ ...providerContext(pool.last.loaded, log), signal });
    }
  };

  const loop = new ReconcileLoop({
    run,
    ...(schedule ? { schedule } : {}),
    ...(opts.repo && opts.pollSeconds
      ? {
          poll: {
            intervalMs: opts.pollSeconds * 1000,
            current: () => remoteHead(opts.repo!, opts.ref ?? 'main', stateDir(opts.stateDir)),
          },
        }
      : {}),
    onError: (e, reason) => io.err(`reconcile failed (${reason}): ${(e as Error).message}`),
  });

  let watcher: FSWatcher | undefined;
  const onChange = debounce(() => void loop.trigger('files changed'), 1500);
  if (opts.watch && !opts.repo) {
    watcher = watch(opts.dir, {
      ignoreInitial: true,
      ignored: (p) => /(^|\/)(\.git|\.lab|\.shipshape|node_modules|dist)(\/|$)/.test(p),
    });
    watcher.on('all', onChange);
  }
  const uiApply: UiApplyOptions | undefined = opts.uiApplyHeader
    ? {
        userHeader: opts.uiApplyHeader,
        ...(opts.uiTrustedProxies?.length ? { trustedProxies: opts.uiTrustedProxies } : {}),
        // The plan goes through the saved-plan path of apply: its actions only, each checked against the world.
        apply: async (plan, user) => {
          const dir = join(stateDir(opts.stateDir), 'ui-apply');
          mkdirSync(dir, { recursive: true, mode: 0o700 });
          const file = join(dir, `plan-${Date.now()}.json`);
          writeFileSync(file, JSON.stringify(plan, null, 2) + '\n', { mode: 0o600 });
          if (pressed) rmSync(pressed.file, { force: true }); // the newer press wins; each plan runs at most once
          pressed = { file, user };
          io.err(`status page: ${user} approved the pending plan; it runs next`);
          void loop.trigger(`ui apply by ${user}`);
        },
      }
    : undefined;
  if (uiApply && opts.ui === false) throw new UserError('--ui-apply-header needs the status page: leave out --no-ui');
  const ui = opts.ui === false ? undefined : uiRoutes(stateDir(opts.stateDir), undefined, uiApply);
  let site = await loadSite(opts, io);
  let provisioning = opts.provisioning === false ? undefined : await startProvisioningFor(site, opts, io, log);
  const http = await startServeHttp({
    listen: opts.listen,
    metrics: () => m.registry.render(),
    health: () => ({ busy: loop.busy, last }),
    ready: readiness(() => site?.repo.site),
    ...(ui ? { extra: (req: IncomingMessage, res: ServerResponse) => ui.handle(req, res) } : {}),
  });
  io.err(`serving ${ui ? 'the status page (/), ' : ''}/healthz, /readyz and /metrics at ${http.url}`);
  // SIGHUP: read shipshape.yaml again (readiness endpoints, the provisioning server), then run.
  const reload = () => {
    void (async () => {
      io.err('reload (SIGHUP): reading the site config again');
      site = await loadSite(opts, io);
      if (opts.provisioning !== false) {
        await provisioning?.close();
        provisioning = await startProvisioningFor(site, opts, io, log);
      }
      await loop.trigger('reload');
    })();
  };
  if (opts.reloadOnHup) process.on('SIGHUP', reload);
  loop.start();
  void loop.trigger('startup');
  return {
    url: http.url,
    loop,
    pool,
    async stop() {
      onChange.cancel();
      feed.cancel();
      if (opts.reloadOnHup) process.off('SIGHUP', reload);
      await watcher?.close();
      await loop.stop((opts.graceSeconds ?? 60) * 1000);
      await pool.close(); // feeds stopped, sessions logged out
      ui?.close();
      http.server.closeAllConnections(); // the status page's event streams stay open otherwise
      await http.close();
      await provisioning?.close();
    },
  };
}

/** The repo as it is now, for the site config; a repo that does not load yet only means none for now (the runs say why). */
async function loadSite(opts: ServeOptions, io: Io): Promise<Loaded | undefined> {
  try {
    const source = await resolveSource(opts, io);
    return await loadValid(source.dir, () => undefined, opts.site);
  } catch (e) {
    io.err(`site config not loaded: ${(e as Error).message}`);
    return undefined;
  }
}

/** One line per finished run for the service log: what, why, which commit, the counts, how long, what failed. */
export function resultLine(r: RunRecord): string {
  const commit = r.commit ? ` commit ${r.commit.slice(0, 12)}${r.dirty ? '+dirty' : ''}` : '';
  const failed = (r.outcomes ?? [])
    .filter((o) => o.status === 'failed')
    .map((o) => `${o.system} (${o.error?.kind}: ${o.error?.message})`);
  const drift = r.drift ? `${r.drift.items.length} drifted field(s), ${r.drift.orphans.length} orphan(s)` : '';
  const what = r.error ? `error: ${r.error.split('\n')[0]}` : drift || counts(r);
  return `run ${r.id} ${r.kind} ${r.status} (${r.trigger})${commit}: ${what} in ${((r.durationMs ?? 0) / 1000).toFixed(1)}s${failed.length ? `; failed: ${failed.join(', ')}` : ''}`;
}

/** The site's provisioning server, when it has one. */
async function startProvisioningFor(
  loaded: Loaded | undefined,
  opts: ServeOptions,
  io: Io,
  log: Logger,
): Promise<{ close(): Promise<void> } | undefined> {
  if (!loaded) return undefined;
  try {
    const p = loaded.repo.site.provisioning;
    if (!p) return undefined;
    // A shard's serve keeps install records where every shard's runs read them: the site's state dir.
    const srv = await startSiteProvisioning(loaded, p, stateDir(opts.sharedStateDir ?? opts.stateDir), log);
    io.err(`provisioning server on ${srv.url} (installers reach it as ${p.baseUrl})`);
    return srv;
  } catch (e) {
    io.err(`provisioning server not started: ${(e as Error).message}`);
    return undefined;
  }
}

export async function serveCommand(opts: ServeOptions, io: Io, log: Logger): Promise<number> {
  // One serve per site in a repo with sites/ (--site): its runs, lock and history in the site's state dir;
  // one per shard of a site with shards (--shard), in the shard's.
  const site = opts.site ? siteOptions(opts, opts.site) : opts;
  const s = await startServe({ ...(opts.shard ? shardOptions(site, opts.shard) : site), reloadOnHup: true }, io, log);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  io.err('shutting down: letting the step in progress finish');
  await s.stop();
  return 0;
}
