/**
 * Test and bench helpers: systems, a site, a quiet context, and a small stand-in for the engine's
 * per-stage loop (observe once, then create or update each system, then resolve for the next stage).
 */
import type { ObservedResource, Provider, ProviderContext, Resolved } from '../../engine/contract';
import type { NetSite, SiteConfig } from '../../manifest/site';
import type { DesiredSystem } from '../../manifest/types';

export function testSystem(name: string, over: Partial<DesiredSystem> = {}): DesiredSystem {
  return {
    name, state: 'present', labels: {}, cpu: 2, memoryMiB: 4096, disks: [{ sizeGiB: 40 }],
    network: { net: 'lab-net', ip: 'auto', mac: '00:50:56:00:00:01' },
    dns: { domain: 'lab.example.org', aliases: [] }, os: 'Debian 12', roles: [],
    lifecycle: { protect: false, vmOnDelete: 'destroy', cmdbOnDelete: 'archive', powerPolicy: 'never' },
    file: `systems/${name}.yaml`, sources: { cpu: { file: `systems/${name}.yaml`, line: 3, col: 6 } },
    ...over,
  };
}

export function testSite(url: string, nets: NetSite[], reserved: Record<string, string[]> = {}): SiteConfig {
  return {
    root: '/tmp', lab: true,
    idoit: { url, apiKey: { ref: '${env:IDOIT_API_KEY}' }, username: { ref: '${env:IDOIT_USER}' }, password: { ref: '${env:IDOIT_PASSWORD}' }, tls: {}, reserved },
    nets: Object.fromEntries(nets.map((n) => [n.title, n])),
    dns: { zones: [] }, dhcp: { servers: [] }, defaults: { concurrency: 8, maxDeletes: 10 },
  };
}

export function testContext(site: SiteConfig): ProviderContext {
  const quiet = () => undefined;
  return { site, lab: true, log: { info: quiet, warn: quiet, error: quiet, debug: quiet } };
}

export interface StageResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  resolved: Map<string, Resolved>;
}

/** One stage as the engine runs it, for present systems. */
export async function runStage(
  p: Provider, systems: DesiredSystem[], ctx: ProviderContext, resolvedIn: Map<string, Resolved> = new Map(),
): Promise<StageResult> {
  const obs = await p.observe(ctx);
  const byName = new Map<string, ObservedResource>();
  for (const r of obs.resources) if (r.owned) byName.set(r.system, r);
  const out: StageResult = { created: [], updated: [], unchanged: [], resolved: new Map() };
  await Promise.all(systems.map(async (s) => {
    const base: Resolved = resolvedIn.get(s.name) ?? { ip: s.network.ip === 'auto' ? '(known after apply)' : s.network.ip, mac: s.network.mac };
    const desired = p.desired(s, base, ctx.site)!;
    let observed = byName.get(s.name);
    if (!observed) {
      observed = await p.create(s, desired, base, ctx);
      out.created.push(s.name);
    } else {
      const changes = p.diff(s, desired, observed);
      if (changes.length) {
        observed = await p.update(s, desired, observed, changes, base, ctx);
        out.updated.push(s.name);
      } else out.unchanged.push(s.name);
    }
    out.resolved.set(s.name, p.resolve ? p.resolve(s, observed, base) : base);
  }));
  return out;
}
