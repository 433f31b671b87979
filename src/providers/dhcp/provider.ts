/**
 * The `dhcp` provider: reservations on every server whose `nets` include the system's net, each server
 * served by the backend `dhcp.servers[].backend` names (registered in ../backends.ts). create/update/delete only change the in-memory reservation sets; commit()
 * checks (duplicates, subnets), then deploys each changed server once.
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
import type { DesiredSystem } from '../../manifest/types';
import type { SiteConfig } from '../../manifest/site';
import { SshPool, type SecretReader } from '../../transport/ssh';
import { backendFor } from '../backends';
import { Refusal } from '../../engine/refusals';
import { siteSealer } from '../../ownership';
import type { DhcpBackend, DhcpBackendDeps } from './backend';
import {
  checkReservations,
  desiredDhcp,
  diffDhcp,
  fieldsOf,
  reservationOf,
  sameReservation,
  addressesOf,
  hostKey,
  isNamed,
  type DhcpFields,
  type ForeignReservation,
  type Reservation,
} from './reservations';

export interface DhcpProviderOptions {
  readSecret: SecretReader;
  pool?: SshPool;
  /**
   * Called for each system whose reservation landed on a server (created or moved), after the deploy:
   * on lab sites the system takes its new address there, as a guest renewing its lease would.
   * A throw fails that system.
   */
  reserved?: (system: string, ip: string) => Promise<void>;
}

interface ServerState {
  backend: DhcpBackend;
  served: Map<string, Reservation>;
  wanted: Map<string, Reservation>;
  foreign: ForeignReservation[];
  subnets: string[];
  closed: { cidr: string; why: string }[];
  /** Systems whose hand copy on this server the next deploy moves out (adopted, or left by an interrupted adoption). */
  moveOut: Set<string>;
  leftover: Map<string, string[]>;
  /** `foreign` by address and by MAC (positions in `foreign`), built once per list (holdersOf). */
  index?: { of: ForeignReservation[]; byIp: Map<string, number[]>; byMac: Map<string, number[]> };
}

/**
 * The operator's reservations on a server that hold the address or the MAC `desired` asks for, in
 * the server's order. Planning asks this once per system, so the server's list is indexed once (by
 * address and by MAC) instead of scanned per system; a list replaced since (adopt) is indexed anew.
 */
function holdersOf(state: ServerState, desired: Pick<DhcpFields, 'ip' | 'mac'>): ForeignReservation[] {
  if (state.index?.of !== state.foreign) {
    const byIp = new Map<string, number[]>();
    const byMac = new Map<string, number[]>();
    const add = (m: Map<string, number[]>, k: string, i: number) => {
      const list = m.get(k);
      if (list) list.push(i);
      else m.set(k, [i]);
    };
    state.foreign.forEach((f, i) => {
      for (const ip of addressesOf(f)) add(byIp, ip, i);
      if (f.mac) add(byMac, f.mac, i);
    });
    state.index = { of: state.foreign, byIp, byMac };
  }
  const { byIp, byMac } = state.index;
  const ip = desired.ip !== UNKNOWN ? (byIp.get(desired.ip) ?? []) : [];
  const mac = desired.mac ? (byMac.get(desired.mac) ?? []) : [];
  if (!mac.length) return ip.map((i) => state.foreign[i]!);
  return [...new Set([...ip, ...mac])].sort((a, b) => a - b).map((i) => state.foreign[i]!);
}

/** An operator's reservation as one server holds it. */
type HandReservation = ForeignReservation & { server: string };

export class DhcpProvider implements Provider<DhcpFields> {
  readonly kind = 'dhcp' as const;
  readonly identity = { ip: 'ip', mac: 'mac' } satisfies IdentityFields<DhcpFields>;
  private pool: SshPool | undefined;
  private servers = new Map<string, ServerState>();

  constructor(private readonly opts: DhcpProviderOptions) {}

  desired(system: DesiredSystem, resolved: Resolved, site: SiteConfig): DhcpFields | null {
    return desiredDhcp(system, resolved, site);
  }

  /** The pure diff, plus what apply would refuse: an address or MAC another reservation on a server holds. */
  diff(system: DesiredSystem, desired: DhcpFields, observed: ObservedResource<DhcpFields>): FieldChange[] {
    const changes = diffDhcp(system, desired, observed);
    if (!observed.owned || !changes.some((c) => c.path === 'dhcp.mac' || c.path === 'dhcp.ip')) return changes;
    return [...changes, ...this.held(system, desired)];
  }

