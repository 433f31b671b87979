/**
 * Do the backends agree with each other? The address the IPAM holds should be the one DNS answers,
 * the DHCP reservation hands out and the CMDB documents; the VM's MAC should be the one DHCP and
 * the CMDB know. Pure: reads only what observe returned. Each kind's field names are listed here,
 * in one place and checked against the providers' field types, so a provider renaming a field
 * breaks the build rather than silently dropping the check.
 */
import { UNKNOWN, type Observation, type ResourceKind } from '../engine/contract';
import type { DhcpFields } from '../providers/dhcp/reservations';
import type { DnsFields } from '../providers/dns/records';
import type { CmdbFields } from '../providers/idoit/cmdb';
import type { IpFields } from '../providers/idoit/ipam';
import type { VmFields } from '../providers/vsphere/fields';

export interface Disagreement {
  system: string;
  /** What is compared: the system's address or its MAC. */
  what: 'ip' | 'mac';
  /** The value each backend holds, by resource kind. */
  values: Partial<Record<ResourceKind, string>>;
}

const FIELDS: Record<'ip' | 'mac', Partial<Record<ResourceKind, string>>> = {
  ip: { ip: 'ip' satisfies keyof IpFields, dns: 'a' satisfies keyof DnsFields, dhcp: 'ip' satisfies keyof DhcpFields, cmdb: 'portIp' satisfies keyof CmdbFields },
  mac: { vm: 'mac' satisfies keyof VmFields, dhcp: 'mac' satisfies keyof DhcpFields, cmdb: 'mac' satisfies keyof CmdbFields },
};

export function disagreements(observations: Map<ResourceKind, Observation>): Disagreement[] {
  const bySystem = new Map<string, Map<ResourceKind, Record<string, unknown>>>();
  for (const [kind, obs] of observations) {
    for (const r of obs.resources) {
      if (!r.owned) continue;
      const m = bySystem.get(r.system) ?? new Map();
      m.set(kind, r.fields);
      bySystem.set(r.system, m);
    }
  }
  const out: Disagreement[] = [];
  for (const [system, kinds] of [...bySystem].sort(([a], [b]) => a.localeCompare(b))) {
    for (const what of ['ip', 'mac'] as const) {
      const values: Partial<Record<ResourceKind, string>> = {};
      for (const [kind, field] of Object.entries(FIELDS[what]) as [ResourceKind, string][]) {
        const v = kinds.get(kind)?.[field];
        if (typeof v === 'string' && v && v !== UNKNOWN) values[kind] = what === 'mac' ? v.toLowerCase() : v;
      }
      if (new Set(Object.values(values)).size > 1) out.push({ system, what, values });
    }
  }
  return out;
}
