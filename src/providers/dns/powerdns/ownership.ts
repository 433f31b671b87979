/**
 * Which RRsets are ours, and the RRset changes that move one system from what the server holds to what it
 * should hold. Ownership is a comment on the RRset (account `shipshape`, content
 * `heritage=shipshape,shipshape/system=<name>`): PowerDNS keeps comments per RRset, returns them with the
 * zone, and drops them with the RRset (README.md says why this and not a marker TXT). Pure: no I/O.
 */
import {
  conflicts,
  DEFAULT_TTL,
  MANAGED_TYPES,
  normalName,
  type DnsRecord,
  type RecordType,
  type ServedRecord,
} from '../records';
import type { PdnsComment, PdnsRRSet, PdnsZone, RRSetChange } from './api';

export const MARKER_ACCOUNT = 'shipshape';
export const markerContent = (system: string) => `heritage=shipshape,shipshape/system=${system}`;
const MARKER = /^heritage=shipshape,shipshape\/system=([a-z0-9-]+)$/;

export const isMarker = (c: PdnsComment) => c.account === MARKER_ACCOUNT && MARKER.test(c.content);

/** The system whose marker the RRset carries, if any. */
export function ownerOf(rrset: PdnsRRSet): string | undefined {
  const c = rrset.comments.find(isMarker);
  return c ? MARKER.exec(c.content)![1] : undefined;
}

/** Served values of an RRset: disabled records are not served. PTR/CNAME targets without the final dot. */
export const values = (rrset: PdnsRRSet) =>
  rrset.records.filter((r) => !r.disabled).map((r) => (rrset.type === 'A' ? r.content : normalName(r.content)));

export const rrKey = (name: string, type: string) => `${normalName(name)} ${type}`;

/** One GET of the zone, split into our records by system and everything else (not ours; the apex left out). */
export function splitZone(zone: PdnsZone): {
  owned: Map<string, DnsRecord[]>;
  foreign: ServedRecord[];
  nameServers: string[];
} {
  const apex = normalName(zone.name);
  const owned = new Map<string, DnsRecord[]>();
  const foreign: ServedRecord[] = [];
  const nameServers: string[] = [];
  for (const rrset of zone.rrsets) {
    const name = normalName(rrset.name);
    const system = ownerOf(rrset);
    if (system && MANAGED_TYPES.includes(rrset.type)) {
      const recs = values(rrset).map((value) => ({ name, type: rrset.type as RecordType, value }));
      if (recs.length > 0) owned.set(system, [...(owned.get(system) ?? []), ...recs]);
      continue;
    }
    if (name === apex) {
      if (rrset.type === 'NS') nameServers.push(...values(rrset));
      continue;
    }
    for (const value of values(rrset)) foreign.push({ name, type: rrset.type, ttl: rrset.ttl, value });
  }
  return { owned, foreign, nameServers };
}

/** What the zone held at the start of apply, by (name, type) and by name. */
export interface Held {
  byKey: Map<string, PdnsRRSet>;
  byName: Map<string, PdnsRRSet[]>;
}
export function held(zone: PdnsZone): Held {
  const byKey = new Map<string, PdnsRRSet>();
  const byName = new Map<string, PdnsRRSet[]>();
  for (const r of zone.rrsets) {
    if (r.records.length === 0) continue;
    byKey.set(rrKey(r.name, r.type), r);
    byName.set(normalName(r.name), [...(byName.get(normalName(r.name)) ?? []), r]);
  }
  return { byKey, byName };
}

export interface SystemChanges {
  deletes: RRSetChange[];
  replaces: RRSetChange[];
}

/**
 * The changes for one system, or why they must not be made: an RRset it needs is held (now, not just at
 * observe time) by records without its marker. `leaving` says which other systems' RRsets this commit removes.
 */
export function systemChanges(
  system: string,
  wanted: DnsRecord[],
  before: DnsRecord[],
  now: Held,
  leaving: Set<string>,
): SystemChanges | { conflict: string } {
  const deletes: RRSetChange[] = [];
  const replaces: RRSetChange[] = [];
  const want = new Map<string, DnsRecord[]>();
  for (const r of wanted) want.set(rrKey(r.name, r.type), [...(want.get(rrKey(r.name, r.type)) ?? []), r]);
  const keys = new Set([...want.keys(), ...before.map((r) => rrKey(r.name, r.type))]);
  for (const key of [...keys].sort()) {
    const [name, type] = key.split(' ') as [string, RecordType];
    const current = now.byKey.get(key);
    const ours = current !== undefined && ownerOf(current) === system;
    const recs = want.get(key) ?? [];
    if (recs.length === 0) {
      if (ours) deletes.push({ name: `${name}.`, type, changetype: 'DELETE' });
      continue;
    }
    for (const other of now.byName.get(name) ?? []) {
      if (!conflicts(type, other.type)) continue;
      const owner = ownerOf(other);
      if (owner === system) continue;
      if (owner && leaving.has(rrKey(other.name, other.type))) continue;
      const what = other.records.map((r) => `${other.type} ${r.content}`).join(', ');
      return { conflict: `${name} is held by ${what}${owner ? ` of system ${owner}` : ', not managed by shipshape'}` };
    }
    const target = recs.map((r) => r.value).sort();
    if (ours && values(current).sort().join(' ') === target.join(' ')) continue;
    const others = (current?.comments ?? []).filter((c) => !isMarker(c));
    replaces.push({
      name: `${name}.`,
      type,
      changetype: 'REPLACE',
      ttl: DEFAULT_TTL,
      records: target.map((v) => ({ content: type === 'A' ? v : `${v}.`, disabled: false })),
      // the operator's own comments on the RRset stay; ours is the marker
      comments: [
        { account: MARKER_ACCOUNT, content: markerContent(system) },
        ...others.map((c) => ({ account: c.account, content: c.content })),
      ],
    });
  }
  return { deletes, replaces };
}

/** The SOA content with `serial + 1` in serial number arithmetic (RFC 1982: wraps at 2^32). */
export function bumpSoa(content: string): string {
  const f = content.trim().split(/\s+/);
  f[2] = String((Number(f[2]) + 1) % 2 ** 32);
  return f.join(' ');
}
