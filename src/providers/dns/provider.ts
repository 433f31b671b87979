/**
 * The `dns` provider: one backend per zone, as `dns.zones[].backend` names it (registered in ../backends.ts).
 * observe reads what each server serves; create/update/delete only change the in-memory desired zones;
 * commit() deploys each changed zone once, whatever the number of systems, and reports the systems
 * whose change did not land (their changes in other zones are reverted, so nothing is left half-applied).
 */
import {
  UserError,
  type CommitResult,
  type IdentityFields,
  type ObservedResource,
  type Observation,
  type Provider,
  type ProviderContext,
  type Resolved,
} from '../../engine/contract';
import type { DesiredSystem } from '../../manifest/types';
import type { SiteConfig, ZoneSection } from '../../manifest/site';
import { SshPool, type SecretReader } from '../../transport/ssh';
import { siteSealer } from '../../ownership';
import { backendFor } from '../backends';
import type { BackendDeps, ZoneBackend } from './backend';
import {
  conflicts,
  crossSystemConflicts,
  desiredDns,
  diffDns,
  fieldsFromRecords,
  normalName,
  recordsByZone,
  type DnsFields,
  type DnsRecord,
  type ServedRecord,
} from './records';

export interface DnsProviderOptions {
  readSecret: SecretReader;
  /** Shared with the other SSH steps within a run; created here when absent. close() ends its connections. */
  pool?: SshPool;
  reloadTimeoutMs?: number;
}

type ZoneState = Map<string, DnsRecord[]>;
const recKey = (r: DnsRecord) => `${r.name} ${r.type} ${r.value}`;
const same = (a: DnsRecord[] = [], b: DnsRecord[] = []) =>
  a.map(recKey).sort().join('|') === b.map(recKey).sort().join('|');

export class DnsProvider implements Provider<DnsFields> {
  readonly kind = 'dns' as const;
  readonly identity = { ip: 'a' } satisfies IdentityFields<DnsFields>;
  private pool: SshPool | undefined;
  private backends = new Map<string, ZoneBackend>();
  /** Per zone apex: our records by system as served (after the last successful commit). */
  private served = new Map<string, ZoneState>();
  /** Per zone apex: our records by system as they should be after commit. */
  private wanted = new Map<string, ZoneState>();
  private foreign = new Map<string, ServedRecord[]>();
  private zones: ZoneSection[] = [];
  /** Per "apex system": what the server served before this commit changed it (to revert a half-applied system). */
  private priors = new Map<string, DnsRecord[] | undefined>();

  constructor(private readonly opts: DnsProviderOptions) {}

  desired(system: DesiredSystem, resolved: Resolved, site: SiteConfig): DnsFields | null {
    return system.state === 'present' ? desiredDns(system, resolved, site) : null;
  }

  diff = diffDns;

  /** The backend of each zone (tests and benches read reload counts from it). */
  backend(zone: string): ZoneBackend | undefined {
    return this.backends.get(normalName(zone));
  }

  private setup(ctx: ProviderContext): void {
    if (this.backends.size > 0) return;
    this.pool = this.opts.pool ?? new SshPool({ readSecret: this.opts.readSecret, root: ctx.site.root });
    const deps: BackendDeps = {
      pool: this.pool,
      readSecret: this.opts.readSecret,
      log: ctx.log,
      commit: ctx.commit,
      reloadTimeoutMs: this.opts.reloadTimeoutMs,
      sealer: () => siteSealer(ctx.site, this.opts.readSecret),
    };
    this.zones = ctx.site.dns.zones;
    for (const z of this.zones) {
      this.backends.set(normalName(z.name), backendFor('dns', z.backend).connect(z, deps));
    }
  }

  /** `shipshape ownership seal`: the zones' backends that seal markers seal those of `systems`. */
  async sealMarkers(ctx: ProviderContext, systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }> {
    this.setup(ctx);
    const out = { sealed: [] as string[], skipped: [] as string[] };
    for (const b of this.backends.values()) {
      const r = await b.sealMarkers?.(systems);
      out.sealed.push(...(r?.sealed ?? []));
      out.skipped.push(...(r?.skipped ?? []));
    }
    return out;
  }

  async observe(ctx: ProviderContext): Promise<Observation<DnsFields>> {
    this.setup(ctx);
    const apexes = [...this.backends.keys()];
    const results = await Promise.all(apexes.map((a) => this.backends.get(a)!.observe()));
    this.foreign.clear();
    const bySystem = new Map<string, DnsRecord[]>();
    let roundTrips = 0;
    const nameServers = new Set(results.flatMap((r) => r.nameServers ?? []));
    results.forEach((r, i) => {
      this.served.set(apexes[i]!, r.owned);
      this.wanted.set(apexes[i]!, new Map(r.owned));
      roundTrips += r.roundTrips;
      for (const [system, recs] of r.owned) bySystem.set(system, [...(bySystem.get(system) ?? []), ...recs]);
      for (const f of r.foreign) this.foreign.set(f.name, [...(this.foreign.get(f.name) ?? []), f]);
    });
    const resources: ObservedResource<DnsFields>[] = [...bySystem].map(([system, recs]) => {
      const fields = fieldsFromRecords(recs);
      return { kind: 'dns', system, id: fields.fqdn, owned: true, fields };
    });
    for (const [name, recs] of this.foreign) {
      const ptr = recs.find((r) => r.type === 'PTR');
      // The zones' own name servers are infrastructure: still checked for collisions (place), never "unmanaged".
      if (nameServers.has(name) || (ptr && nameServers.has(ptr.value))) continue;
      resources.push({
        kind: 'dns',
        system: (ptr ? ptr.value : name).split('.')[0]!,
        id: name,
        owned: false,
        fields: {
          fqdn: name,
          a: recs
            .filter((r) => r.type === 'A')
            .map((r) => r.value)
            .join(','),
          ptr: null,
          aliases: [],
        },
        handle: { records: recs },
      });
    }
    return { resources, roundTrips };
  }

