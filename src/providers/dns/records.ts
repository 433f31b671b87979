/**
 * The DNS records shipshape wants for a system (A, PTR, a CNAME per alias), which zone each one lives in,
 * and the pure parts of the provider contract (desired, diff). Names are lower case, without the final dot.
 */
import {
  UNKNOWN,
  UserError,
  type FieldChange,
  type Fields,
  type Maybe,
  type ObservedResource,
  type Resolved,
} from '../../engine/contract';
import { fqdn, type DesiredSystem } from '../../manifest/types';
import type { SiteConfig, ZoneSection } from '../../manifest/site';

export type RecordType = 'A' | 'PTR' | 'CNAME';
export const MANAGED_TYPES: readonly string[] = ['A', 'PTR', 'CNAME'];
export const DEFAULT_TTL = 300;

export interface DnsRecord {
  name: string;
  type: RecordType;
  /** An IPv4 address (A) or a host name (PTR, CNAME). */
  value: string;
}

/** A record as a server serves it (any type), used to spot records that are not ours. */
export interface ServedRecord {
  name: string;
  type: string;
  ttl: number;
  value: string;
}

export interface DnsFields extends Fields {
  fqdn: string;
  a: Maybe<string>;
  /** Owner name of the PTR record, or null when the net's reverse zone is not managed. */
  ptr: Maybe<string> | null;
  /** Fully qualified alias names (CNAME owners), sorted. */
  aliases: string[];
  /**
   * Observed only: records written by hand in the operator's zone file (`name TYPE value`). On a
   * resource shipshape owns: hand copies of its records, left by an adoption that did not finish
   * (the next deploy moves them out); they are a change only where the manifest wants the record.
   */
  handwritten?: string[];
  /** Observed only, on a resource that is not shipshape's: why it cannot be adopted (taken over) as it is. */
  notAdoptable?: string;
  /**
   * Observed only, on shipshape's own: shipshape's file on the server no longer holds what the server
   * serves for this system (edited by hand and not loaded); the other fields are what it serves.
   */
  serverFile?: string;
}

export const recordKey = (r: { name: string; type: string; value: string }): string => `${r.name} ${r.type} ${r.value}`;

/** The records a system's desired fields stand for, as `name TYPE value` (values not known yet left out). */
export function desiredRecordKeys(f: DnsFields): Set<string> {
  const keys = new Set<string>();
  if (f.a !== UNKNOWN && f.a)
    for (const a of f.a.split(',')) keys.add(recordKey({ name: f.fqdn, type: 'A', value: a }));
  if (f.ptr && f.ptr !== UNKNOWN) keys.add(recordKey({ name: f.ptr, type: 'PTR', value: f.fqdn }));
  for (const alias of f.aliases) keys.add(recordKey({ name: alias, type: 'CNAME', value: f.fqdn }));
  return keys;
}

export const normalName = (n: string): string => n.toLowerCase().replace(/\.$/, '');

export function reverseName(ip: string): string {
  return ip.split('.').reverse().join('.') + '.in-addr.arpa';
}

/**
 * The PTR owner of an address in its net's reverse zone: its in-addr.arpa name when the zone holds
 * it; in a classless zone (RFC 2317 §4: a child of the /24 zone, named like `64/26.2.0.192.in-addr.arpa`,
 * which the /24 zone points into with a CNAME per address) the last octet under that zone
 * (`70.64/26.2.0.192.in-addr.arpa`); else undefined (the address is not in that reverse zone).
 */
export function ptrName(ip: string, reverseZone: string): string | undefined {
  const rev = reverseName(ip);
  const zone = normalName(reverseZone);
  if (rev === zone || rev.endsWith(`.${zone}`)) return rev;
  const [octet, ...parent] = rev.split('.');
  if (zone.slice(zone.indexOf('.') + 1) === parent.join('.')) return `${octet}.${zone}`;
  return undefined;
}

/** The configured zone a name belongs to: the longest zone apex that is the name or a suffix of it. */
export function zoneOf(name: string, zones: Pick<ZoneSection, 'name'>[]): Pick<ZoneSection, 'name'> | undefined {
  let best: Pick<ZoneSection, 'name'> | undefined;
  for (const z of zones) {
    const apex = normalName(z.name);
    if ((name === apex || name.endsWith('.' + apex)) && (!best || apex.length > normalName(best.name).length)) best = z;
  }
  return best;
}

export function aliasName(alias: string, domain: string): string {
  return normalName(alias.includes('.') ? alias : `${alias}.${domain}`);
}

/** Pure: the DNS fields of a present system, or null when no configured zone holds its name. */
export function desiredDns(system: DesiredSystem, resolved: Resolved, site: SiteConfig): DnsFields | null {
  const name = normalName(fqdn(system));
  if (!zoneOf(name, site.dns.zones)) return null;
  const reverseZone = site.nets[system.network.net]?.reverseZone;
  const managedReverse = reverseZone && site.dns.zones.some((z) => normalName(z.name) === normalName(reverseZone));
  const ip = resolved.ip;
  let ptr: Maybe<string> | null = null;
  if (managedReverse) {
    const name = ip === UNKNOWN ? undefined : ptrName(ip, reverseZone);
    ptr = ip === UNKNOWN ? UNKNOWN : name && zoneOf(name, site.dns.zones) ? name : null;
  }
  return {
    fqdn: name,
    a: ip,
    ptr,
    aliases: [...new Set(system.dns.aliases.map((a) => aliasName(a, system.dns.domain)))].sort(),
  };
}

