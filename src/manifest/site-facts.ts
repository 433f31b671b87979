/**
 * The few facts about the site that system rules need (nets, reserved addresses, zone names, templates),
 * read defensively from shipshape.yaml even when it failed schema validation: one typo in the site must
 * not hide every address error in systems/. Anything malformed is left out (and already reported).
 */
import { BACKENDS } from '../providers/backends';
import type { NetSite } from './site';
import type { SourceRef } from './types';
import { locate } from './yaml-file';
import type { ParsedFile } from './yaml-file';

export interface SiteFacts {
  /** Nets whose entries are usable (a string cidr at least). */
  nets: Record<string, NetSite>;
  /** All declared net names; undefined when `nets` is not a map (unknown-net checks are skipped then). */
  netNames?: Set<string>;
  reserved: Record<string, string[]>;
  /** Names of declared zones; undefined when there are none to check against. */
  zoneNames?: string[];
  /**
   * The VM platform's per-OS map (vSphere: `vms.templates`), when its backend declares one: every
   * present system's OS must be in it. Undefined when the site has no VM platform.
   */
  templates?: Record<string, string>;
  /** Where that map is written, for messages (`vms.templates`). */
  templatesPath?: string;
  /** Where each net's `domain` is written (the source of a defaulted dns.domain). */
  domainSources: Record<string, SourceRef>;
}

export function asMap(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A record without prototype, for keys that come from the repo. */
export function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function siteFacts(pf: ParsedFile | undefined): SiteFacts {
  // Keyed by operator input: no prototype, so a net called `constructor` or `__proto__` is just a name.
  const facts: SiteFacts = { nets: dict(), reserved: dict(), domainSources: dict() };
  const spec = asMap(asMap(pf?.value)?.spec);
  if (!pf || !spec) return facts;
  const nets = asMap(spec.nets);
  if (nets) {
    facts.netNames = new Set(Object.keys(nets));
    for (const [title, raw] of Object.entries(nets)) {
      const n = asMap(raw);
      const cidr = str(n?.cidr);
      if (!n || cidr === undefined) continue;
      const net: NetSite = {
        title,
        cidr,
        dnsServers: asList(n.dnsServers).filter((x): x is string => typeof x === 'string'),
        reserved: [],
      };
      if (str(n.gateway) !== undefined) net.gateway = str(n.gateway);
      if (str(n.domain) !== undefined) {
        net.domain = str(n.domain);
        facts.domainSources[title] = locate(pf, ['spec', 'nets', title, 'domain']);
      }
      if (str(n.reverseZone) !== undefined) net.reverseZone = str(n.reverseZone);
      facts.nets[title] = net;
    }
  }
  for (const [net, raw] of Object.entries(nets ?? {})) {
    const list = asList(asMap(raw)?.reserved).filter((x): x is string => typeof x === 'string');
    if (list.length) facts.reserved[net] = list;
  }
  const zones = asList(asMap(spec.dns)?.zones);
  if (zones.length > 0)
    facts.zoneNames = zones.map((z) => str(asMap(z)?.name)).filter((x): x is string => x !== undefined);
  const vms = asMap(spec.vms);
  const key =
    typeof vms?.backend === 'string'
      ? BACKENDS.find((b) => b.kind === 'vms' && b.id === vms.backend)?.osKeys?.[0]
      : undefined;
  if (vms && key) {
    facts.templates = dict();
    facts.templatesPath = `vms.${key}`;
    for (const [k, v] of Object.entries(asMap(vms[key]) ?? {})) facts.templates[k] = String(v);
  }
  return facts;
}
