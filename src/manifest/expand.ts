/**
 * Profile expansion: system over profile over parent profile. Maps merge key by key, lists (disks, roles,
 * aliases) replace as a whole, and every value remembers where it was set (`sources`).
 */
import type { Diagnostics } from './diagnostics';
import { derivedMac, normalizeMac } from './mac';
import type { ProfileManifest, RawRoleRef, SystemManifest } from './raw';
import type { NetSite } from './site';
import type { ExpandedSystem } from './rules';
import type { DesiredSystem, Placement, RoleRef, SourceRef } from './types';
import { locate } from './yaml-file';
import type { ParsedFile, PathSeg } from './yaml-file';

export interface LoadedProfile {
  pf: ParsedFile;
  manifest: ProfileManifest;
}

export interface LoadedSystem {
  pf: ParsedFile;
  manifest: SystemManifest;
}

/** Where a merged value came from: its file and the YAML path inside it. */
interface Leaf {
  value: unknown;
  pf: ParsedFile;
  yamlPath: PathSeg[];
}

function isMapValue(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Flattens maps into leaves keyed by field path (`network.net`); lists and scalars are leaves. */
function flatten(value: unknown, field: string, yamlPath: PathSeg[], pf: ParsedFile, out: Map<string, Leaf>): void {
  if (isMapValue(value)) {
    for (const k in value) if (Object.hasOwn(value, k)) flatten(value[k], `${field}.${k}`, [...yamlPath, k], pf, out);
  } else if (value !== undefined && value !== null) {
    out.set(field, { value, pf, yamlPath });
  }
}

/** One layer's leaves: spec fields except the ones that steer expansion; labels wherever the kind keeps them. */
function layerLeaves(
  pf: ParsedFile,
  spec: Record<string, unknown>,
  labels: unknown,
  labelsPath: PathSeg[],
  out: Map<string, Leaf>,
): void {
  for (const k in spec) {
    if (!Object.hasOwn(spec, k) || k === 'state' || k === 'profile' || k === 'extends' || k === 'labels') continue;
    flatten(spec[k], k, ['spec', k], pf, out);
  }
  flatten(labels ?? {}, 'labels', labelsPath, pf, out);
}

/** Sources for a leaf and, for lists, every element and element field (`disks[0].sizeGiB`). */
function recordSources(field: string, leaf: Leaf, sources: Record<string, SourceRef>): void {
  sources[field] = locate(leaf.pf, leaf.yamlPath);
  const walk = (v: unknown, f: string, yp: PathSeg[]): void => {
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        sources[`${f}[${i}]`] = locate(leaf.pf, [...yp, i]);
        walk(item, `${f}[${i}]`, [...yp, i]);
      });
    } else if (isMapValue(v)) {
      for (const [k, item] of Object.entries(v)) {
        sources[`${f}.${k}`] = locate(leaf.pf, [...yp, k]);
        walk(item, `${f}.${k}`, [...yp, k]);
      }
    }
  };
  walk(leaf.value, field, leaf.yamlPath);
}

/** `app/shop@7.4.1` or `{ name, version, params }` → RoleRef. */
export function normalizeRole(r: RawRoleRef): RoleRef {
  if (typeof r === 'string') {
    const at = r.indexOf('@');
    return at < 0 ? { name: r, params: {} } : { name: r.slice(0, at), version: r.slice(at + 1), params: {} };
  }
  const out: RoleRef = { name: r.name, params: r.params ?? {} };
  if (r.version !== undefined) out.version = r.version;
  return out;
}

/**
 * The profile chain of a system, nearest first. Stops (without reporting: the profile rules do) at an
 * unknown profile or a cycle.
 */
export function profileChain(
  start: string | undefined,
  profiles: Map<string, LoadedProfile>,
): { chain: LoadedProfile[]; complete: boolean } {
  const chain: LoadedProfile[] = [];
  const seen = new Set<string>();
  let name = start;
  while (name !== undefined && !seen.has(name)) {
    seen.add(name);
    const p = profiles.get(name);
    if (!p) return { chain, complete: false };
    chain.push(p);
    name = p.manifest.spec.extends;
  }
  return { chain, complete: name === undefined };
}

