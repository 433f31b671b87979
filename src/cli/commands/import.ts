/**
 * `shipshape import`: reads the world and writes one manifest per existing system under systems/
 * (the VMs an old pipeline made), chosen by name list, vCenter folder, name pattern or net. It only
 * observes: nothing in any backend changes. Each manifest records what was found in each backend
 * (VM moref and instanceUuid, MAC, address, i-doit object, DNS records, DHCP reservations) as
 * comments, keeps the MAC and address as they are, and says what it could not map.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { UserError, type Logger, type ObservedResource, type ResourceKind } from '../../engine/contract';
import type { SiteConfig } from '../../manifest/site';
import { cidrContains, ipToInt, parseCidr } from '../../net/ipv4';
import type { VmFields, VmHandle } from '../../providers/vsphere/fields';
import { whereFor, type Where } from '../../providers/vsphere/where';
import { closeAll, loadValid, providerContext, providersFor, stateDir } from '../pipeline';
import type { Io } from '../io';
import { manifestText, type ImportFacts, type ProfileValues } from '../../import/manifest';

export interface ImportOptions {
  dir: string;
  stateDir?: string;
  /** Names to import (exact VM names). */
  names: string[];
  /** A folder below the datacenter's VM folder (`legacy/web`): VMs in it and below. */
  folder?: string;
  nameRegex?: string;
  /** A net of shipshape.yaml: VMs whose address (i-doit, DNS or DHCP) lies in it. */
  net?: string;
}

/** The kinds import reads: the VM platform, the IPAM, the CMDB, DNS and DHCP (never a managed host). */
const READ: ResourceKind[] = ['vm', 'ip', 'cmdb', 'dns', 'dhcp'];