  foreseeCreate(system: DesiredSystem, desired: DhcpFields): FieldChange[] {
    return this.held(system, desired);
  }

  /**
   * The servers' reservations that are not this system's and hold its MAC or address: commit refuses
   * those (`reservation-held`), so the plan blocks them. From the observation this provider made.
   */
  private held(system: DesiredSystem, desired: DhcpFields): FieldChange[] {
    const out: FieldChange[] = [];
    for (const name of desired.servers) {
      const state = this.servers.get(name);
      if (!state) continue;
      for (const f of holdersOf(state, desired)) {
        if (isNamed(f, system.name)) continue; // its own: adoption, or a collision the planner shows
        const what =
          desired.ip !== UNKNOWN && addressesOf(f).includes(desired.ip)
            ? `address ${desired.ip}`
            : f.mac && f.mac === desired.mac
              ? `MAC ${desired.mac}`
              : undefined;
        if (!what) continue;
        out.push({
          path: what.startsWith('MAC') ? 'dhcp.mac' : 'dhcp.ip',
          from: null,
          to: what.startsWith('MAC') ? desired.mac : desired.ip,
          refused: `${what} is already reserved on ${name} by ${f.label}${f.mac && f.mac !== desired.mac ? ` (MAC ${f.mac})` : ''}, not a system of this repo; remove or change that reservation, or give ${system.name} another ${what.split(' ')[0]}`,
          refusal: 'reservation-held',
        });
      }
    }
    return out;
  }

  backend(server: string): DhcpBackend | undefined {
    return this.servers.get(server)?.backend;
  }

  private backends(ctx: ProviderContext): DhcpBackend[] {
    if (this.servers.size > 0) return [...this.servers.values()].map((s) => s.backend);
    this.pool = this.opts.pool ?? new SshPool({ readSecret: this.opts.readSecret, root: ctx.site.root });
    return ctx.site.dhcp.servers.map((server) => {
      const deps: DhcpBackendDeps = {
        pool: this.pool!,
        commit: ctx.commit,
        netCidrs: server.nets.map((n) => ctx.site.nets[n]?.cidr).filter((c): c is string => !!c),
        sealer: () => siteSealer(ctx.site, this.opts.readSecret),
      };
      return backendFor('dhcp', server.backend).connect(server, deps);
    });
  }

  /** `shipshape ownership seal`: the servers' backends that seal markers seal those of `systems`. */
  async sealMarkers(ctx: ProviderContext, systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }> {
    const out = { sealed: [] as string[], skipped: [] as string[] };
    for (const b of this.backends(ctx)) {
      const r = await b.sealMarkers?.(systems);
      out.sealed.push(...(r?.sealed ?? []));
      out.skipped.push(...(r?.skipped ?? []));
    }
    return out;
  }

  async observe(ctx: ProviderContext): Promise<Observation<DhcpFields>> {
    const backends = this.backends(ctx);
    const results = await Promise.all(backends.map((b) => b.observe()));
    const bySystem = new Map<string, { r: Reservation; servers: string[] }>();
    const resources: ObservedResource<DhcpFields>[] = [];
    let roundTrips = 0;
    results.forEach((o, i) => {
      const backend = backends[i]!;
      const name = backend.server.name;
      // A dhcpd failover pair shares the pools' leases, not host declarations (dhcpd.conf(5)): a
      // reservation on one peer only is not given out by the other. Said when no other server of the
      // site serves this one's nets (the peer is then not in shipshape.yaml).
      const alone = backend.server.nets.filter(
        (n) => !backends.some((b) => b !== backend && b.server.nets.includes(n)),
      );
      if (o.failoverPeers?.length && alone.length)
        ctx.log.warn(
          { server: name, failoverPeers: o.failoverPeers, nets: alone },
          `dhcp server ${name} is in a failover pair (failover peer "${o.failoverPeers.join('", "')}"), but no other server in shipshape.yaml serves ${alone.join(', ')}: the peer does not get shipshape's reservations (failover shares leases, not host declarations). Add the peer to dhcp.servers with the same nets, or copy ${name}'s include file to it`,
        );
      this.servers.set(name, {
        backend,
        served: o.owned,
        wanted: new Map(o.owned),
        foreign: o.foreign,
        subnets: o.subnets,
        closed: o.closed ?? [],
        moveOut: new Set(),
        leftover: o.leftover ?? new Map(),
      });
      roundTrips += o.roundTrips;
      for (const [system, r] of o.owned) {
        const seen = bySystem.get(system);
        if (!seen) bySystem.set(system, { r, servers: [name] });
        else if (sameReservation(seen.r, r)) seen.servers.push(name);
      }
    });
    resources.push(...this.foreignResources());
    for (const [system, { r, servers }] of bySystem) {
      const handwritten = [...this.servers]
        .filter(([, st]) => st.leftover.has(system))
        .map(([n]) => n)
        .sort();
      const fields = fieldsOf(r, servers);
      resources.push({
        kind: 'dhcp',
        system,
        id: r.mac,
        owned: true,
        fields: handwritten.length ? { ...fields, handwritten } : fields,
      });
    }
    return { resources, roundTrips };
  }

