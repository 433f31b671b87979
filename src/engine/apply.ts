/**
 * The executor: carries out a plan. Deletes first, stage by stage (kinds in reverse order, so a
 * VM goes before its DNS records and its address is released last), then creates and updates
 * in RESOURCE_KINDS order: the kinds up to the last one with a commit() stage by stage across all
 * systems (the commit runs once per stage), the rest per system as soon as that system's earlier
 * steps are done; every step works on at most its width (`stepConcurrency`) of systems at once.
 * Specialisation and the steps after it start in dependency order (`DesiredSystem.dependsOn`), so
 * a system's roles see the values of the systems it depends on. A system that fails a step (or
 * has a blocked action) takes no further steps; the others go on.
 */
import { codeOf, type OutcomeCode } from './outcome';
import type { DesiredSystem } from '../manifest/types';
import { deletedSystems, type Plan, type PlannedAction } from '../plan/types';
import { initialResolved, orderedProviders } from '../plan/planner';
import {
  RESOURCE_KINDS,
  UserError,
  type CreateIntent,
  type Observation,
  type ObservedResource,
  type Provider,
  type ProviderContext,
  type Resolved,
  type ResourceKind,
} from './contract';
import type { CreateJournal } from './journal';
import { Refusal } from './refusals';
import { gate, inDependencyOrder, mapPool, withRetry, type RetryPolicy } from './pool';
import { waitOrder } from '../plan/waits';

export type StepStatus = 'done' | 'failed' | 'skipped';

export interface ApplyEvent {
  /** `warn`: something the operator should know that did not fail the step (`error` says what). */
  type: 'start' | 'done' | 'failed' | 'retry' | 'commit' | 'progress' | 'warn';
  system: string;
  kind: ResourceKind;
  action: PlannedAction['action'] | 'commit';
  ms?: number;
  error?: string;
  /** For `progress`: what the step reports, e.g. `clone task-12 running 40%`. */
  detail?: string;
}

export interface SystemOutcome {
  system: string;
  status: 'ok' | 'failed' | 'blocked' | 'unchanged';
  steps: { kind: ResourceKind; action: PlannedAction['action']; status: StepStatus; ms: number }[];
  /** What stopped the system: the step, the reason code (closed set, outcome.ts) and the sentence. */
  error?: { kind: ResourceKind; code: OutcomeCode; message: string };
}

export interface ApplyReport {
  ok: boolean;
  outcomes: SystemOutcome[];
  /** Counts of steps carried out per action. */
  applied: Record<Exclude<PlannedAction['action'], 'adopt'>, number> & { adopt?: number };
  /** Create journal entries this run could not resolve (the backend could not be asked); the next run does. */
  journalLeft: string[];
}

export interface ApplyInput {
  plan: Plan;
  systems: DesiredSystem[];
  /** A shard's run: the other shards' systems, whose records and reservations left in this shard it deletes. */
  elsewhere?: DesiredSystem[];
  providers: Provider[];
  observations: Map<ResourceKind, Observation>;
  ctx: ProviderContext;
  concurrency: number;
  /** Per step, where it differs from `concurrency` (the site's `defaults.stepConcurrency`, src/manifest/concurrency.ts). */
  stepConcurrency?: Partial<Record<ResourceKind, number>>;
  retry: RetryPolicy;
  onEvent?: (e: ApplyEvent) => void;
  /** The engine's create journal; without one, creates are not journalled (unit tests). */
  journal?: CreateJournal;
}

/** The deletion guard, also checked before an interactive apply asks (so nobody says yes to a refused plan). */
export function checkDeletes(plan: Plan): void {
  const deleting = deletedSystems(plan);
  if (deleting.length > plan.maxDeletes) {
    throw new UserError(
      `refusing to apply: the plan deletes ${deleting.length} systems (${deleting.join(', ')}), more than --max-deletes ${plan.maxDeletes}; review the plan and raise --max-deletes if it is right`,
    );
  }
}