export async function importCommand(opts: ImportOptions, io: Io, log: Logger): Promise<number> {
  const loaded = await loadValid(opts.dir, io.err);
  const site = loaded.repo.site;
  if (opts.net && !site.nets[opts.net])
    throw new UserError(
      `--net ${opts.net}: shipshape.yaml declares no such net (nets: ${Object.keys(site.nets).join(', ')})`,
      'invalid',
    );
  const regex = opts.nameRegex ? compile(opts.nameRegex) : undefined;
  if (!opts.names.length && !opts.folder && !regex && !opts.net)
    throw new UserError('say what to import: VM names, --folder, --name-regex or --net', 'invalid');
  const providers = providersFor(loaded, log, stateDir(opts.stateDir)).filter((p) => READ.includes(p.kind));
  const vmProvider = providers.find((p) => p.kind === 'vm');
  if (!vmProvider) throw new UserError('shipshape.yaml has no vms: section; import starts from the VMs', 'invalid');
  const declared = new Set(loaded.repo.systems.map((s) => s.name));
  const base = { ...providerContext(loaded, log), readOnly: true };
  try {
    // First a light read of every VM (no devices), to choose; then the chosen ones are read whole.
    const light = (await vmProvider.observe({ ...base, declared: new Set() })).resources as VmRes[];
    const picked = light.filter(
      (r) =>
        !r.owned &&
        (!opts.names.length || opts.names.includes(r.fields.name)) &&
        (!opts.folder || inFolder(r.handle?.folder, opts.folder)) &&
        (!regex || regex.test(r.fields.name)),
    );
    if (!picked.length && (opts.folder || regex))
      io.err(
        `nothing to import: no VM without shipshape's marker ${[opts.folder ? `lies in folder ${opts.folder} (below the datacenter's VM folder)` : '', regex ? `has a name matching ${opts.nameRegex}` : ''].filter(Boolean).join(' and ')}`,
      );
    const ctx = { ...base, declared: new Set(picked.map((r) => r.fields.name)) };
    const observed = new Map(
      await Promise.all(providers.map(async (p) => [p.kind, (await p.observe(ctx)).resources] as const)),
    );
    const vms = (observed.get('vm') ?? []) as VmRes[];
    const profiles = readProfiles(loaded.dir);
    const written: string[] = [];
    const skipped: string[] = [];
    const byName = new Map<string, VmRes[]>();
    for (const r of vms.filter((v) => !v.owned && ctx.declared.has(v.fields.name)))
      byName.set(r.fields.name, [...(byName.get(r.fields.name) ?? []), r]);
    for (const name of opts.names)
      if (!byName.has(name)) skipped.push(`${name}: no VM without shipshape's marker has this name`);
    for (const [name, list] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      if (list.length > 1) {
        skipped.push(
          `${name}: ${list.length} VMs have this name (${list.map((v) => v.id).join(', ')}); rename all but one, then import again`,
        );
        continue;
      }
      if (declared.has(name)) {
        skipped.push(
          `${name}: a manifest already declares it (\`shipshape plan --adopt\` shows what adopting it would do)`,
        );
        continue;
      }
      const facts = factsOf(list[0]!, observed, site);
      if (opts.net && facts.netKey !== opts.net) continue;
      const file = join(loaded.dir, 'systems', `${name}.yaml`);
      if (existsSync(file)) {
        skipped.push(`${name}: ${relative(loaded.dir, file)} exists; not overwritten`);
        continue;
      }
      mkdirSync(join(loaded.dir, 'systems'), { recursive: true });
      writeFileSync(file, manifestText(facts, profiles, new Date()));
      written.push(relative(loaded.dir, file));
    }
    for (const s of skipped) io.err(`skipped ${s}`);
    io.out(
      `${written.length ? written.map((w) => `wrote ${w}`).join('\n') + '\n' : ''}Imported ${written.length} system(s); nothing was changed in any backend. Review the files, then \`shipshape plan --adopt\` and \`shipshape adopt\`.\n`,
    );
    return 0;
  } finally {
    await closeAll(providers, log);
  }
}

type VmRes = ObservedResource<VmFields, VmHandle>;

function compile(re: string): RegExp {
  try {
    return new RegExp(re);
  } catch (e) {
    throw new UserError(`--name-regex ${re}: ${(e as Error).message}`, 'invalid');
  }
}

function inFolder(at: string | undefined, folder: string): boolean {
  const f = folder.split('/').filter(Boolean).join('/');
  return at !== undefined && (at === f || at.startsWith(`${f}/`));
}

/** The site net an address lies in, or one whose i-doit title is `title`. */
function netOf(site: SiteConfig, ip?: string, title?: string): string | undefined {
  const n = ip ? ipToInt(ip) : null;
  for (const [key, net] of Object.entries(site.nets)) {
    if (title && (net.title === title || key === title)) return key;
    const c = parseCidr(net.cidr);
    if (n !== null && c && cidrContains(c, n)) return key;
  }
  return undefined;
}

/** Everything each backend holds for one VM, as facts and manifest values. */
function factsOf(
  vm: VmRes,
  observed: Map<ResourceKind, ObservedResource[]>,
  site: SiteConfig,
): ImportFacts & { netKey?: string } {
  const name = vm.fields.name;
  const f = vm.fields;
  const v = site.vms as
    { datacenter?: string; datastore?: string; portgroup?: string; templates?: Record<string, string> } | undefined;
  const theirs = (kind: ResourceKind, also?: (r: ObservedResource) => boolean) =>
    // DNS names and i-doit titles of hand-made objects are keyed in lower case (`WEB01` is `web01`).
    (observed.get(kind) ?? []).filter(
      (r) => !r.owned && (r.system === name.toLowerCase() || r.system === name || also?.(r)),
    );
  const found: string[] = [
    `vSphere: VM ${vm.id}, instanceUuid ${vm.handle?.instanceUuid || '?'}, folder ${v?.datacenter ?? ''}/vm${vm.handle?.folder ? `/${vm.handle.folder}` : ''}, ${f.power}, MAC ${f.mac || 'none'} on ${f.portgroup || '?'}`,
  ];
  const unmapped: string[] = [];
  const ip = theirs('ip')[0];
  const cmdb = theirs('cmdb')[0];
  if (ip)
    found.push(
      `i-doit: object #${ip.id}, host address ${String(ip.fields.ip) || 'none'} in net ${String(ip.fields.net) || '?'}`,
    );
  if (cmdb && cmdb.id !== ip?.id) found.push(`i-doit: object #${cmdb.id} "${String(cmdb.fields.title)}"`);
  const dns = theirs('dns');
  for (const r of dns) {
    const recs = (r.fields.handwritten as string[] | undefined) ?? [];
    found.push(
      `DNS: ${r.id}: ${recs.length ? recs.join(', ') : `A ${String(r.fields.a)}`} (hand-written; \`shipshape adopt\` moves ${recs.length > 1 ? 'them' : 'it'} into shipshape's records)`,
    );
  }
  const dhcp = theirs('dhcp', (r) => !!f.mac && r.fields.mac === f.mac);
  for (const r of dhcp)
    found.push(
      `DHCP: ${r.id}: ${String(r.fields.mac)} -> ${String(r.fields.ip)} (hand-written; \`shipshape adopt\` moves it into shipshape's reservations)`,
    );
  const address =
    (ip?.fields.ip as string | undefined) ||
    (dns.find((r) => r.fields.a)?.fields.a as string | undefined) ||
    (dhcp.find((r) => r.fields.ip)?.fields.ip as string | undefined) ||
    undefined;
  const netKey = netOf(site, address, ip?.fields.net as string | undefined);
  const dnsFacts = dnsOf(dns, netKey ? site.nets[netKey]?.domain : undefined);
  if (!address)
    unmapped.push(
      'no address in i-doit, DNS or DHCP: `ip: auto` would allocate a NEW one; set network.ip to the address it has',
    );
  if (address && !netKey)
    unmapped.push(`address ${address} lies in no net of shipshape.yaml: add its net, or set network.net by hand`);
  if (f.power !== 'poweredOn')
    unmapped.push(`the VM is ${f.power}; shipshape keeps a system powered on, so adopting it powers it on`);
  unmapped.push(
    'os: vCenter does not record the template a VM was cloned from; the os below comes from the profile (or the first template of shipshape.yaml): check it',
  );
  f.disks.forEach((d, i) => {
    if (!Number.isInteger(d.sizeGiB))
      unmapped.push(
        `disk ${i} is ${d.sizeGiB} GiB, not a whole number: the manifest says ${Math.ceil(d.sizeGiB)} GiB, so adopting it grows the disk`,
      );
  });
  const disks = f.disks
    .map((d) => ({ ...d, sizeGiB: Math.ceil(d.sizeGiB) }))
    .map((d) =>
      d.datastore && d.datastore !== v?.datastore
        ? { sizeGiB: d.sizeGiB, datastore: d.datastore }
        : { sizeGiB: d.sizeGiB },
    );
  const values = {
    cpu: f.cpu,
    memoryMiB: f.memoryMiB,
    disks,
    ...(netKey ? { net: netKey } : {}),
    ...(f.portgroup && f.portgroup !== v?.portgroup ? { portgroup: f.portgroup } : {}),
  };
  // Where the VM is, where that is not the site's default: the manifest says so, so adopting never moves it.
  const site0 = whereFor({}, site.vms as unknown as Parameters<typeof whereFor>[1]);
  const at: Partial<Where> = f.placement ?? { folder: vm.handle?.folder ?? site0.folder };
  const placement: Record<string, string> = {};
  for (const k of ['cluster', 'resourcePool', 'folder'] as const)
    if (at[k] !== undefined && at[k] !== site0[k]) placement[k] = at[k]!;
  return {
    name,
    values,
    ...(Object.keys(placement).length ? { placement } : {}),
    ...(f.mac ? { mac: f.mac } : {}),
    ...(address ? { ip: address } : {}),
    ...(dnsFacts ? { dns: dnsFacts } : {}),
    found,
    unmapped,
    ...(netKey ? { netKey } : {}),
    ...(Object.keys(v?.templates ?? {})[0] ? { defaultOs: Object.keys(v!.templates!)[0]! } : {}),
  };
}

/**
 * `dns:` for the manifest from the operator's records of the host: the CNAMEs pointing at it become
 * `aliases` (a bare label where the alias lies in the system's domain, else the full name), and the
 * host's domain is written where it is not the net's. Of several hosts of this name (one per zone),
 * the one in the net's domain.
 */
export function dnsOf(found: ObservedResource[], netDomain: string | undefined): ImportFacts['dns'] | undefined {
  const host =
    found.find((r) => netDomain !== undefined && String(r.fields.fqdn).endsWith(`.${netDomain}`)) ?? found[0];
  if (!host) return undefined;
  const fqdn = String(host.fields.fqdn);
  const domain = fqdn.slice(fqdn.indexOf('.') + 1);
  const aliases = ((host.fields.aliases as string[] | undefined) ?? []).map((a) =>
    a.endsWith(`.${domain}`) && !a.slice(0, -domain.length - 1).includes('.') ? a.slice(0, -domain.length - 1) : a,
  );
  const out: NonNullable<ImportFacts['dns']> = {};
  if (domain && domain !== netDomain) out.domain = domain;
  if (aliases.length) out.aliases = [...new Set(aliases)];
  return Object.keys(out).length ? out : undefined;
}

/** profiles/*.yaml with their `extends` chain applied (the fields import maps). */
export function readProfiles(root: string): ProfileValues[] {
  const dir = join(root, 'profiles');
  if (!existsSync(dir)) return [];
  const raw = new Map<string, { extends?: string; spec: Record<string, unknown> }>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.ya?ml$/.test(e.name)) {
        const doc = parse(readFileSync(join(d, e.name), 'utf8')) as {
          metadata?: { name?: string };
          spec?: Record<string, unknown>;
        };
        const name = doc?.metadata?.name;
        if (name)
          raw.set(name, {
            spec: doc.spec ?? {},
            ...(typeof doc.spec?.extends === 'string' ? { extends: doc.spec.extends } : {}),
          });
      }
    }
  };
  walk(dir);
  const resolve = (name: string, depth = 0): Record<string, unknown> => {
    const p = raw.get(name);
    if (!p || depth > 16) return {};
    const parent = p.extends ? resolve(p.extends, depth + 1) : {};
    const network = { ...((parent.network as object) ?? {}), ...((p.spec.network as object) ?? {}) };
    return { ...parent, ...p.spec, network };
  };
  return [...raw.keys()].map((name) => {
    const s = resolve(name);
    const net = s.network as { net?: string; portgroup?: string };
    return {
      name,
      ...(typeof s.cpu === 'number' ? { cpu: s.cpu } : {}),
      ...(typeof s.memoryMiB === 'number' ? { memoryMiB: s.memoryMiB } : {}),
      ...(Array.isArray(s.disks) ? { disks: s.disks as ProfileValues['disks'] } : {}),
      ...(typeof s.os === 'string' ? { os: s.os } : {}),
      ...(net.net ? { net: net.net } : {}),
      ...(net.portgroup ? { portgroup: net.portgroup } : {}),
    };
  });
}