const PLACEMENT_KEYS = ['datacenter', 'cluster', 'host', 'resourcePool', 'folder', 'datastore'] as const;
const PLACEMENT_FIELDS = PLACEMENT_KEYS.map((k) => [k, `placement.${k}`] as const);
const SYSTEM_LABELS: PathSeg[] = ['metadata', 'labels'];

const REQUIRED_WHEN_PRESENT: [string, string][] = [
  ['cpu', 'spec.cpu'],
  ['memoryMiB', 'spec.memoryMiB'],
  ['disks', 'spec.disks'],
  ['network.net', 'spec.network.net'],
  ['os', 'spec.os'],
];

export interface ExpandContext {
  profiles: Map<string, LoadedProfile>;
  nets: Record<string, NetSite>;
  /** Where each net's `domain` is written, the source of a defaulted dns.domain. */
  netSources: Record<string, SourceRef>;
}

interface ChainLeaves {
  leaves: Map<string, Leaf>;
  /** Per leaf field, the sources recordSources gives it (the same for every system of the profile). */
  sources: Map<string, Record<string, SourceRef>>;
  complete: boolean;
}

/**
 * A profile chain's leaves and their sources, worked out once per profile and load: thousands of
 * systems share a handful of profiles, and locating every profile value again for each of them was
 * most of the expansion's time.
 */
const chainCache = new WeakMap<Map<string, LoadedProfile>, Map<string, ChainLeaves>>();

function chainLeaves(start: string | undefined, profiles: Map<string, LoadedProfile>): ChainLeaves {
  let byName = chainCache.get(profiles);
  if (!byName) chainCache.set(profiles, (byName = new Map()));
  const key = start ?? '';
  const hit = byName.get(key);
  if (hit) return hit;
  const { chain, complete } = profileChain(start, profiles);
  const leaves = new Map<string, Leaf>();
  for (const p of [...chain].reverse()) {
    layerLeaves(p.pf, p.manifest.spec as Record<string, unknown>, p.manifest.spec.labels, ['spec', 'labels'], leaves);
  }
  const sources = new Map<string, Record<string, SourceRef>>();
  for (const [field, leaf] of leaves) {
    const own: Record<string, SourceRef> = {};
    recordSources(field, leaf, own);
    sources.set(field, own);
  }
  const out = { leaves, sources, complete };
  byName.set(key, out);
  return out;
}

/**
 * Expands one system. Reports fields a present system lacks after expansion, unless its profile chain is
 * broken (unknown, invalid or cyclic profile): that is reported once elsewhere, and every field the
 * profile would have set would only repeat it.
 */