export async function applyPlan(input: ApplyInput): Promise<ApplyReport> {
  const { plan } = input;
  checkDeletes(plan);
  const systems = new Map([...(input.elsewhere ?? []), ...input.systems].map((s) => [s.name, s]));
  const outcomes = new Map<string, SystemOutcome>();
  const actionsBy = new Map<string, PlannedAction>();
  for (const a of plan.actions) {
    actionsBy.set(`${a.system}/${a.kind}`, a);
    const o = outcomes.get(a.system) ?? { system: a.system, status: 'unchanged' as const, steps: [] };
    if (a.blocked && o.status !== 'blocked')
      Object.assign(o, {
        status: 'blocked',
        error: { kind: a.kind, code: a.blockedCode ?? 'refused', message: a.blocked },
      });
    outcomes.set(a.system, o);
  }
  const observed = new Map<string, ObservedResource>();
  for (const [kind, obs] of input.observations)
    for (const r of obs.resources) if (r.owned) observed.set(`${r.system}/${kind}`, r);
  const applied: ApplyReport['applied'] = { create: 0, update: 0, replace: 0, delete: 0, adopt: 0, noop: 0 };
  const providers = orderedProviders(input.providers);
  const ctx: ProviderContext = {
    ...input.ctx,
    progress: (system, kind, detail) =>
      input.onEvent?.({
        type: 'progress',
        system,
        kind,
        action: actionsBy.get(`${system}/${kind}`)?.action ?? 'update',
        detail,
      }),
  };
  const resolved = new Map<string, Resolved>();
  // Each system sees the others' values live (cross-references), as far as their steps have run.
  const others = (name: string) => resolved.get(name);
  for (const s of input.systems) resolved.set(s.name, { ...initialResolved(s, providers, input.ctx.site), others });

  const live = (name: string) => {
    const o = outcomes.get(name);
    return !o || (o.status !== 'failed' && o.status !== 'blocked');
  };
  const fail = (name: string, kind: ResourceKind, e: unknown) => {
    const o = outcomes.get(name) ?? { system: name, status: 'failed' as const, steps: [] };
    o.status = 'failed';
    o.error ??= { kind, code: codeOf(e), message: e instanceof Error ? e.message : String(e) };
    outcomes.set(name, o);
  };

  // The create journal: intent recorded before every create, resolved after it in this run.
  const journal = input.journal;
  const warn = warner(input);
  const handled = new Set<string>();
  const settle = (
    provider: Provider,
    system: DesiredSystem | undefined,
    name: string,
    detail: Record<string, string>,
    why: string,
  ) =>
    journal ? settleEntry({ journal, ctx: input.ctx, warn }, provider, system, name, detail, why) : Promise.resolve();
  const journalled = async (
    provider: Provider,
    system: DesiredSystem,
    create: (intent: CreateIntent | undefined) => Promise<ObservedResource>,
  ): Promise<ObservedResource> => {
    handled.add(`${provider.kind}/${system.name}`);
    let intent: CreateIntent | undefined;
    try {
      intent = await journal?.start(provider.kind, system.name);
      const made = await create(intent);
      await journal?.finish(provider.kind, system.name);
      return made;
    } catch (e) {
      const detail = intent?.detail ?? journal?.read(provider.kind, system.name)?.detail ?? {};
      await settle(provider, system, system.name, detail, `the create failed (${(e as Error).message})`);
      throw e;
    }
  };

  // How many systems a step works on at once holds across the whole run: a step run for one system at a
  // time (the per-system part below) waits at its kind's gate like a stage's.
  const widthOf = (kind: ResourceKind) => input.stepConcurrency?.[kind] ?? input.concurrency;
  const gates = new Map(RESOURCE_KINDS.map((k) => [k, gate(widthOf(k))]));
  // Each step run so far (`system/kind`): whether it finished well; waiting steps read it (`waitsFor`).
  const finished = new Map<string, Promise<boolean>>();
  const runStage = async (
    provider: Provider,
    work: { system: DesiredSystem; action: PlannedAction }[],
    step: (w: { system: DesiredSystem; action: PlannedAction }) => Promise<void>,
  ) => {
    if (work.length === 0) return;
    // Steps that wait for another system's step of this stage (it frees the address they take) come
    // after it in the pool's order, so the pool never fills up with waiters; each step says when it ended.
    const ended = new Map<string, (ok: boolean) => void>();
    for (const w of work)
      finished.set(`${w.system.name}/${provider.kind}`, new Promise((r) => ended.set(w.system.name, r)));
    // Never rejects: a failed step is recorded in its system's outcome (runOne).
    await mapPool(waitOrder(work), widthOf(provider.kind), (w) =>
      gates.get(provider.kind)!(() => runOne(w)).then(
        (ok) => ended.get(w.system.name)!(ok),
        (e: unknown) => {
          ended.get(w.system.name)!(false);
          throw e;
        },
      ),
    );
    /** Records a step's failure in its system's outcome and reports it. */
    function failed(w: { system: DesiredSystem; action: PlannedAction }, e: unknown, ms?: number): void {
      fail(w.system.name, provider.kind, e);
      input.onEvent?.({
        type: 'failed',
        system: w.system.name,
        kind: provider.kind,
        action: w.action.action,
        ...(ms === undefined ? {} : { ms }),
        error: (e as Error).message,
      });
    }
    async function runOne(w: { system: DesiredSystem; action: PlannedAction }): Promise<boolean> {
      // Shutting down: start no new step; steps already running finish (safely abandoned, resumed next run).
      if (input.ctx.signal?.aborted) {
        fail(
          w.system.name,
          provider.kind,
          new Error('not started: shipshape is shutting down; the next run picks it up'),
        );
        return false;
      }
      for (const x of w.action.waitsFor ?? []) {
        // Not in this run (a saved plan whose other half went stale): the step's own checks decide.
        const other = finished.get(`${x.system}/${x.kind}`);
        if (!other || (await other)) continue;
        failed(
          w,
          new UserError(
            `not started: it takes what ${x.system} holds, and ${x.system}'s ${x.kind} step, which frees it first, failed; apply again once ${x.system} has moved`,
          ),
        );
        return false;
      }
      const t0 = Date.now();
      input.onEvent?.({ type: 'start', system: w.system.name, kind: provider.kind, action: w.action.action });
      try {
        await withRetry(
          () => step(w),
          input.retry,
          (e, attempt) =>
            input.onEvent?.({
              type: 'retry',
              system: w.system.name,
              kind: provider.kind,
              action: w.action.action,
              error: `${(e as Error).message} (attempt ${attempt})`,
            }),
        );
        const ms = Date.now() - t0;
        outcomes.get(w.system.name)?.steps.push({ kind: provider.kind, action: w.action.action, status: 'done', ms });
        if (w.action.action !== 'noop') applied[w.action.action] = (applied[w.action.action] ?? 0) + 1;
        input.onEvent?.({ type: 'done', system: w.system.name, kind: provider.kind, action: w.action.action, ms });
        return true;
      } catch (e) {
        const ms = Date.now() - t0;
        outcomes.get(w.system.name)?.steps.push({ kind: provider.kind, action: w.action.action, status: 'failed', ms });
        failed(w, e, ms);
        throw e;
      }
    }
    if (provider.commit) {
      const t0 = Date.now();
      try {
        const { failed } = await withRetry(() => provider.commit!(ctx), input.retry);
        for (const f of failed) fail(f.system, provider.kind, f.error);
        input.onEvent?.({ type: 'commit', system: '*', kind: provider.kind, action: 'commit', ms: Date.now() - t0 });
      } catch (e) {
        // The whole batch did not land: every system that took part failed at this step.
        for (const w of work) fail(w.system.name, provider.kind, e);
        input.onEvent?.({
          type: 'failed',
          system: '*',
          kind: provider.kind,
          action: 'commit',
          error: (e as Error).message,
        });
      }
    }
  };

  // Phase 1: declared removals, kinds in reverse order.
  for (const provider of [...providers].reverse()) {
    const work = plan.actions
      .filter((a) => a.kind === provider.kind && a.action === 'delete' && !a.blocked && live(a.system))
      .map((action) => ({ system: mustSystem(systems, action.system), action }));
    await runStage(provider, work, async ({ system, action }) => {
      // The manifests apply runs with decide, not the plan's snapshot of them. A moved system's old records
      // go as its records would change in an update, which protection does not stop.
      if (system.lifecycle.protect && !action.movedTo)
        throw new Refusal(
          'protected',
          `system ${system.name} is protected (lifecycle.protect: true); set it to false to allow the delete`,
        );
      const o = observed.get(`${system.name}/${provider.kind}`);
      if (o) await provider.delete(system, o, ctx);
    });
  }

  // What a step holds for a system: observed, or recovered from earlier steps' values as the plan did.
  const seen = (provider: Provider, system: DesiredSystem): ObservedResource | undefined =>
    observed.get(`${system.name}/${provider.kind}`) ?? provider.recovered?.(system, resolved.get(system.name)!);

  // Phase 2: creates and updates, kinds in order; values resolved by earlier steps flow forward.
  const workFor = (provider: Provider, among: DesiredSystem[]) => {
    const work: { system: DesiredSystem; action: PlannedAction }[] = [];
    for (const system of among) {
      if (system.state !== 'present' || !live(system.name)) continue;
      const action = actionsBy.get(`${system.name}/${provider.kind}`);
      // A step the plan leaves out (a scoped plan, --kind) still hands on what it observed, like a noop.
      if (!action || action.action === 'noop') {
        if (provider.resolve)
          resolved.set(system.name, provider.resolve(system, seen(provider, system), resolved.get(system.name)!));
        continue;
      }
      work.push({ system, action });
    }
    return work;
  };
  const stepOf =
    (provider: Provider) =>
    async ({ system, action }: { system: DesiredSystem; action: PlannedAction }) => {
      const key = `${system.name}/${provider.kind}`;
      const before = seen(provider, system);
      let r = resolved.get(system.name)!;
      if (provider.resolve && before) r = provider.resolve(system, before, r);
      const desired = provider.desired(system, r, input.ctx.site);
      if (desired === null) return;
      let after: ObservedResource;
      if (action.action === 'adopt') {
        // The resource the plan matched (unmarked, so not in `observed`): marked first, then the
        // accepted changes (the plan showed them) are made as an update of what is now ours.
        const found = input.observations
          .get(provider.kind)
          ?.resources.find((x) => x.id === action.resourceId && x.system === system.name && !x.owned);
        if (!found || !provider.adopt)
          throw new UserError(
            `${system.name}: ${provider.kind} ${action.resourceId ?? '?'} to adopt is not in this run's observation; plan again`,
            'failed',
          );
        after = await provider.adopt(system, found, r, ctx);
        if (provider.resolve) r = provider.resolve(system, after, r);
        const again = provider.desired(system, r, input.ctx.site);
        const rest = again ? provider.diff(system, again, after) : [];
        if (again && rest.length) after = await provider.update(system, again, after, rest, r, ctx);
      } else if (action.action === 'create' || !before) {
        after = await journalled(provider, system, (intent) => provider.create(system, desired, r, ctx, intent));
      } else if (action.action === 'replace') {
        await provider.delete(system, before, ctx);
        after = await journalled(provider, system, (intent) => provider.create(system, desired, r, ctx, intent));
      } else {
        after = await provider.update(system, desired, before, provider.diff(system, desired, before), r, ctx);
      }
      observed.set(key, after);
      // On top of what the system holds now: a vm step made alongside the DNS and DHCP stages must not
      // undo what they resolved meanwhile, nor they its values.
      if (provider.resolve) resolved.set(system.name, provider.resolve(system, after, resolved.get(system.name)!));
    };

  // The kinds up to the last one that commits (DNS, DHCP: one deploy per run, and the reservation must be
  // live before a VM boots its installer) run stage by stage across all systems. From there on each
  // system goes on alone (vm, install), so one system's install never waits for another's clone;
  // each step's width still holds through its gate. Specialisation and what follows start in
  // dependency order (environments and cross-references, `dependsOn`): once the system's own earlier
  // steps are done and every system it depends on came up whole; independent systems run in parallel.
  const late = providers.findIndex((p) => RESOURCE_KINDS.indexOf(p.kind) >= RESOURCE_KINDS.indexOf('specialise'));
  const [early, tail] = late < 0 ? [providers, []] : [providers.slice(0, late), providers.slice(late)];
  const staged = early.slice(0, early.map((p) => !!p.commit).lastIndexOf(true) + 1);
  const alone = early.slice(staged.length);
  // A VM created for a system the install step installs stays off until that step boots it
  // (`bootsVm`), so its clone need not wait for the DNS and DHCP deploys: it starts once the stages
  // before the first deploy (the addresses) are done, alongside the deploying ones; the install step,
  // which boots it, waits for all. Any other vm step (an update may power a VM on) waits for all too.
  // Not sooner: clones started while addresses are still allocated slowed the allocations, and with
  // them the deploys every install waits for (bench:lab, README "Scale").
  const firstDeploy = staged.findIndex((p) => !!p.commit);
  const onlyDeploysAfter = staged.slice(firstDeploy).every((p) => !!p.commit);
  let addressed!: () => void;
  const beforeDeploys = new Promise<void>((r) => (addressed = r));
  const stages = (async () => {
    for (const [i, provider] of staged.entries()) {
      if (i === firstDeploy) addressed();
      await runStage(provider, workFor(provider, input.systems), stepOf(provider));
    }
    addressed();
  })();
  const madeOff = (provider: Provider, system: DesiredSystem) =>
    onlyDeploysAfter &&
    provider.kind === 'vm' &&
    actionsBy.get(`${system.name}/vm`)?.action === 'create' &&
    resolved.get(system.name)?.bootsVm === true;
  const upTo = new Map(
    input.systems.map((system) => [
      system.name,
      (async () => {
        for (const provider of alone) {
          await (madeOff(provider, system) ? beforeDeploys : stages);
          await runStage(provider, workFor(provider, [system]), stepOf(provider));
        }
        // A site with no step between the deploys and the tail (DNS alone, no VMs) still waits for them.
        await stages;
      })(),
    ]),
  );
  await inDependencyOrder(input.systems, Infinity, async (system) => {
    await upTo.get(system.name);
    const down = (system.dependsOn ?? []).filter((d) => systems.has(d) && !live(d));
    const hasWork = tail.some((p) => (actionsBy.get(`${system.name}/${p.kind}`)?.action ?? 'noop') !== 'noop');
    if (down.length && hasWork && live(system.name)) {
      const e = new UserError(
        `not specialised: ${down.join(', ')}, which it depends on, did not come up; fix that and apply again`,
      );
      fail(system.name, 'specialise', e);
      input.onEvent?.({ type: 'failed', system: system.name, kind: 'specialise', action: 'update', error: e.message });
      return;
    }
    for (const provider of tail) await runStage(provider, workFor(provider, [system]), stepOf(provider));
  });

  await stages; // a plan with no systems to walk still ends after its stages
  // Entries no create of this run took up (a run killed mid-create whose resource this run found,
  // updated or deleted; a system that failed before its create): resolve them now.
  if (journal)
    await resolveInterrupted(
      {
        journal,
        providers,
        systems: input.systems,
        ctx: input.ctx,
        ...(input.onEvent ? { onEvent: input.onEvent } : {}),
      },
      handled,
    );
  await journal?.settled();
  const journalLeft = journal ? journal.list().map((e) => journal.pathFor(e.kind, e.system)) : [];

  for (const o of outcomes.values())
    if (o.status === 'unchanged' && o.steps.some((s) => s.status === 'done')) o.status = 'ok';
  const list = [...outcomes.values()].sort((a, b) => a.system.localeCompare(b.system));
  return {
    ok: list.every((o) => o.status === 'ok' || o.status === 'unchanged') && journalLeft.length === 0,
    outcomes: list,
    applied,
    journalLeft,
  };
}

