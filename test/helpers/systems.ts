/** Expanded systems and a site for provider tests, and the one stand-in for an engine stage all tests use. */
import { context as baseContext, site as baseSite, system as base } from '../support/fixtures';
import {
  UserError,
  type FieldChange,
  type Fields,
  type ObservedResource,
  type Provider,
  type ProviderContext,
  type Resolved,
} from '../../src/engine/contract';
import { Refusal } from '../../src/engine/refusals';
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
  /** What each handled system hands the next stage (the provider's `resolve`). */
  resolved: Map<string, Resolved>;
  /** Wall time of observe and of commit (render, check, deploy, reload), for benches. */
  ms: { observe: number; commit: number };
}

/** A change the diff refuses, as apply's error: the refusal's id and code (src/engine/refusals.ts), else `refused`. */
function refusalOf(system: string, refused: FieldChange[]): Error {
  const message = `system ${system}: ${refused.map((c) => c.refused).join('; ')}`;
  const id = refused.find((c) => c.refusal)?.refusal;
  return id ? new Refusal(id, message) : new UserError(message, 'refused');
}

/**
 * What the engine does for one stage: observe once, then per system create / update / delete (only
 * owned resources; a change the diff refuses blocks the system, as the planner does), then commit()
 * once. `parallel`: systems handled at once, as the engine's pool does (allocation races); default one
 * at a time.
 */
export async function runStage<F extends Fields>(
  p: Provider<F>,
  systems: DesiredSystem[],
  resolved: (s: DesiredSystem) => Resolved,
  ctx: ProviderContext,
  o: { parallel?: boolean } = {},
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
    resolved: new Map(),
    ms: { observe: Date.now() - t0, commit: 0 },
  };
  const owned = new Map<string, ObservedResource<F>>();
  for (const x of obs.resources) if (x.owned) owned.set(x.system, x);
  const names = new Set(systems.map((s) => s.name));
  r.notOurs = obs.resources.filter((x) => !x.owned && names.has(x.system)).map((x) => x.id);
  const one = async (s: DesiredSystem): Promise<void> => {
    let observed = owned.get(s.name);
    const base = resolved(s);
    const d = p.desired(s, base, ctx.site);
    try {
      if (s.state === 'absent' || !d) {
        if (observed) {
          await p.delete(s, observed, ctx);
          r.deleted.push(s.name);
          observed = undefined;
        }
      } else if (!observed) {
        observed = await p.create(s, d, base, ctx);
        r.created.push(s.name);
      } else {
        const ch = p.diff(s, d, observed);
        const refused = ch.filter((c) => c.refused);
        if (refused.length) throw refusalOf(s.name, refused);
        if (ch.length) {
          observed = await p.update(s, d, observed, ch, base, ctx);
          r.updated.push(s.name);
        } else r.unchanged.push(s.name);
      }
      r.resolved.set(s.name, p.resolve ? p.resolve(s, observed, base) : base);
    } catch (e) {
      r.refused.push({ system: s.name, error: e as Error });
    }
  };
  if (o.parallel) await Promise.all(systems.map(one));
  else for (const s of systems) await one(s);
  const t1 = Date.now();
  if (p.commit) r.failed = (await p.commit(ctx)).failed;
  r.ms.commit = Date.now() - t1;
  return r;
}
