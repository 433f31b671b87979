/**
 * What the lab holds for each system of the repo, read back from the three places a newcomer would look:
 * the VM in vCenter (vcsim), its object and address in i-doit (the emulator), its name in DNS (named).
 * Read-only; one batched read per backend.
 */
import { labIdoit, labPdnsZones, labVsphere, labZones } from './backends';
import { Resolver } from 'node:dns/promises';
import type { DesiredSystem } from '../manifest/types';
import { resolveSecret } from '../manifest';
import type { SiteConfig } from '../manifest/site';
import { createIdoitClient } from '../providers/idoit/site-client';
import { VM_TYPE } from '../providers/idoit/marker';
import { readAllStates, type ObjectRow } from '../providers/idoit/system-object';
import { VimClient } from '../providers/vsphere/client';
import { retrieveView } from '../providers/vsphere/inventory';

export interface WorldRow {
  system: string;
  declared: 'present' | 'absent';
  vm?: { cpu: number; memoryMiB: number; power: string };
  cmdb?: { ip?: string; status: string };
  dns?: string[];
}

async function vms(site: SiteConfig): Promise<Map<string, WorldRow['vm']>> {
  const v = labVsphere(site);
  const out = new Map<string, WorldRow['vm']>();
  if (!v) return out;
  const secret = (r: { ref: string }) => resolveSecret(r, site.root);
  const c = new VimClient({
    url: v.url,
    username: await secret(v.username),
    password: await secret(v.password),
    tls: v.tls,
    tlsBase: site.root,
    timeoutMs: 30_000,
  });
  try {
    const sc = await c.serviceContent();
    const rows = await retrieveView(c, sc.rootFolder, [
      {
        type: 'VirtualMachine',
        paths: ['name', 'config.hardware.numCPU', 'config.hardware.memoryMB', 'runtime.powerState'],
      },
    ]);
    for (const r of rows) {
      const p = (k: string) => r.props.get(k)?.text ?? '';
      out.set(p('name'), {
        cpu: Number(p('config.hardware.numCPU')),
        memoryMiB: Number(p('config.hardware.memoryMB')),
        power: p('runtime.powerState'),
      });
    }
  } finally {
    await c.logout();
  }
  return out;
}

const STATUS = ['', 'unfinished', 'normal', 'archived', 'deleted'];

async function cmdb(site: SiteConfig): Promise<Map<string, WorldRow['cmdb']>> {
  const out = new Map<string, WorldRow['cmdb']>();
  if (!labIdoit(site)) return out;
  const client = createIdoitClient(site, (r) => resolveSecret(r, site.root));
  try {
    const rows = (
      (await client.batchOrThrow(readAllStates({ type: VM_TYPE }, ['C__CATG__IP']))) as ObjectRow[][]
    ).flat();
    for (const r of rows) {
      const ips = (r.categories?.C__CATG__IP ?? []) as { ipv4_address?: { ref_title?: string } | string }[];
      const first = ips[0]?.ipv4_address;
      const ip = typeof first === 'string' ? first : first?.ref_title;
      out.set(r.title, { ...(ip ? { ip } : {}), status: STATUS[Number(r.status)] ?? String(r.status) });
    }
  } finally {
    await client.close();
  }
  return out;
}

async function dns(site: SiteConfig, fqdn: string): Promise<string[] | undefined> {
  // the server of the zone holding the name (named or pdns_server)
  const zones = [...labZones(site), ...labPdnsZones(site)].filter(
    (z) => fqdn === z.name || fqdn.endsWith(`.${z.name}`),
  );
  const server = zones.sort((a, b) => b.name.length - a.name.length)[0]?.server;
  if (!server) return undefined;
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`${server.host}:${server.port}`]);
  return r.resolve4(fqdn).catch(() => []);
}

export async function labWorld(site: SiteConfig, systems: DesiredSystem[]): Promise<WorldRow[]> {
  const [v, c] = await Promise.all([vms(site), cmdb(site)]);
  return Promise.all(
    systems.map(async (s) => {
      const d = s.dns.domain ? await dns(site, `${s.name}.${s.dns.domain}`) : undefined;
      const vm = v.get(s.name);
      const entry = c.get(s.name);
      return {
        system: s.name,
        declared: s.state,
        ...(vm ? { vm } : {}),
        ...(entry ? { cmdb: entry } : {}),
        ...(d ? { dns: d } : {}),
      };
    }),
  );
}

export function renderWorld(rows: WorldRow[]): string {
  const lines = rows.map((r) => [
    r.system,
    r.declared,
    r.vm ? `${r.vm.cpu} CPU ${r.vm.memoryMiB} MiB ${r.vm.power}` : '—',
    r.cmdb ? `${r.cmdb.ip ?? 'no address'} (${r.cmdb.status})` : '—',
    r.dns?.length ? r.dns.join(', ') : '—',
  ]);
  const head = ['system', 'manifest', 'vCenter VM', 'i-doit address', 'DNS A'];
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return (
    [head, ...lines]
      .map((l) =>
        l
          .map((x, i) => x.padEnd(w[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