/** Warnings go to the progress lines when there are any (one line each), else to the log. */
function warner(input: { ctx: ProviderContext; onEvent?: (e: ApplyEvent) => void }) {
  return (system: string, kind: ResourceKind, message: string) => {
    if (input.onEvent) input.onEvent({ type: 'warn', system, kind, action: 'create', error: message });
    else input.ctx.log.warn({ system, kind }, message);
  };
}

interface JournalDeps {
  journal: CreateJournal;
  ctx: ProviderContext;
  warn: (system: string, kind: ResourceKind, message: string) => void;
}

/** After a failed or interrupted create: find (and mark) what it left, then clear the entry; kept when the backend cannot tell. */
async function settleEntry(
  d: JournalDeps,
  provider: Provider,
  system: DesiredSystem | undefined,
  name: string,
  detail: Record<string, string>,
  why: string,
): Promise<void> {
  const path = d.journal.pathFor(provider.kind, name);
  if (system && provider.adoptCreated) {
    try {
      const left = await provider.adoptCreated(system, detail, d.ctx);
      if (left) d.warn(name, provider.kind, `${why}: found what it made (${left.id}), marked as this system's`);
      else if (Object.keys(detail).length)
        d.warn(
          name,
          provider.kind,
          `${why}: what it made (${JSON.stringify(detail)}) no longer exists; cleared its create journal`,
        );
    } catch (e) {
      d.warn(name, provider.kind, `${why}: ${(e as Error).message} (kept the create journal ${path} for the next run)`);
      return;
    }
  } else if (!system) {
    d.warn(
      name,
      provider.kind,
      `${why}, and the system is no longer declared; cleared its create journal (details: ${JSON.stringify(detail)})`,
    );
  }
  await d.journal.finish(provider.kind, name);
}

