/**
 * Resolves cross-references (`{{ systems.db-01.ip }}`, `{{ environment.systems[tier=web].ip | join }}`,
 * grammar in src/manifest/refs.ts) for one system's roles. Names, FQDNs and labels come from the
 * manifests; addresses and MACs from what the other system's steps resolved (`Resolved.others`):
 * in a plan from observations, in apply live. A value not known yet is UNKNOWN and noted in
 * `pending`, so the role shows `(known after apply)` instead of a digest of a placeholder.
 */
import { UNKNOWN, type Resolved } from '../../engine/contract';
import { parseRef } from '../../manifest/refs';
import { fqdn, type DesiredSystem } from '../../manifest/types';
import { TemplateError, type RefResolver } from './template';

export interface RefScope {
  /** Every declared system by name. */
  systems: ReadonlyMap<string, DesiredSystem>;
  /** What the other systems' steps resolved so far. */
  others?: (system: string) => Resolved | undefined;
}

function fieldOf(s: DesiredSystem, field: string, scope: RefScope): string {
  const r = scope.others?.(s.name);
  if (field === 'ip') return r?.ip ?? (s.network.ip === 'auto' ? UNKNOWN : s.network.ip);
  if (field === 'mac') return r?.mac ?? s.network.mac;
  if (field === 'fqdn') return fqdn(s);
  if (field === 'name') return s.name;
  const key = field.slice('labels.'.length);
  const v = s.labels[key];
  if (v === undefined) throw new TemplateError(`system ${s.name} has no label \`${key}\``);
  return v;
}

/** A resolver for `self`'s templates; every expression whose value is not known yet is pushed to `pending`. */
export function refResolver(self: DesiredSystem, scope: RefScope, pending: string[]): RefResolver {
  return (path) => {
    const ref = parseRef(path);
    if (!ref || 'error' in ref) return undefined;
    if ('environmentName' in ref) {
      if (!self.environment) throw new TemplateError(`system ${self.name} is in no environment (environments/)`);
      return self.environment.name;
    }
    let value: string | string[];
    if ('system' in ref.target) {
      const s = scope.systems.get(ref.target.system);
      if (!s) throw new TemplateError(`no system named \`${ref.target.system}\` is declared`);
      value = fieldOf(s, ref.field, scope);
    } else {
      if (!self.environment) throw new TemplateError(`system ${self.name} is in no environment (environments/)`);
      const { key, value: want } = ref.target.select;
      value = self.environment.systems
        .map((n) => scope.systems.get(n))
        .filter((s): s is DesiredSystem => !!s && s.labels[key] === want)
        .map((s) => fieldOf(s, ref.field, scope));
    }
    if (value === UNKNOWN || (Array.isArray(value) && value.includes(UNKNOWN))) {
      pending.push(path);
      return UNKNOWN;
    }
    return value;
  };
}