  /**
   * The operator's reservations, one resource per name: the same reservation on several servers (a
   * failover pair, dhcpd and Kea side by side) is one, as shipshape's own are; differing ones of one
   * name are one each (the plan then calls the system ambiguous).
   */
  private foreignResources(): ObservedResource<DhcpFields>[] {
    const byName = new Map<string, HandReservation[]>();
    for (const [server, st] of this.servers)
      for (const f of st.foreign) {
        const key = f.name ? hostKey(f.name) : f.label;
        byName.set(key, [...(byName.get(key) ?? []), { ...f, server }]);
      }
    const out: ObservedResource<DhcpFields>[] = [];
    for (const [system, all] of byName) {
      const same = (a: HandReservation, b: HandReservation) =>
        a.mac === b.mac && a.ip === b.ip && (a.hostname ?? '') === (b.hostname ?? '');
      const groups: HandReservation[][] = [];
      for (const f of all) {
        const g = groups.find((x) => same(x[0]!, f) && !x.some((y) => y.server === f.server));
        if (g) g.push(f);
        else groups.push([f]);
      }
      for (const g of groups) {
        const f = g[0]!;
        const why = [
          ...g.flatMap((x) => (x.notAdoptable ? [x.notAdoptable] : [])),
          ...g
            .filter((x) => !this.servers.get(x.server)!.backend.adopts)
            .map(
              (x) =>
                `dhcp server ${x.server} (backend ${this.servers.get(x.server)!.backend.server.backend}) cannot take reservations over; remove ${x.label} by hand, or leave it to the operator`,
            ),
        ];
        out.push({
          kind: 'dhcp',
          system,
          id: g.map((x) => `${x.server}: ${x.label}`).join('; '),
          owned: false,
          fields: {
            mac: f.mac ?? '',
            ip: f.ip ?? '',
            hostname: f.hostname ?? '',
            nextServer: f.nextServer ?? null,
            bootFilename: f.bootFilename ?? null,
            servers: g.map((x) => x.server).sort(),
            ...(why.length ? { notAdoptable: why.join('; ') } : {}),
          },
          handle: { hand: g },
        });
      }
    }
    return out;
  }

  /**
   * `shipshape adopt`: the operator's reservation becomes the system's as it is, on every server that
   * holds it. Commit writes it into shipshape's own (isc: the include file; kea: a marked reservation)
   * and removes the hand copy in the same deploy, ours first (see the backends). The changes an
   * operator accepted are made by the update the engine runs next.
   */
  async adopt(
    system: DesiredSystem,
    observed: ObservedResource<DhcpFields>,
    _resolved: Resolved,
    _ctx: ProviderContext,
  ): Promise<ObservedResource<DhcpFields>> {
    if (observed.fields.notAdoptable) throw new Refusal('hand-line', `${system.name}: ${observed.fields.notAdoptable}`);
    const hand = (observed.handle as { hand?: HandReservation[] } | undefined)?.hand ?? [];
    const r = reservationOf(observed.fields);
    for (const h of hand) {
      const state = this.servers.get(h.server);
      if (!state) continue;
      state.wanted.set(system.name, r);
      state.foreign = state.foreign.filter((f) => f.label !== h.label);
      state.moveOut.add(system.name);
    }
    return { kind: 'dhcp', system: system.name, id: r.mac, owned: true, fields: fieldsOf(r, observed.fields.servers) };
  }