/**
 * Resolves the entries of creates an earlier run did not finish (killed mid-create): the provider
 * finds and marks what each made, so observe sees it as owned and the plan updates it instead of
 * creating a duplicate or blocking on an unmarked VM. `apply` calls this before it observes and plans;
 * the executor again at the end of a run for entries no create took up.
 */
export async function resolveInterrupted(
  input: {
    journal: CreateJournal;
    providers: Provider[];
    systems: DesiredSystem[];
    ctx: ProviderContext;
    onEvent?: (e: ApplyEvent) => void;
  },
  skip: Set<string> = new Set(),
): Promise<void> {
  const warn = warner(input);
  const systems = new Map(input.systems.map((s) => [s.name, s]));
  for (const e of input.journal.list()) {
    if (skip.has(`${e.kind}/${e.system}`)) continue;
    const provider = input.providers.find((p) => p.kind === e.kind);
    if (!provider) {
      warn(
        e.system,
        e.kind,
        `an interrupted create (since ${e.startedAt}) is for a backend this site no longer configures; cleared its create journal`,
      );
      await input.journal.finish(e.kind, e.system);
      continue;
    }
    await settleEntry(
      { journal: input.journal, ctx: input.ctx, warn },
      provider,
      systems.get(e.system),
      e.system,
      e.detail,
      `an earlier run was interrupted creating it (since ${e.startedAt})`,
    );
  }
}

function mustSystem(systems: Map<string, DesiredSystem>, name: string): DesiredSystem {
  const s = systems.get(name);
  if (!s) throw new Error(`internal: plan names system "${name}" that the manifests do not declare`);
  return s;
}
