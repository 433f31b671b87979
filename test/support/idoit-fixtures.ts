/**
 * Test and bench helpers: systems, a site, a quiet context, and a small stand-in for the engine's
 * per-stage loop (the one in test/helpers/systems.ts, systems handled at once).
 */
import { context, system } from './fixtures';
import type { Provider, ProviderContext, Resolved } from '../../src/engine/contract';
import { runStage as runEngineStage, type StageResult } from '../helpers/systems';
import type { NetSite, SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import type { IdoitConfig } from '../../src/providers/idoit/config';

/** The shared test system (test/support/fixtures.ts) in the i-doit tests' net, domain and OS. */
export function testSystem(name: string, over: Partial<DesiredSystem> = {}): DesiredSystem {
  return system(name, {
    network: { net: 'lab-net', ip: 'auto', mac: '00:50:56:00:00:01' },
    dns: { domain: 'lab.example.org', aliases: [] },
    os: 'Debian 12',
    sources: { cpu: { file: `systems/${name}.yaml`, line: 3, col: 6 } },
    ...over,
  });
}

export function testSite(url: string, nets: NetSite[], reserved: Record<string, string[]> = {}): SiteConfig {
  const idoit: IdoitConfig = {
    backend: 'idoit',
    url,
    apiKey: { ref: '${env:IDOIT_API_KEY}' },
    username: { ref: '${env:IDOIT_USER}' },
    password: { ref: '${env:IDOIT_PASSWORD}' },
    tls: {},
  };
  return {
    root: '/tmp',
    lab: true,
    ipam: { ...idoit },
    cmdb: { ...idoit },
    nets: Object.fromEntries(
      nets.map((n) => [n.title, { ...n, reserved: [...(n.reserved ?? []), ...(reserved[n.title] ?? [])] }]),
    ),
    dns: { zones: [] },
    dhcp: { servers: [] },
    defaults: { concurrency: 8, maxDeletes: 10 },
  };
}

export const testContext = (site: SiteConfig): ProviderContext => context(site);

/**
 * One stage as the engine runs it (test/helpers/systems.ts), systems at once, each with `resolvedIn`'s
 * values or, by default, its own address (`auto`: not known yet) and MAC. A refused system throws.
 */
export async function runStage(
  p: Provider,
  systems: DesiredSystem[],
  ctx: ProviderContext,
  resolvedIn: Map<string, Resolved> = new Map(),
): Promise<StageResult> {
  const own = (s: DesiredSystem): Resolved =>
    resolvedIn.get(s.name) ?? {
      ip: s.network.ip === 'auto' ? '(known after apply)' : s.network.ip,
      mac: s.network.mac,
    };
  const r = await runEngineStage(p, systems, own, ctx, { parallel: true });
  // These tests expect every system to land: a refusal fails the test with the provider's own error.
  if (r.refused[0]) throw r.refused[0].error;
  return r;
}

/**
 * Puts `count` managed systems into i-doit the way the ip and cmdb steps leave them (marked object,
 * host address, CPU, memory, drive, port), in batches of 500 creates.
 */
export async function seedManagedSystems(
  client: {
    call<T>(m: string, p?: Record<string, unknown>): Promise<T>;
    batchOrThrow(c: { method: string; params?: Record<string, unknown> }[]): Promise<unknown[]>;
  },
  count: number,
  netTitle: string,
  firstIp: number,
): Promise<void> {
  const nets = await client.call<{ id: number; title: string }[]>('cmdb.objects.read', {
    filter: { type: 'C__OBJTYPE__LAYER3_NET', title: netTitle },
  });
  const net = nets.find((n) => n.title === netTitle)!.id;
  for (let start = 0; start < count; start += 500) {
    const calls = [];
    for (let i = start; i < Math.min(count, start + 500); i++) {
      const n = firstIp + i;
      const ip = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
      calls.push({
        method: 'cmdb.object.create',
        params: {
          type: 'C__OBJTYPE__VIRTUAL_SERVER',
          title: `sys-${i}`,
          sysid: `SHIPSHAPE-VM-sys-${i}`,
          description: `shipshape-system=sys-${i}`,
          categories: {
            C__CATG__IP: [
              {
                net,
                ipv4_address: ip,
                hostname: `sys-${i}`,
                domain: 'lab.example.org',
                primary: 1,
                ipv4_assignment: 2,
              },
            ],
            C__CATG__CPU: [{ title: 'vCPU', cores: 2 }],
            C__CATG__MEMORY: [{ capacity: 4, unit: 'C__MEMORY_UNIT__GB' }],
            C__CATG__DRIVE: [{ title: 'Disk 1', capacity: 40, unit: 'C__MEMORY_UNIT__GB' }],
            C__CATG__NETWORK_PORT: [{ title: 'eth0', mac: '00:50:56:00:00:01', active: 1 }],
          },
        },
      });
    }
    await client.batchOrThrow(calls);
  }
}
