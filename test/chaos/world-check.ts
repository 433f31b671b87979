/**
 * The chaos harness's judge: reads the lab's world straight from each backend, never through
 * shipshape's providers, and lists what is wrong with it:
 *
 * - a VM name that appears twice anywhere in vCenter's inventory (a duplicate create);
 * - an i-doit object holding two addresses, an address held by two objects, or an address held by
 *   an object that is not a present system (leaked);
 * - DNS (read by zone transfer, AXFR) that disagrees with the IPAM: a present system's A record
 *   missing or pointing elsewhere, or a record left for a retired system;
 * - DHCP reservations (the dhcpd include file, Kea's config) that disagree with the IPAM;
 * - leftovers in the state dir: create journal entries, the run lock or its takeover lock, lock
 *   temp files, `*.corrupt-*` files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { labVsphere, labZones } from '../../src/lab/backends';
import { resolveSecret } from '../../src/manifest';
import type { SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import { createIdoitClient } from '../../src/providers/idoit/site-client';
import { VM_TYPE } from '../../src/providers/idoit/marker';
import { readAllStates, type ObjectRow } from '../../src/providers/idoit/system-object';
import { VimClient } from '../../src/providers/vsphere/client';
import { retrieveView } from '../../src/providers/vsphere/inventory';

export interface WorldInput {
  site: SiteConfig;
  systems: DesiredSystem[];
  stateDir: string;
  /** Where the lab's DNS server answers zone transfers. */
  dns: { host: string; port: number };
  /** The dhcpd include file and Kea config the lab's "servers" hold. */
  dhcpdInclude: string;
  keaConfig: string;
}

/** What the check looked at, so a "no problems" cannot come from reading nothing. */
export interface Checked {
  vms: number;
  addresses: number;
  dnsRecords: number;
  reservations: number;
}

export async function checkWorld(w: WorldInput): Promise<{ problems: string[]; checked: Checked }> {
  const problems: string[] = [];
  const checked: Checked = { vms: 0, addresses: 0, dnsRecords: 0, reservations: 0 };
  const present = new Map(w.systems.filter((s) => s.state === 'present').map((s) => [s.name, s]));

  for (const [name, n] of await vmNames(w.site)) {
    checked.vms += n;
    if (n > 1) problems.push(`vCenter: ${n} VMs named ${name}`);
  }

  const ipam = await addresses(w.site);
  const holders = new Map<string, string[]>();
  for (const [title, o] of ipam) {
    if (o.ips.length > 1)
      problems.push(`i-doit: object ${title} holds ${o.ips.length} addresses (${o.ips.join(', ')})`);
    for (const ip of o.ips) holders.set(ip, [...(holders.get(ip) ?? []), title]);
    checked.addresses += o.ips.length;
    if (o.ips.length && !(present.has(title) && o.status === 2))
      problems.push(`i-doit: ${title} (status ${o.status}) still holds ${o.ips.join(', ')}: a leaked address`);
  }
  for (const [ip, who] of holders) if (who.length > 1) problems.push(`i-doit: ${ip} is held by ${who.join(' and ')}`);
  const addressOf = (name: string) => ipam.get(name)?.ips[0];

  const zones = new Map<string, Map<string, string[]>>();
  for (const z of labZones(w.site)) if (!z.name.endsWith('.arpa')) zones.set(z.name, axfr(w.dns, z.name));
  for (const z of zones.values()) checked.dnsRecords += z.size;
  for (const s of w.systems) {
    const domain = w.site.nets[s.network.net]?.domain;
    const records = domain ? zones.get(domain)?.get(`${s.name}.${domain}.`) : undefined;
    if (!domain || !zones.has(domain)) continue;
    if (s.state === 'present') {
      const want = addressOf(s.name);
      if (!want) problems.push(`i-doit: present system ${s.name} holds no address`);
      else if (JSON.stringify(records ?? []) !== JSON.stringify([want]))
        problems.push(`DNS: ${s.name}.${domain} is ${JSON.stringify(records ?? [])}, the IPAM says ${want}`);
    } else if (records?.length) problems.push(`DNS: retired ${s.name}.${domain} still has ${records.join(', ')}`);
  }

  const dhcp = reservations(w.dhcpdInclude, w.keaConfig);
  checked.reservations = dhcp.size;
  for (const s of w.systems) {
    const r = dhcp.get(s.name);
    if (s.state === 'present' && w.site.dhcp.servers.some((d) => d.nets.includes(s.network.net))) {
      const want = addressOf(s.name);
      if (!r) problems.push(`DHCP: no reservation for present system ${s.name}`);
      else if (want && r !== want) problems.push(`DHCP: ${s.name} is reserved ${r}, the IPAM says ${want}`);
    } else if (s.state !== 'present' && r) problems.push(`DHCP: retired ${s.name} still reserved ${r}`);
  }

  problems.push(...leftovers(w.stateDir));
  return { problems, checked };
}

