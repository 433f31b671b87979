/**
 * The `dns` provider: one backend per zone, as `dns.zones[].backend` names it (registered in ../backends.ts).
 * observe reads what each server serves; create/update/delete only change the in-memory desired zones;
 * commit() deploys each changed zone once, whatever the number of systems, and reports the systems
 * whose change did not land (their changes in other zones are reverted, so nothing is left half-applied).
 */
import {
  UNKNOWN,
  UserError,
  type CommitResult,
  type FieldChange,
  type IdentityFields,
  type ObservedResource,
  type Observation,
  type Provider,
  type ProviderContext,
  type Resolved,
} from '../../engine/contract';
import { formatSource, fqdn, type DesiredSystem } from '../../manifest/types';
import type { SiteConfig, ZoneSection } from '../../manifest/site';
import { SshPool, type SecretReader } from '../../transport/ssh';
import { siteSealer } from '../../ownership';
import { backendFor } from '../backends';
import type { BackendDeps, ZoneBackend } from './backend';
import { Refusal } from '../../engine/refusals';
import {
  MANAGED_TYPES,
  recordKey,
  desiredRecordKeys,
  type RecordType,
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
  /**
   * The systems the manifests declare: an operator's host is matched to the system whose name
   * (`name.domain`) it is, not to every system with its first label (web01.mgmt.example.com is not
   * web01.example.com).
   */
  systems?: readonly DesiredSystem[];
}

