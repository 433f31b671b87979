/**
 * Do the backends agree with each other? The address the IPAM holds should be the one DNS answers,
 * the DHCP reservation hands out and the CMDB documents; the VM's MAC should be the one DHCP and
 * the CMDB know. Pure: reads only what observe returned. Which field holds the address or the MAC
 * is each provider's own declaration (`Provider.identity`, typed against its fields), so a provider
 * renaming a field breaks its build rather than silently dropping the check.
 */
import { UNKNOWN, type Identity, type Observation, type Provider, type ResourceKind } from '../engine/contract';

/** Each kind's identity fields, from its provider. */
export type Identities = Map<ResourceKind, Identity>;

export function identitiesOf(providers: Provider[]): Identities {
  return new Map(providers.flatMap((p) => (p.identity ? [[p.kind, p.identity] as const] : [])));
}

export interface Disagreement {
  system: string;
  /** What is compared: the system's address or its MAC. */
  what: 'ip' | 'mac';
  /** The value each backend holds, by resource kind. */
  values: Partial<Record<ResourceKind, string>>;
}

export function disagreements(observations: Map<ResourceKind, Observation>, identities: Identities): Disagreement[] {
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
      for (const [kind, identity] of identities) {
        const field = identity[what];
        const v = field === undefined ? undefined : kinds.get(kind)?.[field];
        if (typeof v === 'string' && v && v !== UNKNOWN) values[kind] = what === 'mac' ? v.toLowerCase() : v;
      }
      if (new Set(Object.values(values)).size > 1) out.push({ system, what, values });
    }
  }
  return out;
}
