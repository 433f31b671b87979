/**
 * The executor: carries out a plan stage by stage. Deletes first (kinds in reverse order, so a
 * VM goes before its DNS records and its address is released last), then creates and updates
 * in RESOURCE_KINDS order. Within a stage, systems run in parallel up to `concurrency`; a
 * provider's commit() runs once per stage. A system that fails a step (or has a blocked action)
 * takes no further steps; the others go on.
 */
import type { DesiredSystem } from '../manifest/types';
import { deletedSystems, type Plan, type PlannedAction } from '../plan/types';
import { initialResolved, orderedProviders } from '../plan/planner';
import { UserError, type Observation, type ObservedResource, type Provider, type ProviderContext, type Resolved, type ResourceKind } from './contract';
import { mapPool, withRetry, type RetryPolicy } from './pool';

export type StepStatus = 'done' | 'failed' | 'skipped';

export interface ApplyEvent {
  type: 'start' | 'done' | 'failed' | 'retry' | 'commit' | 'progress';
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
  error?: { kind: ResourceKind; message: string };
}

export interface ApplyReport {
  ok: boolean;
  outcomes: SystemOutcome[];
  /** Counts of steps carried out per action. */
  applied: Record<PlannedAction['action'], number>;
}

export interface ApplyInput {
  plan: Plan;
  systems: DesiredSystem[];
  providers: Provider[];
  observations: Map<ResourceKind, Observation>;
  ctx: ProviderContext;
  concurrency: number;
  retry: RetryPolicy;
  onEvent?: (e: ApplyEvent) => void;
}