type ZoneState = Map<string, DnsRecord[]>;
/** A record the operator wrote, with the zone that serves it. */
type HandRecord = ServedRecord & { zone: string };
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
  /** Per zone apex: systems whose hand-written copies the next deploy moves out (adoption, or one that did not finish). */
  private moveOut = new Map<string, Set<string>>();
  /** By zone, the systems whose block of the zone's file on the server differs from what it serves (serverFile). */
  private readonly fileStale = new Map<string, Set<string>>();
  /** Systems adopted in this run: a hand record moved into the fragment is never put back (that would lose it). */
  private adopted = new Set<string>();
  /** Per zone apex: hand-written copies of our records, by system, as observe found them. */
  private leftover = new Map<string, Map<string, DnsRecord[]>>();

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
    this.leftover.clear();
    this.fileStale.clear();
    const bySystem = new Map<string, DnsRecord[]>();
    // The operator's records by the host they are about: its A records, the PTRs and CNAMEs that point at it.
    const hosts = new Map<string, HandRecord[]>();
    const unmovable = new Map<string, string>();
    const fileDiffers = new Map<string, string[]>();
    let roundTrips = 0;
    const nameServers = new Set(results.flatMap((r) => r.nameServers ?? []));
    results.forEach((r, i) => {
      const apex = apexes[i]!;
      const backend = this.backends.get(apex)!;
      this.served.set(apex, r.owned);
      this.wanted.set(apex, new Map(r.owned));
      if (r.leftover?.size) this.leftover.set(apex, r.leftover);
      for (const [system, how] of r.fileDiffers ?? [])
        fileDiffers.set(system, [...(fileDiffers.get(system) ?? []), how]);
      if (r.fileDiffers?.size) this.fileStale.set(apex, new Set(r.fileDiffers.keys()));
      roundTrips += r.roundTrips;
      for (const [system, recs] of r.owned) bySystem.set(system, [...(bySystem.get(system) ?? []), ...recs]);
      for (const f of r.foreign) {
        this.foreign.set(f.name, [...(this.foreign.get(f.name) ?? []), f]);
        const host = f.type === 'PTR' || f.type === 'CNAME' ? f.value : f.name;
        hosts.set(host, [...(hosts.get(host) ?? []), { ...f, zone: apex }]);
        if (!MANAGED_TYPES.includes(f.type)) continue;
        const why = backend.adopts
          ? r.unmovable?.get(recordKey(f))
          : `zone ${apex} (backend ${backend.zone.backend}) cannot take hand-written records over; remove ${f.name} ${f.type} by hand and apply, or leave this name to the operator`;
        if (why) unmovable.set(recordKey(f), why);
      }
    });
    const resources: ObservedResource<DnsFields>[] = [...bySystem].map(([system, recs]) => {
      const fields = fieldsFromRecords(recs);
      // Hand records of our own host (an adoption that did not finish in every zone) and hand copies of ours.
      const hand = (hosts.get(fields.fqdn) ?? []).filter((f) => MANAGED_TYPES.includes(f.type));
      hosts.delete(fields.fqdn);
      const copies = [...this.leftover.values()].flatMap((m) => m.get(system) ?? []);
      const handwritten = [...new Set([...hand, ...copies].map(recordKey))].sort();
      const serverFile = fileDiffers.get(system)?.join('; ');
      return {
        kind: 'dns',
        system,
        id: fields.fqdn,
        owned: true,
        fields: {
          ...fields,
          ...(handwritten.length ? { handwritten } : {}),
          ...(serverFile ? { serverFile } : {}),
        },
        ...(hand.length ? { handle: { records: hand } } : {}),
      };
    });
    const declaredAt = new Map((this.opts.systems ?? []).map((s) => [normalName(fqdn(s)), s.name]));
    const declaredNames = new Set(declaredAt.values());
    for (const [host, recs] of hosts) {
      // The zones' own name servers are infrastructure: still checked for collisions (place), never "unmanaged".
      if (nameServers.has(host)) continue;
      const managed = recs.filter((r) => MANAGED_TYPES.includes(r.type));
      // A name with no A record and nothing pointing at it (a TXT, MX, SRV, SSHFP, a wildcard, DNSSEC
      // records) is no host: it is kept for the collision check (place) but is no system of anyone's.
      // A wildcard's records are synthesised for names that do not exist (RFC 4592): no host either.
      // Nor is a reverse name (the target of an RFC 2317 CNAME, `70.2.0.192.in-addr.arpa CNAME
      // 70.64/26.2.0.192.in-addr.arpa.`, or an operator's $GENERATE of 256 of them).
      if (managed.length === 0 || host.startsWith('*.') || /\.(in-addr|ip6)\.arpa$/.test(host)) continue;
      // The host of a declared system's name is that system's; another host whose first label is a
      // declared system's name (web01.mgmt beside web01) is not (it would block or make it ambiguous).
      const label = host.split('.')[0]!;
      const system = declaredAt.get(host) ?? (declaredNames.has(label) ? host : label);
      const why = [...new Set(managed.map((r) => unmovable.get(recordKey(r))).filter((w): w is string => !!w))];
      const ptrs = managed.filter((r) => r.type === 'PTR').map((r) => r.name);
      resources.push({
        kind: 'dns',
        system,
        id: host,
        owned: false,
        fields: {
          fqdn: host,
          a: recs
            .filter((r) => r.type === 'A' && r.name === host)
            .map((r) => r.value)
            .sort()
            .join(','),
          ptr: ptrs.length ? ptrs.sort().join(',') : null,
          aliases: managed
            .filter((r) => r.type === 'CNAME')
            .map((r) => r.name)
            .sort(),
          handwritten: managed.map(recordKey).sort(),
          ...(why.length ? { notAdoptable: why.join('; ') } : {}),
        },
        handle: { records: recs },
      });
    }
    return { resources, roundTrips };
  }

  /**
   * `shipshape adopt`: the operator's A, PTR and CNAME records of the system's host become
   * shipshape's as they are: commit writes them into shipshape's own (fragment) first, then removes
   * the hand lines (bind-ssh: one deploy per zone, checked by named-checkzone, SOA serial bumped,
   * reloaded). The changes an operator accepted are made by the update the engine runs next.
   */
  async adopt(
    system: DesiredSystem,
    observed: ObservedResource<DnsFields>,
    _resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource<DnsFields>> {
    this.setup(ctx);
    if (observed.fields.notAdoptable) throw new Refusal('hand-line', `${system.name}: ${observed.fields.notAdoptable}`);
    const hand = ((observed.handle as { records?: HandRecord[] } | undefined)?.records ?? []).filter((r) =>
      MANAGED_TYPES.includes(r.type),
    );
    this.takeOver(system.name, hand);
    const recs = hand.map(({ name, type, value }) => ({ name, type: type as RecordType, value }));
    return { kind: 'dns', system: system.name, id: observed.id, owned: true, fields: fieldsFromRecords(recs) };
  }

  /** Puts hand records into the system's wanted records of their zone and out of the foreign ones. */
  private takeOver(system: string, hand: HandRecord[]): void {
    for (const r of hand) {
      const state = this.wanted.get(r.zone);
      if (!state) continue;
      const mine = state.get(system) ?? [];
      if (!mine.some((x) => recordKey(x) === recordKey(r)))
        state.set(system, [...mine, { name: r.name, type: r.type as RecordType, value: r.value }]);
      const left = (this.foreign.get(r.name) ?? []).filter((f) => recordKey(f) !== recordKey(r));
      if (left.length) this.foreign.set(r.name, left);
      else this.foreign.delete(r.name);
      this.moveOut.set(r.zone, new Set([...(this.moveOut.get(r.zone) ?? []), system]));
    }
    this.adopted.add(system);
  }

  /**
   * A new system's records whose names the operator's records already take (an alias another host
   * has, a PTR of the address): the commit refuses them (`record-held`), so the plan blocks the
   * create. Names only: an `ip: auto` address is not known yet, but which names collide is.
   */
  foreseeCreate(system: DesiredSystem, desired: DnsFields): FieldChange[] {
    const names = [
      { name: desired.fqdn, type: 'A' },
      ...(desired.ptr && desired.ptr !== UNKNOWN ? [{ name: desired.ptr, type: 'PTR' }] : []),
      ...desired.aliases.map((name) => ({ name, type: 'CNAME' })),
    ];
    return names.flatMap((r) => {
      const why = this.heldBy(system, r);
      return why ? [{ path: 'dns', from: null, to: r.name, refused: why, refusal: 'record-held' as const }] : [];
    });
  }

  /** Why the operator's records at `r.name` keep shipshape's record of that type off it, with where the system names it. */
  private heldBy(system: DesiredSystem, r: { name: string; type: string }): string | undefined {
    const theirs = (this.foreign.get(r.name) ?? []).filter((f) => conflicts(r.type, f.type));
    if (theirs.length === 0) return undefined;
    const list = theirs.map((f) => `${f.type} ${f.value}`).join(', ');
    const src = r.type === 'CNAME' ? system.sources['dns.aliases'] : r.type === 'A' ? system.sources.name : undefined;
    const at = src ? ` (${r.type === 'CNAME' ? 'dns.aliases' : 'its name'} in ${formatSource(src)})` : '';
    return `${system.name}: ${r.name} already has ${list}, not managed by shipshape; shipshape never overwrites it: remove it by hand or choose another name${at}`;
  }

  private place(system: DesiredSystem, desired: DnsFields): ObservedResource<DnsFields> {
    const byZone = recordsByZone(system.name, desired, this.zones);
    for (const recs of byZone.values()) {
      for (const r of recs) {
        const why = this.heldBy(system, r);
        if (why) throw new Refusal('record-held', why);
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

  async update(
    system: DesiredSystem,
    desired: DnsFields,
    observed: ObservedResource<DnsFields>,
    _changes?: FieldChange[],
  ): Promise<ObservedResource<DnsFields>> {
    // An adoption that did not finish: the hand records the manifest wants move over now (the system is ours).
    const wanted = desiredRecordKeys(desired);
    const hand = ((observed.handle as { records?: HandRecord[] } | undefined)?.records ?? []).filter(
      (r) => observed.owned && wanted.has(recordKey(r)),
    );
    if (hand.length) this.takeOver(system.name, hand);
    for (const [apex, copies] of this.leftover)
      if (copies.has(system.name)) this.moveOut.set(apex, new Set([...(this.moveOut.get(apex) ?? []), system.name]));
    // A file on the server edited by hand: written again even where what it serves already matches.
    for (const [apex, systems] of this.fileStale)
      if (systems.has(system.name)) this.moveOut.set(apex, new Set([...(this.moveOut.get(apex) ?? []), system.name]));
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
    const moving = [...(this.moveOut.get(apex) ?? [])].filter((s) => after.has(s));
    return new Set([
      ...[...new Set([...before.keys(), ...after.keys()])].filter((s) => !same(before.get(s), after.get(s))),
      ...moving,
    ]);
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
    // The zones are deployed at the same time: each is its own files and reload (or its own updates),
    // so a change that touches a forward and a reverse zone costs one deploy's time, not two. A
    // system whose deploy fails in one zone is reverted in the others below.
    // Zones whose backends share a `deployQueue` (one PowerDNS server) go one after another.
    const queues = new Map<string, Promise<unknown>>();
    const deploys = [...this.backends].map(async ([apex, backend]) => {
      for (const s of this.changedIn(apex)) if (failed.has(s)) this.keepServed(apex, s);
      const changed = this.changedIn(apex);
      if (changed.size === 0) return undefined;
      const deploy = () => backend.apply(this.served.get(apex)!, this.wanted.get(apex)!, changed);
      const key = backend.deployQueue;
      const ahead = key ? queues.get(key) : undefined;
      const mine = ahead ? ahead.then(deploy, deploy) : deploy();
      if (key)
        queues.set(
          key,
          mine.catch(() => undefined),
        );
      return { apex, changed, result: await mine };
    });
    const done = await Promise.allSettled(deploys);
    for (const d of done) {
      if (d.status !== 'fulfilled' || !d.value) continue;
      const { apex, changed, result } = d.value;
      this.settle(apex, changed, result);
      for (const [s, e] of result) if (!failed.has(s)) failed.set(s, e);
      landed.set(apex, new Set([...changed].filter((s) => !result.has(s))));
    }
    const thrown = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
    if (thrown) throw thrown.reason;
    // A system that failed in one zone must not keep its change in another (A without PTR, or the reverse).
    for (const [apex, ok] of landed) {
      // An adopted record that landed in the fragment has left the operator's file: it stays ours
      // (putting back the fragment without it would lose it); the next run moves the rest over.
      const revert = new Set([...ok].filter((s) => failed.has(s) && !this.adopted.has(s)));
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
    this.moveOut.clear();
    this.adopted.clear();
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