  private place(system: DesiredSystem, desired: DnsFields): ObservedResource<DnsFields> {
    const byZone = recordsByZone(system.name, desired, this.zones);
    for (const recs of byZone.values()) {
      for (const r of recs) {
        const theirs = (this.foreign.get(r.name) ?? []).filter((f) => conflicts(r.type, f.type));
        if (theirs.length > 0) {
          const list = theirs.map((f) => `${f.type} ${f.value}`).join(', ');
          throw new UserError(
            `${system.name}: ${r.name} already has ${list}, not managed by shipshape; shipshape never overwrites it: remove it by hand or choose another name`,
            'collides',
          );
        }
      }
    }
    for (const [apex, state] of this.wanted) {
      const recs = byZone.get(apex);
      if (recs) state.set(system.name, recs);
      else state.delete(system.name);
    }
    return { kind: 'dns', system: system.name, id: desired.fqdn, owned: true, fields: desired };
  }

  async create(
    system: DesiredSystem,
    desired: DnsFields,
    _resolved?: Resolved,
    _ctx?: ProviderContext,
  ): Promise<ObservedResource<DnsFields>> {
    return this.place(system, desired);
  }

  async update(system: DesiredSystem, desired: DnsFields): Promise<ObservedResource<DnsFields>> {
    return this.place(system, desired);
  }

  async delete(system: DesiredSystem, observed: ObservedResource<DnsFields>): Promise<void> {
    if (!observed.owned)
      throw new UserError(`${system.name}: ${observed.id} is not managed by shipshape; it is never deleted`);
    for (const state of this.wanted.values()) state.delete(system.name);
  }

  private changedIn(apex: string): Set<string> {
    const before = this.served.get(apex) ?? new Map();
    const after = this.wanted.get(apex) ?? new Map();
    return new Set([...new Set([...before.keys(), ...after.keys()])].filter((s) => !same(before.get(s), after.get(s))));
  }

  /** Our own checks and each backend's local checks, before any server is touched. */
  private async checkAll(failed: Map<string, Error>): Promise<void> {
    for (const [apex, state] of this.wanted) {
      const changed = this.changedIn(apex);
      for (const [s, why] of crossSystemConflicts(state))
        if (changed.has(s)) failed.set(s, new UserError(`${s}: ${why}`));
    }
    for (const [apex, backend] of this.backends) {
      const changed = new Set([...this.changedIn(apex)].filter((s) => !failed.has(s)));
      if (!backend.check || changed.size === 0) continue;
      const state = new Map([...this.wanted.get(apex)!].filter(([s]) => !failed.has(s)));
      for (const [s, e] of await backend.check(state, changed)) failed.set(s, e);
    }
    // A refused system keeps what the servers serve now, in every zone.
    for (const apex of this.wanted.keys()) for (const s of failed.keys()) this.keepServed(apex, s);
  }

  private keepServed(apex: string, system: string): void {
    const keep = this.served.get(apex)?.get(system);
    if (keep) this.wanted.get(apex)!.set(system, keep);
    else this.wanted.get(apex)!.delete(system);
  }

  async commit(): Promise<CommitResult> {
    const failed = new Map<string, Error>();
    const landed = new Map<string, Set<string>>();
    await this.checkAll(failed);
    for (const [apex, backend] of this.backends) {
      // A system that already failed in an earlier zone is not deployed to this one.
      for (const s of this.changedIn(apex)) if (failed.has(s)) this.keepServed(apex, s);
      const changed = this.changedIn(apex);
      if (changed.size === 0) continue;
      const result = await backend.apply(this.served.get(apex)!, this.wanted.get(apex)!, changed);
      this.settle(apex, changed, result);
      for (const [s, e] of result) if (!failed.has(s)) failed.set(s, e);
      landed.set(apex, new Set([...changed].filter((s) => !result.has(s))));
    }
    // A system that failed in one zone must not keep its change in another (A without PTR, or the reverse).
    for (const [apex, ok] of landed) {
      const revert = new Set([...ok].filter((s) => failed.has(s)));
      if (revert.size === 0) continue;
      const before = new Map(this.served.get(apex));
      for (const s of revert) {
        const prior = this.priorOf(apex, s);
        if (prior) this.wanted.get(apex)!.set(s, prior);
        else this.wanted.get(apex)!.delete(s);
      }
      const result = await this.backends.get(apex)!.apply(before, this.wanted.get(apex)!, revert);
      this.settle(apex, revert, result);
      for (const [s, e] of result)
        failed.set(
          s,
          new Error(`${failed.get(s)?.message}; reverting its change in zone ${apex} failed too: ${e.message}`),
        );
    }
    this.priors.clear();
    return { failed: [...failed].map(([system, error]) => ({ system, error })) };
  }

  private priorOf(apex: string, system: string): DnsRecord[] | undefined {
    return this.priors.get(`${apex} ${system}`);
  }

  /** Record what landed; failed systems go back to what the server still serves. */
  private settle(apex: string, changed: Set<string>, failed: Map<string, Error>): void {
    const served = this.served.get(apex)!;
    const wanted = this.wanted.get(apex)!;
    for (const s of changed) {
      if (failed.has(s)) {
        this.keepServed(apex, s);
        continue;
      }
      if (!this.priors.has(`${apex} ${s}`)) this.priors.set(`${apex} ${s}`, served.get(s));
      const now = wanted.get(s);
      if (now) served.set(s, now);
      else served.delete(s);
    }
  }

  async close(): Promise<void> {
    await this.pool?.closeAll();
  }
}