export async function applyPlan(input: ApplyInput): Promise<ApplyReport> {
  const { plan } = input;
  const deleting = deletedSystems(plan);
  if (deleting.length > plan.maxDeletes) {
    throw new UserError(
      `refusing to apply: the plan deletes ${deleting.length} systems (${deleting.join(', ')}), more than --max-deletes ${plan.maxDeletes}; review the plan and raise --max-deletes if it is right`,
    );
  }
  const systems = new Map(input.systems.map((s) => [s.name, s]));
  const outcomes = new Map<string, SystemOutcome>();
  const actionsBy = new Map<string, PlannedAction>();
  for (const a of plan.actions) {
    actionsBy.set(`${a.system}/${a.kind}`, a);
    const o = outcomes.get(a.system) ?? { system: a.system, status: 'unchanged' as const, steps: [] };
    if (a.blocked && o.status !== 'blocked') Object.assign(o, { status: 'blocked', error: { kind: a.kind, message: a.blocked } });
    outcomes.set(a.system, o);
  }
  const observed = new Map<string, ObservedResource>();
  for (const [kind, obs] of input.observations) for (const r of obs.resources) if (r.owned) observed.set(`${r.system}/${kind}`, r);
  const applied: ApplyReport['applied'] = { create: 0, update: 0, replace: 0, delete: 0, noop: 0 };
  const providers = orderedProviders(input.providers);
  const ctx: ProviderContext = {
    ...input.ctx,
    progress: (system, kind, detail) =>
      input.onEvent?.({ type: 'progress', system, kind, action: actionsBy.get(`${system}/${kind}`)?.action ?? 'update', detail }),
  };
  const resolved = new Map<string, Resolved>();
  for (const s of input.systems) resolved.set(s.name, initialResolved(s, providers, input.ctx.site));

  const live = (name: string) => {
    const o = outcomes.get(name);
    return !o || (o.status !== 'failed' && o.status !== 'blocked');
  };
  const fail = (name: string, kind: ResourceKind, e: unknown) => {
    const o = outcomes.get(name) ?? { system: name, status: 'failed' as const, steps: [] };
    o.status = 'failed';
    o.error ??= { kind, message: e instanceof Error ? e.message : String(e) };
    outcomes.set(name, o);
  };

  const runStage = async (provider: Provider, work: { system: DesiredSystem; action: PlannedAction }[], step: (w: { system: DesiredSystem; action: PlannedAction }) => Promise<void>) => {
    if (work.length === 0) return;
    const results = await mapPool(work, input.concurrency, async (w) => {
      // Shutting down: start no new step; steps already running finish (safely abandoned, resumed next run).
      if (input.ctx.signal?.aborted) {
        fail(w.system.name, provider.kind, new Error('not started: shipshape is shutting down; the next run picks it up'));
        return;
      }
      const t0 = Date.now();
      input.onEvent?.({ type: 'start', system: w.system.name, kind: provider.kind, action: w.action.action });
      try {
        await withRetry(() => step(w), input.retry, (e, attempt) =>
          input.onEvent?.({ type: 'retry', system: w.system.name, kind: provider.kind, action: w.action.action, error: `${(e as Error).message} (attempt ${attempt})` }),
        );
        const ms = Date.now() - t0;
        outcomes.get(w.system.name)?.steps.push({ kind: provider.kind, action: w.action.action, status: 'done', ms });
        if (w.action.action !== 'noop') applied[w.action.action]++;
        input.onEvent?.({ type: 'done', system: w.system.name, kind: provider.kind, action: w.action.action, ms });
      } catch (e) {
        const ms = Date.now() - t0;
        outcomes.get(w.system.name)?.steps.push({ kind: provider.kind, action: w.action.action, status: 'failed', ms });
        fail(w.system.name, provider.kind, e);
        input.onEvent?.({ type: 'failed', system: w.system.name, kind: provider.kind, action: w.action.action, ms, error: (e as Error).message });
        throw e;
      }
    });
    void results;
    if (provider.commit) {
      const t0 = Date.now();
      try {
        const { failed } = await withRetry(() => provider.commit!(ctx), input.retry);
        for (const f of failed) fail(f.system, provider.kind, f.error);
        input.onEvent?.({ type: 'commit', system: '*', kind: provider.kind, action: 'commit', ms: Date.now() - t0 });
      } catch (e) {
        // The whole batch did not land: every system that took part failed at this step.
        for (const w of work) fail(w.system.name, provider.kind, e);
        input.onEvent?.({ type: 'failed', system: '*', kind: provider.kind, action: 'commit', error: (e as Error).message });
      }
    }
  };

  // Phase 1: declared removals, kinds in reverse order.
  for (const provider of [...providers].reverse()) {
    const work = plan.actions
      .filter((a) => a.kind === provider.kind && a.action === 'delete' && !a.blocked && live(a.system))
      .map((action) => ({ system: mustSystem(systems, action.system), action }));
    await runStage(provider, work, async ({ system }) => {
      const o = observed.get(`${system.name}/${provider.kind}`);
      if (o) await provider.delete(system, o, ctx);
    });
  }

  // Phase 2: creates and updates, kinds in order; values resolved by earlier steps flow forward.
  for (const provider of providers) {
    const work: { system: DesiredSystem; action: PlannedAction }[] = [];
    for (const system of input.systems) {
      if (system.state !== 'present' || !live(system.name)) continue;
      const action = actionsBy.get(`${system.name}/${provider.kind}`);
      if (!action) continue;
      if (action.action === 'noop') {
        if (provider.resolve) resolved.set(system.name, provider.resolve(system, observed.get(`${system.name}/${provider.kind}`), resolved.get(system.name)!));
        continue;
      }
      work.push({ system, action });
    }
    await runStage(provider, work, async ({ system, action }) => {
      const key = `${system.name}/${provider.kind}`;
      const before = observed.get(key);
      let r = resolved.get(system.name)!;
      if (provider.resolve && before) r = provider.resolve(system, before, r);
      const desired = provider.desired(system, r, input.ctx.site);
      if (desired === null) return;
      let after: ObservedResource;
      if (action.action === 'create' || !before) {
        after = await provider.create(system, desired, r, ctx);
      } else if (action.action === 'replace') {
        await provider.delete(system, before, ctx);
        after = await provider.create(system, desired, r, ctx);
      } else {
        after = await provider.update(system, desired, before, provider.diff(system, desired, before), r, ctx);
      }
      observed.set(key, after);
      if (provider.resolve) resolved.set(system.name, provider.resolve(system, after, r));
    });
  }

  for (const o of outcomes.values()) if (o.status === 'unchanged' && o.steps.some((s) => s.status === 'done')) o.status = 'ok';
  const list = [...outcomes.values()].sort((a, b) => a.system.localeCompare(b.system));
  return { ok: list.every((o) => o.status === 'ok' || o.status === 'unchanged'), outcomes: list, applied };
}

function mustSystem(systems: Map<string, DesiredSystem>, name: string): DesiredSystem {
  const s = systems.get(name);
  if (!s) throw new Error(`internal: plan names system "${name}" that the manifests do not declare`);
  return s;
}