export function expandSystem(sys: LoadedSystem, ctx: ExpandContext, diags: Diagnostics): ExpandedSystem {
  const { profiles, nets, netSources } = ctx;
  const { pf, manifest } = sys;
  const spec = manifest.spec;
  const shared = chainLeaves(spec.profile, profiles);
  const { complete } = shared;
  // The system's own leaves over the chain's: looked up in both rather than merged into a copy per system.
  const own = new Map<string, Leaf>();
  layerLeaves(pf, spec as Record<string, unknown>, manifest.metadata.labels, SYSTEM_LABELS, own);
  const leaf = (field: string): Leaf | undefined => own.get(field) ?? shared.leaves.get(field);
  const get = <T>(field: string): T | undefined => leaf(field)?.value as T | undefined;

  // Sources and labels in the merged order: the chain's fields (a system's value in its place), then the system's new ones.
  const sources: Record<string, SourceRef> = { name: locate(pf, ['metadata', 'name']) };
  const labels: Record<string, string> = {};
  for (const [field, fromChain] of shared.leaves) {
    const mine = own.get(field);
    if (mine) recordSources(field, mine, sources);
    else Object.assign(sources, shared.sources.get(field));
    if (field.startsWith('labels.')) labels[field.slice(7)] = String((mine ?? fromChain).value);
  }
  for (const [field, mine] of own) {
    if (shared.leaves.has(field)) continue;
    recordSources(field, mine, sources);
    if (field.startsWith('labels.')) labels[field.slice(7)] = String(mine.value);
  }
  if (spec.state !== undefined) sources.state = locate(pf, ['spec', 'state']);
  if (spec.profile !== undefined) sources.profile = locate(pf, ['spec', 'profile']);

  const net = get<string>('network.net') ?? '';
  let domain = get<string>('dns.domain');
  const netSite = Object.hasOwn(nets, net) ? nets[net] : undefined;
  if (domain === undefined && netSite?.domain !== undefined) {
    domain = netSite.domain;
    if (Object.hasOwn(netSources, net)) sources['dns.domain'] = netSources[net];
  }
  const explicitMac = get<string>('network.mac');
  const mac = explicitMac !== undefined ? normalizeMac(explicitMac) : derivedMac(manifest.metadata.name);
  if (explicitMac === undefined) sources['network.mac'] = sources.name; // derived from the name

  const desired: DesiredSystem = {
    name: manifest.metadata.name,
    state: spec.state ?? 'present',
    labels,
    cpu: get<number>('cpu') ?? 0,
    memoryMiB: get<number>('memoryMiB') ?? 0,
    disks: (get<DesiredSystem['disks']>('disks') ?? []).map((d) => ({ ...d })),
    network: { net, ip: get<string>('network.ip') ?? 'auto', mac },
    dns: { domain: domain ?? '', aliases: [...(get<string[]>('dns.aliases') ?? [])] },
    os: get<string>('os') ?? '',
    roles: (get<RawRoleRef[]>('roles') ?? []).map(normalizeRole),
    lifecycle: {
      protect: get<boolean>('lifecycle.protect') ?? false,
      vmOnDelete: get<DesiredSystem['lifecycle']['vmOnDelete']>('lifecycle.vmOnDelete') ?? 'destroy',
      cmdbOnDelete: get<DesiredSystem['lifecycle']['cmdbOnDelete']>('lifecycle.cmdbOnDelete') ?? 'archive',
      powerPolicy: get<DesiredSystem['lifecycle']['powerPolicy']>('lifecycle.powerPolicy') ?? 'never',
    },
    file: pf.rel,
    sources,
  };
  const portgroup = get<string>('network.portgroup');
  if (portgroup !== undefined) desired.network.portgroup = portgroup;
  if (spec.profile !== undefined) desired.profile = spec.profile;
  const site = get<string>('site');
  if (site !== undefined) desired.site = site;
  const placement: Placement = {};
  for (const [k, field] of PLACEMENT_FIELDS) {
    const v = get<string>(field);
    if (v !== undefined) placement[k] = v;
  }
  if (Object.keys(placement).length) desired.placement = placement;

  if (desired.state === 'present' && complete) {
    const where = () => locate(pf, ['spec'], { key: true }); // only for an error: most systems have none
    const via = spec.profile ? ` (not set by profile \`${spec.profile}\` either)` : '';
    for (const [field, yamlName] of REQUIRED_WHEN_PRESENT) {
      if (!leaf(field))
        diags.error(
          where(),
          `system \`${desired.name}\` has no ${field}${via}: set ${yamlName} or use a profile that sets it`,
        );
    }
    if (desired.dns.domain === '' && netSite !== undefined) {
      diags.error(
        where(),
        `system \`${desired.name}\` has no dns.domain and net \`${net}\` declares none: set spec.dns.domain or the net's domain in shipshape.yaml`,
      );
    }
  }
  const roles = leaf('roles');
  return roles
    ? { desired, chainComplete: complete, rolesOrigin: { pf: roles.pf, yamlPath: roles.yamlPath } }
    : { desired, chainComplete: complete };
}
