/**
 * The `dhcp` provider: reservations on every server whose `nets` include the system's net, each server
 * served by the backend `dhcp.servers[].backend` names (registered in ../backends.ts). create/update/delete only change the in-memory reservation sets; commit()
 * checks (duplicates, subnets), then deploys each changed server once.
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
import type { SiteConfig } from '../../manifest/site';
import { SshPool, type SecretReader } from '../../transport/ssh';
import { backendFor } from '../backends';
import { siteSealer } from '../../ownership';
import type { DhcpBackend, DhcpBackendDeps } from './backend';
import {
  checkReservations,
  desiredDhcp,
  diffDhcp,
  fieldsOf,
  reservationOf,
  sameReservation,
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
}

export class DhcpProvider implements Provider<DhcpFields> {
  readonly kind = 'dhcp' as const;
  readonly identity = { ip: 'ip', mac: 'mac' } satisfies IdentityFields<DhcpFields>;
  private pool: SshPool | undefined;
  private servers = new Map<string, ServerState>();

  constructor(private readonly opts: DhcpProviderOptions) {}

  desired(system: DesiredSystem, resolved: Resolved, site: SiteConfig): DhcpFields | null {
    return desiredDhcp(system, resolved, site);
  }

  diff = diffDhcp;

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
      this.servers.set(name, {
        backend,
        served: o.owned,
        wanted: new Map(o.owned),
        foreign: o.foreign,
        subnets: o.subnets,
      });
      roundTrips += o.roundTrips;
      for (const [system, r] of o.owned) {
        const seen = bySystem.get(system);
        if (!seen) bySystem.set(system, { r, servers: [name] });
        else if (sameReservation(seen.r, r)) seen.servers.push(name);
      }
      for (const f of o.foreign) {
        resources.push({
          kind: 'dhcp',
          system: f.name ?? f.label,
          id: `${name}: ${f.label}`,
          owned: false,
          fields: {
            mac: f.mac ?? '',
            ip: f.ip ?? '',
            hostname: '',
            nextServer: null,
            bootFilename: null,
            servers: [name],
          },
        });
      }
    });
    for (const [system, { r, servers }] of bySystem) {
      resources.push({ kind: 'dhcp', system, id: r.mac, owned: true, fields: fieldsOf(r, servers) });
    }
    return { resources, roundTrips };
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
    return this.create(system, desired);
  }

  async delete(system: DesiredSystem, observed: ObservedResource<DhcpFields>): Promise<void> {
    if (!observed.owned)
      throw new UserError(`${system.name}: ${observed.id} is not managed by shipshape; it is never deleted`);
    this.place(system, null);
  }

  async commit(): Promise<CommitResult> {
    const failed = new Map<string, Error>();
    for (const [name, state] of this.servers) {
      const changed = new Set(
        [...new Set([...state.served.keys(), ...state.wanted.keys()])].filter(
          (s) => !sameReservation(state.served.get(s), state.wanted.get(s)),
        ),
      );
      if (changed.size === 0) continue;
      // Refused systems keep what the server holds now; the others go ahead.
      for (const [s, why] of checkReservations(name, state.wanted, state.foreign, state.subnets)) {
        if (!changed.has(s)) continue;
        failed.set(
          s,
          new UserError(
            `dhcp server ${name}: ${s}: ${why}`,
            /already reserved|more than one system/.test(why) ? 'collides' : 'invalid',
          ),
        );
        changed.delete(s);
        const keep = state.served.get(s);
        if (keep) state.wanted.set(s, keep);
        else state.wanted.delete(s);
      }
      if (changed.size === 0) continue;
      try {
        await state.backend.apply(state.wanted);
        state.served = new Map(state.wanted);
      } catch (e) {
        for (const s of changed) if (!failed.has(s)) failed.set(s, e as Error);
        state.wanted = new Map(state.served);
        continue;
      }
      for (const s of changed) {
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
