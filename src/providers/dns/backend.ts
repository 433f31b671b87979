/** What the DNS provider needs from a zone's backend (one per zone, as `dns.zones[].backend` names it). */
import type { Logger } from '../../engine/contract';
import type { Sealer } from '../../ownership';
import type { SecretReader, SshPool } from '../../transport/ssh';
import type { DnsRecord, ServedRecord } from './records';

export interface ZoneObservation {
  /** Our records as the server serves them, by system. */
  owned: Map<string, DnsRecord[]>;
  /** Everything else the server serves in the zone except the apex (not ours: reported, never touched). */
  foreign: ServedRecord[];
  /** The zone's own name servers (targets of its apex NS records): infrastructure, not unmanaged systems. */
  nameServers?: string[];
  roundTrips: number;
}

export interface ZoneBackend {
  /** The zone's apex and backend id (the rest of its config is the backend's own). */
  readonly zone: { name: string; backend: string };
  observe(): Promise<ZoneObservation>;
  /**
   * Optional checks on this machine before any server is touched; returns the systems whose records
   * the checker refused (their change is then left out of every zone).
   */
  check?(after: Map<string, DnsRecord[]>, changed: Set<string>): Promise<Map<string, Error>>;
  /**
   * Makes the server serve `after` as our records (`before` is what it served at observe time);
   * `changed` lists the systems whose records differ. Returns the systems whose change did not land.
   */
  /** Optional (`shipshape ownership seal`): seals this zone's unsealed markers of `systems` once. */
  sealMarkers?(systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }>;
  apply(
    before: Map<string, DnsRecord[]>,
    after: Map<string, DnsRecord[]>,
    changed: Set<string>,
  ): Promise<Map<string, Error>>;
}

export interface BackendDeps {
  pool: SshPool;
  readSecret: SecretReader;
  log: Logger;
  commit?: string;
  /** How long to wait for the server to serve a new serial after a reload (default 10 s). */
  reloadTimeoutMs?: number;
  /** The site's marker seal (src/ownership), for backends that seal their markers; undefined without `ownership:`. */
  sealer?: () => Promise<Sealer | undefined>;
}

/** Every system in `changed` failed with the same error (a zone-wide step failed). */
export function allFailed(changed: Set<string>, error: Error): Map<string, Error> {
  return new Map([...changed].map((s) => [s, error]));
}
