/** What the DHCP provider needs from a server's backend (one per server, as `dhcp.servers[].backend` names it). */
import type { DhcpServerSection } from '../../manifest/site';
import type { Sealer } from '../../ownership';
import type { SshPool } from '../../transport/ssh';
import type { ForeignReservation, Reservation } from './reservations';

export interface ServerObservation {
  owned: Map<string, Reservation>;
  foreign: ForeignReservation[];
  /** CIDRs of the subnets the server declares (Kea) or the site declares for its nets (ISC). */
  subnets: string[];
  /** dhcpd `failover peer` names its config declares (the pair shares leases, not host declarations). */
  failoverPeers?: string[];
  /** Subnets the server declares but reads no reservations in (Kea `reservations-in-subnet: false`), and why. */
  closed?: { cidr: string; why: string }[];
  roundTrips: number;
  /** Backends that adopt: the operator's hand copies of our reservations, by system (labels). */
  leftover?: Map<string, string[]>;
}

export interface DhcpBackend {
  /** The server's name, nets and backend id (the rest of its config is the backend's own). */
  readonly server: Pick<DhcpServerSection, 'name' | 'nets' | 'backend'>;
  observe(): Promise<ServerObservation>;
  /**
   * Takes the operator's reservations over (`shipshape adopt`): `apply` writes each reservation of
   * `wanted` into shipshape's own and removes the operator's hand copy of it (isHandCopy), ours
   * first. A backend without it cannot adopt.
   */
  readonly adopts?: boolean;
  /** Render, check, deploy and activate `wanted` as our whole reservation set; throws when it did not land. */
  apply(wanted: Map<string, Reservation>): Promise<void>;
  /** Optional (`shipshape ownership seal`): seals this server's unsealed markers of `systems` once. */
  sealMarkers?(systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }>;
}

export interface DhcpBackendDeps {
  pool: SshPool;
  commit?: string;
  /** For ISC: CIDRs of the server's nets from the site. */
  netCidrs: string[];
  /** The site's marker seal (src/ownership), for backends that seal their markers; undefined without `ownership:`. */
  sealer?: () => Promise<Sealer | undefined>;
}

export class DhcpDeployError extends Error {
  override readonly name = 'DhcpDeployError';
}
