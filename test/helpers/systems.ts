/** Expanded systems and a site for provider tests, and a stand-in for one engine stage. */
import { context as baseContext, site as baseSite, system as base } from '../support/fixtures';
import type { Fields, ObservedResource, Provider, ProviderContext, Resolved } from '../../src/engine/contract';
import type { DesiredSystem } from '../../src/manifest/types';
import type { SiteConfig } from '../../src/manifest/site';

/** The shared test system (test/support/fixtures.ts) in a given net and domain, sized small. */
export function system(
  name: string,
  o: { net: string; domain: string; aliases?: string[]; state?: 'present' | 'absent'; mac?: string },
): DesiredSystem {
  return base(name, {
    state: o.state ?? 'present',
    cpu: 1,
    memoryMiB: 1024,
    disks: [{ sizeGiB: 10 }],
    network: { net: o.net, ip: 'auto', mac: o.mac ?? '00:50:56:00:00:01' },
    dns: { domain: o.domain, aliases: o.aliases ?? [] },
    sources: { 'network.ip': { file: `systems/${name}.yaml`, line: 9, col: 9 } },
  });
}

/** The shared test site as a lab site with no nets, overridden by `over`. */
export function site(over: Partial<SiteConfig>): SiteConfig {
  return { ...baseSite, root: '/nonexistent', lab: true, nets: {}, ...over };
}

export const context = (s: SiteConfig): ProviderContext => baseContext(s, 'abc1234');

export interface StageResult {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: string[];
  refused: { system: string; error: Error }[];
  failed: { system: string; error: Error }[];
  notOurs: string[];
  /** Wall time of observe and of commit (render, check, deploy, reload), for benches. */
  ms: { observe: number; commit: number };
}

/**
 * What the engine does for one stage: observe once, then per system create / update / delete
 * (only owned resources), then commit() once.
 */
export async function runStage<F extends Fields>(
  p: Provider<F>,
  systems: DesiredSystem[],
  resolved: (s: DesiredSystem) => Resolved,
  ctx: ProviderContext,
): Promise<StageResult> {
  const t0 = Date.now();
  const obs = await p.observe(ctx);
  const r: StageResult = {
    created: [],
    updated: [],
    deleted: [],
    unchanged: [],
    refused: [],
    failed: [],
    notOurs: [],
    ms: { observe: Date.now() - t0, commit: 0 },
  };
  const owned = new Map<string, ObservedResource<F>>();
  for (const o of obs.resources) if (o.owned) owned.set(o.system, o);
  const names = new Set(systems.map((s) => s.name));
  r.notOurs = obs.resources.filter((o) => !o.owned && names.has(o.system)).map((o) => o.id);
  for (const s of systems) {
    const o = owned.get(s.name);
    const d = p.desired(s, resolved(s), ctx.site);
    try {
      if (s.state === 'absent' || !d) {
        if (o) {
          await p.delete(s, o, ctx);
          r.deleted.push(s.name);
        }
      } else if (!o) {
        await p.create(s, d, resolved(s), ctx);
        r.created.push(s.name);
      } else {
        const ch = p.diff(s, d, o);
        if (ch.length) {
          await p.update(s, d, o, ch, resolved(s), ctx);
          r.updated.push(s.name);
        } else r.unchanged.push(s.name);
      }
    } catch (e) {
      r.refused.push({ system: s.name, error: e as Error });
    }
  }
  const t1 = Date.now();
  if (p.commit) r.failed = (await p.commit(ctx)).failed;
  r.ms.commit = Date.now() - t1;
  return r;
}