async function vmNames(site: SiteConfig): Promise<Map<string, number>> {
  const v = labVsphere(site)!;
  const secret = (r: { ref: string }) => resolveSecret(r, site.root);
  const tls = v.tls.caFile ? { ...v.tls, caFile: resolve(site.root, v.tls.caFile) } : v.tls;
  const c = new VimClient({
    url: v.url,
    username: await secret(v.username),
    password: await secret(v.password),
    tls,
    timeoutMs: 30_000,
  });
  try {
    const rows = await retrieveView(c, (await c.serviceContent()).rootFolder, [
      { type: 'VirtualMachine', paths: ['name'] },
    ]);
    const out = new Map<string, number>();
    for (const r of rows) {
      const n = r.props.get('name')?.text ?? '';
      out.set(n, (out.get(n) ?? 0) + 1);
    }
    return out;
  } finally {
    await c.logout();
  }
}

async function addresses(site: SiteConfig): Promise<Map<string, { status: number; ips: string[] }>> {
  const client = createIdoitClient(site, (r) => resolveSecret(r, site.root));
  try {
    const rows = (
      (await client.batchOrThrow(readAllStates({ type: VM_TYPE }, ['C__CATG__IP']))) as ObjectRow[][]
    ).flat();
    const out = new Map<string, { status: number; ips: string[] }>();
    for (const r of rows) {
      const ips = ((r.categories?.C__CATG__IP ?? []) as { ipv4_address?: { ref_title?: string } | string }[])
        .map((e) => (typeof e.ipv4_address === 'string' ? e.ipv4_address : e.ipv4_address?.ref_title))
        .filter((ip): ip is string => !!ip);
      const prev = out.get(r.title);
      // Two objects with one title: a duplicate CMDB create.
      if (prev) out.set(`${r.title} (second object ${r.id})`, { status: Number(r.status), ips });
      else out.set(r.title, { status: Number(r.status), ips });
    }
    return out;
  } finally {
    await client.close();
  }
}

/** owner name → A record values, by zone transfer. */
function axfr(server: { host: string; port: number }, zone: string): Map<string, string[]> {
  const out = execFileSync(
    'dig',
    [`@${server.host}`, '-p', String(server.port), zone, 'AXFR', '+nocmd', '+noall', '+answer', '+time=3', '+tries=2'],
    { encoding: 'utf8' },
  );
  const records = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 5 && f[3] === 'A')
      records.set(f[0]!.toLowerCase(), [...(records.get(f[0]!.toLowerCase()) ?? []), f[4]!].sort());
  }
  if (!out.includes('SOA'))
    throw new Error(
      `zone transfer of ${zone} from ${server.host}:${server.port} returned no SOA: ${out.slice(0, 200)}`,
    );
  return records;
}

/** hostname → reserved address, from dhcpd's include file and Kea's config. */
function reservations(dhcpdInclude: string, keaConfig: string): Map<string, string> {
  const out = new Map<string, string>();
  if (existsSync(dhcpdInclude)) {
    for (const m of readFileSync(dhcpdInclude, 'utf8').matchAll(/host\s+([^\s{]+)\s*\{([^}]*)\}/g)) {
      const ip = /fixed-address\s+([\d.]+)/.exec(m[2]!)?.[1];
      if (ip) out.set(m[1]!.replace(/^shipshape-/, ''), ip);
    }
  }
  if (existsSync(keaConfig)) {
    const conf = JSON.parse(readFileSync(keaConfig, 'utf8').replace(/^\s*(#|\/\/).*$/gm, '')) as {
      Dhcp4?: { subnet4?: { reservations?: { hostname?: string; 'ip-address'?: string }[] }[] };
    };
    for (const s of conf.Dhcp4?.subnet4 ?? [])
      for (const r of s.reservations ?? [])
        if (r.hostname && r['ip-address']) out.set(r.hostname.split('.')[0]!, r['ip-address']);
  }
  return out;
}

/** Journal entries, locks, lock temp files and corrupt-state files left in the state dir. */
export function leftovers(stateDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.startsWith(join(stateDir, 'journal') + '/') && n.endsWith('.json'))
        found.push(`create journal left: ${p}`);
      else if (/^run\.lock(\.takeover)?$/.test(n) || /^run\.lock.*\.tmp$/.test(n)) found.push(`lock left: ${p}`);
      else if (n.includes('.corrupt-')) found.push(`corrupt state moved aside: ${p}`);
    }
  };
  walk(stateDir);
  return found;
}