/** The records for a system's fields, grouped by zone apex. Throws if a value is still unknown. */
export function recordsByZone(
  system: string,
  f: DnsFields,
  zones: Pick<ZoneSection, 'name'>[],
): Map<string, DnsRecord[]> {
  if (f.a === UNKNOWN || f.ptr === UNKNOWN) {
    throw new UserError(
      `${system}: its address is not allocated yet, so its DNS records cannot be written (the ip stage must run first)`,
    );
  }
  const out = new Map<string, DnsRecord[]>();
  const put = (r: DnsRecord) => {
    const z = zoneOf(r.name, zones);
    if (!z)
      throw new UserError(
        `${system}: no zone in shipshape.yaml dns.zones holds ${r.name}; add the zone or change the name`,
      );
    const key = normalName(z.name);
    out.set(key, [...(out.get(key) ?? []), r]);
  };
  put({ name: f.fqdn, type: 'A', value: f.a });
  if (f.ptr) put({ name: f.ptr, type: 'PTR', value: f.fqdn });
  for (const alias of f.aliases) put({ name: alias, type: 'CNAME', value: f.fqdn });
  return out;
}

/** Fields of a system as observed, from the records we own for it in all zones. */
export function fieldsFromRecords(records: DnsRecord[]): DnsFields {
  const a = records.find((r) => r.type === 'A');
  const name = a?.name ?? records.find((r) => r.type !== 'A')?.value ?? '';
  return {
    fqdn: name,
    a:
      records
        .filter((r) => r.type === 'A')
        .map((r) => r.value)
        .sort()
        .join(',') || '',
    ptr: records.find((r) => r.type === 'PTR')?.name ?? null,
    aliases: records
      .filter((r) => r.type === 'CNAME')
      .map((r) => r.name)
      .sort(),
  };
}

/** Pure: owned fields that differ. */
export function diffDns(
  system: DesiredSystem,
  desired: DnsFields,
  observed: ObservedResource<DnsFields>,
): FieldChange[] {
  const o = observed.fields;
  const changes: FieldChange[] = [];
  const src = (k: string) => {
    const s = system.sources[k];
    return s ? { source: `${s.file}:${s.line}:${s.col}` } : {};
  };
  if (desired.fqdn !== o.fqdn) changes.push({ path: 'dns.fqdn', from: o.fqdn, to: desired.fqdn, ...src('dns.domain') });
  if (desired.a !== o.a) changes.push({ path: 'dns.a', from: o.a, to: desired.a, ...src('network.ip') });
  if (desired.ptr !== o.ptr) changes.push({ path: 'dns.ptr', from: o.ptr, to: desired.ptr, ...src('network.ip') });
  if (desired.aliases.join(',') !== o.aliases.join(',')) {
    changes.push({ path: 'dns.aliases', from: o.aliases, to: desired.aliases, ...src('dns.aliases') });
  }
  if (!observed.owned && o.notAdoptable)
    changes.push({
      path: 'dns.handwritten',
      from: 'hand-written',
      to: 'shipshape',
      refused: o.notAdoptable,
      refusal: 'hand-line',
    });
  if (observed.owned && o.serverFile)
    changes.push({
      path: 'dns.serverFile',
      from: o.serverFile,
      to: 'the records of the manifest: apply writes the file again and reloads the zone',
    });
  const wanted = desiredRecordKeys(desired);
  const pending = observed.owned ? (o.handwritten ?? []).filter((k) => wanted.has(k)) : [];
  if (pending.length) changes.push({ path: 'dns.handwritten', from: pending, to: [] });
  return changes;
}

/** Two types may share an owner name unless one is a CNAME or both are the same managed type. */
export function conflicts(ours: string, theirs: string): boolean {
  return ours === 'CNAME' || theirs === 'CNAME' || ours === theirs;
}

/**
 * Our own consistency check across systems before anything is rendered (named-checkzone merges exact
 * duplicates and accepts two PTRs for one address): one owner name, one system.
 */
export function crossSystemConflicts(zone: Map<string, DnsRecord[]>): Map<string, string> {
  const byName = new Map<string, { system: string; r: DnsRecord }[]>();
  for (const [system, recs] of zone)
    for (const r of recs) byName.set(r.name, [...(byName.get(r.name) ?? []), { system, r }]);
  const bad = new Map<string, string>();
  for (const [name, claims] of byName) {
    const systems = [...new Set(claims.map((c) => c.system))];
    if (systems.length > 1) {
      const what = claims.map((c) => `${c.system} (${c.r.type} ${c.r.value})`).join(', ');
      for (const s of systems) bad.set(s, `${name} is claimed by more than one system: ${what}`);
    }
  }
  return bad;
}

/** Targets of the apex NS records: the zone's own name servers, whose A/PTR records are infrastructure. */
export function nameServersOf(served: ServedRecord[], apex: string): string[] {
  return served.filter((r) => r.name === apex && r.type === 'NS').map((r) => normalName(r.value));
}
