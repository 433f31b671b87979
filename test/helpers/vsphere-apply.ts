/** Plan and apply VMs through the engine (journal included) with only the vSphere provider, as `shipshape apply` would. */
import type { CreateJournal } from '../../src/engine/journal';
import { applyPlan, resolveInterrupted, type ApplyEvent, type ApplyReport } from '../../src/engine/apply';
import type { Observation, ResourceKind } from '../../src/engine/contract';
import type { DesiredSystem } from '../../src/manifest/types';
import type { SiteConfig } from '../../src/manifest/site';
import { plan as makePlan } from '../../src/plan/planner';
import type { Plan } from '../../src/plan/types';
import { VsphereProvider, type VsphereProviderOptions } from '../../src/providers/vsphere/provider';
import { ctxFor, secret, vmsOf } from './vsphere-site';

export async function applyVms(
  site: SiteConfig,
  systems: DesiredSystem[],
  journal: CreateJournal,
  o: Partial<VsphereProviderOptions> & { concurrency?: number } = {},
): Promise<{ plan: Plan; report: ApplyReport; events: ApplyEvent[] }> {
  const p = new VsphereProvider({ config: vmsOf(site), secret, ...o });
  const ctx = ctxFor(site);
  const events: ApplyEvent[] = [];
  try {
    await resolveInterrupted({ journal, providers: [p], systems, ctx, onEvent: (e) => events.push(e) });
    const observations = new Map<ResourceKind, Observation>([['vm', await p.observe(ctx)]]);
    const plan = makePlan({ systems, site, providers: [p], observations, maxDeletes: 100, now: new Date() });
    const report = await applyPlan({
      plan,
      systems,
      providers: [p],
      observations,
      ctx,
      concurrency: o.concurrency ?? site.defaults.concurrency,
      retry: { attempts: 3, baseDelayMs: 10 },
      journal,
      onEvent: (e) => events.push(e),
    });
    return { plan, report, events };
  } finally {
    await p.close();
  }
}