  private place(system: DesiredSystem, desired: DhcpFields | null): void {
    const r = desired ? reservationOf(desired) : undefined;
    for (const [name, state] of this.servers) {
      if (r && desired!.servers.includes(name)) state.wanted.set(system.name, r);
      else state.wanted.delete(system.name);
    }
  }

  async create(
    system: DesiredSystem,
    desired: DhcpFields,
    _resolved?: Resolved,
    _ctx?: ProviderContext,
  ): Promise<ObservedResource<DhcpFields>> {
    this.place(system, desired);
    return { kind: 'dhcp', system: system.name, id: desired.mac, owned: true, fields: desired };
  }

  async update(system: DesiredSystem, desired: DhcpFields): Promise<ObservedResource<DhcpFields>> {
    // A hand copy an interrupted adoption left goes with this deploy.
    for (const state of this.servers.values()) if (state.leftover.has(system.name)) state.moveOut.add(system.name);
    return this.create(system, desired);
  }

  async delete(system: DesiredSystem, observed: ObservedResource<DhcpFields>): Promise<void> {
    if (!observed.owned)
      throw new UserError(`${system.name}: ${observed.id} is not managed by shipshape; it is never deleted`);
    this.place(system, null);
  }

  async commit(): Promise<CommitResult> {
    const failed = new Map<string, Error>();
    // The servers are deployed at the same time (each its own config, check and restart); the lab's
    // `reserved` hook runs afterwards, one system at a time.
    const landed: { changed: Set<string>; state: ServerState; before: Map<string, Reservation> }[] = [];
    const deploy = async ([name, state]: [string, ServerState]): Promise<void> => {
      const changed = new Set([
        ...[...new Set([...state.served.keys(), ...state.wanted.keys()])].filter(
          (s) => !sameReservation(state.served.get(s), state.wanted.get(s)),
        ),
        ...[...state.moveOut].filter((s) => state.wanted.has(s)),
      ]);
      state.moveOut.clear();
      if (changed.size === 0) return;
      // Refused systems keep what the server holds now; the others go ahead.
      for (const [s, why] of checkReservations(name, state.wanted, state.foreign, state.subnets, state.closed)) {
        if (!changed.has(s)) continue;
        failed.set(
          s,
          /already reserved on/.test(why)
            ? new Refusal('reservation-held', `dhcp server ${name}: ${s}: ${why}`)
            : new UserError(
                `dhcp server ${name}: ${s}: ${why}`,
                /more than one system/.test(why) ? 'collides' : 'invalid',
              ),
        );
        changed.delete(s);
        const keep = state.served.get(s);
        if (keep) state.wanted.set(s, keep);
        else state.wanted.delete(s);
      }
      if (changed.size === 0) return;
      const before = state.served;
      try {
        await state.backend.apply(state.wanted);
        state.served = new Map(state.wanted);
      } catch (e) {
        for (const s of changed) if (!failed.has(s)) failed.set(s, e as Error);
        state.wanted = new Map(state.served);
        return;
      }
      landed.push({ changed, state, before });
    };
    await Promise.all([...this.servers].map(deploy));
    for (const { changed, state, before } of landed) {
      for (const s of freedFirst([...changed], before, state.wanted)) {
        const r = state.wanted.get(s);
        if (!r || !this.opts.reserved) continue;
        try {
          await this.opts.reserved(s, r.ip);
        } catch (e) {
          failed.set(s, e as Error);
        }
      }
    }
    return { failed: [...failed].map(([system, error]) => ({ system, error })) };
  }

  async close(): Promise<void> {
    await this.pool?.closeAll();
  }
}

/**
 * `systems` ordered so that one taking an address another of them held before this deploy comes after
 * it: whoever hears of a reservation (the lab moves its stand-in systems) sees the address freed
 * before it is taken. A cycle keeps the given order.
 */
export function freedFirst(
  systems: string[],
  before: ReadonlyMap<string, { ip: string }>,
  after: ReadonlyMap<string, { ip: string }>,
): string[] {
  const pending = [...systems];
  const out: string[] = [];
  while (pending.length) {
    const takesHeld = (s: string) => {
      const ip = after.get(s)?.ip;
      return ip !== undefined && pending.some((o) => o !== s && before.get(o)?.ip === ip);
    };
    const i = pending.findIndex((s) => !takesHeld(s));
    out.push(...pending.splice(Math.max(i, 0), 1));
  }
  return out;
}
