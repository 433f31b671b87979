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
  /** Backends that adopt: hand-written copies of our own records, by system (an adoption that did not finish). */
  leftover?: Map<string, DnsRecord[]>;
  /** Backends that adopt: why a foreign record (`name TYPE value`) cannot be moved out of the operator's file. */
  unmovable?: Map<string, string>;
  /**
   * Backends that deploy a file: by system, how the file on the server differs from what the server serves
   * (edited and not loaded). `owned` is what the server serves; the next deploy writes the file again.
   */
  fileDiffers?: Map<string, string>;
}

export interface ZoneBackend {
  /** The zone's apex and backend id (the rest of its config is the backend's own). */
  readonly zone: { name: string; backend: string };
  observe(): Promise<ZoneObservation>;
  /**
   * Takes hand-written records over (`shipshape adopt`): `apply` writes every record of `after` into
   * shipshape's own first and then removes the operator's identical copy (never another record). A
   * backend without it cannot adopt: its foreign records of a system's name block that system.
   */
  readonly adopts?: boolean;
  /**
   * Optional checks on this machine before any server is touched; returns the systems whose records
   * the checker refused (their change is then left out of every zone).
   */
  check?(after: Map<string, DnsRecord[]>, changed: Set<string>): Promise<Map<string, Error>>;
  /**
   * Makes the server serve `after` as our records (`before` is what it served at observe time);
   * `changed` lists the systems whose records differ. Returns the systems whose change did not land.
   */
  /**
   * Optional: zones whose backends name the same key deploy one after another (the others at the same
   * time). PowerDNS names its server: its SQL backends take one writer at a time, and gsqlite3 answers a
   * second PATCH during a write with 500 (database locked).
   */
  readonly deployQueue?: string;
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
