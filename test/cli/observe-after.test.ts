/**
 * The observation after an apply (the status page's "plan left", `shipshape show`) reads again only
 * what the apply changed: a CPU change does not read every DNS zone and the IPAM a second time.
 */
import { applyPlan } from '../../src/engine/apply';
import type { Observation, Provider, ResourceKind } from '../../src/engine/contract';
import type { DesiredSystem } from '../../src/manifest/types';
import { observeAll, untouchedObservations } from '../../src/cli/pipeline';
import { plan as makePlan } from '../../src/plan/planner';
import { MemoryBatchProvider, MemoryIpam, MemoryProvider } from '../support/memory-provider';
import { context, site, system } from '../support/fixtures';

const ctx = context(site);

function world() {
  const ipam = new MemoryIpam();
  const dns = new MemoryBatchProvider('dns', (s, r) => ({ a: `${s.name}.${s.dns.domain} A ${r.ip}` }));
  const vm = new MemoryProvider('vm', (s) => ({ cpu: s.cpu }));
  return { ipam, dns, vm, all: [ipam, dns, vm] as Provider[] };
}

/** observe, plan, apply, then the observation after the apply and the plan it leaves, as `shipshape apply` does. */
async function applyAndLook(systems: DesiredSystem[], providers: Provider[]) {
  const before = await observeAll(providers, ctx, systems);
  const plan = makePlan({ systems, site, providers, observations: before, maxDeletes: 3, now: new Date() });
  const report = await applyPlan({
    plan,
    systems,
    providers,
    observations: before,
    ctx,
    concurrency: 4,
    retry: { attempts: 1, baseDelayMs: 1 },
  });
  const after: Map<ResourceKind, Observation> = await observeAll(
    providers,
    ctx,
    systems,
    untouchedObservations(plan, providers, before),
  );
  const left = makePlan({ systems, site, providers, observations: after, maxDeletes: 3, now: new Date() });
  return { plan, report, left: left.actions.filter((a) => a.action !== 'noop') };
}

const observes = (p: MemoryProvider) => p.ops('observe').length;

test('after a CPU change only the VM platform is read again, and the plan left is empty', async () => {
  const w = world();
  expect((await applyAndLook([system('web-01')], w.all)).report.ok).toBe(true);
  const counts = () => [observes(w.ipam), observes(w.dns), observes(w.vm)];
  const was = counts();
  const { plan, report, left } = await applyAndLook([system('web-01', { cpu: 4 })], w.all);
  expect(plan.actions.filter((a) => a.action !== 'noop').map((a) => `${a.kind}:${a.action}`)).toEqual(['vm:update']);
  expect(report.ok).toBe(true);
  expect(left).toEqual([]);
  // Before the apply every kind was read once; after it, only vm (the first apply touched all three).
  expect(counts().map((n, i) => n - was[i]!)).toEqual([1, 1, 2]);
});

test('a kind whose step failed is read again: the plan left shows what did not land', async () => {
  const w = world();
  await applyAndLook([system('web-01')], w.all);
  w.dns.failWith = (op) => (op === 'update' ? new Error('zone refused') : undefined);
  const { report, left } = await applyAndLook(
    [system('web-01', { dns: { domain: 'other.example.com', aliases: [] } })],
    w.all,
  );
  expect(report.ok).toBe(false);
  expect(left.map((a) => `${a.kind}:${a.action}`)).toEqual(['dns:update']);
});
