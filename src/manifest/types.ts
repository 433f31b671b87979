/**
 * The expanded, validated form of the repo's manifests: what every other module consumes.
 * Produced by src/manifest (load → schema-validate → expand profiles → cross-file rules).
 * Values keep their provenance so plans and errors can say `cpu=4 (profiles/web.yaml:7)`.
 */

/** Where a value came from in the repo: file path relative to the repo root, 1-based line and column. */
export interface SourceRef {
  file: string;
  line: number;
  col: number;
}

export function formatSource(s: SourceRef | undefined): string {
  return s ? `${s.file}:${s.line}:${s.col}` : '(default)';
}

export interface DiskSpec {
  sizeGiB: number;
  /** Datastore for this disk; the site's default datastore when absent. */
  datastore?: string;
}

/** schemas/common.schema.json `placement`: datacenter, cluster or host, resource pool, folder, default datastore. */
export interface Placement {
  datacenter?: string;
  cluster?: string;
  /** A host of the cluster, by name: pins the VM there (otherwise DRS or the cluster's root pool chooses). */
  host?: string;
  resourcePool?: string;
  folder?: string;
  /** Datastore for disks that name none. */
  datastore?: string;
}

export interface NetworkSpec {
  /** The i-doit layer-3 net, by its title. */
  net: string;
  /** 'auto' takes the next free address of the net from i-doit; otherwise an explicit IPv4 address. */
  ip: 'auto' | string;
  /** Static MAC; derived from the name (in VMware's manual range) when not given. A VM shipshape makes needs one in that range. */
  mac: string;
  /** vSphere port group; the site's default when absent. */
  portgroup?: string;
}

export interface RoleRef {
  /** Role path under roles/, e.g. `baseline/internal` or `app/shop`. */
  name: string;
  /** Optional version pinned in the manifest (`app/shop@7.4.1`). */
  version?: string;
  params: Record<string, unknown>;
}

export type VmOnDelete = 'destroy' | 'poweroff-keep';
export type CmdbOnDelete = 'archive' | 'purge';
/** What apply may do when a change needs the VM powered off (CPU/memory on a running VM). */
export type PowerPolicy = 'never' | 'allow-poweroff';

export interface Lifecycle {
  protect: boolean;
  vmOnDelete: VmOnDelete;
  cmdbOnDelete: CmdbOnDelete;
  powerPolicy: PowerPolicy;
}

export interface DesiredSystem {
  name: string;
  /** `present` or a declared removal (`absent`): the only way a system is ever deleted. */
  state: 'present' | 'absent';
  labels: Record<string, string>;
  profile?: string;
  /** The site the system belongs to (repos with sites/): `spec.site`, its profile's, or its folder systems/<site>/. */
  site?: string;
  /** Where the VM lives; unset keys take the site's `vms:` defaults. */
  placement?: Placement;
  cpu: number;
  memoryMiB: number;
  disks: DiskSpec[];
  network: NetworkSpec;
  dns: { domain: string; aliases: string[] };
  os: string;
  roles: RoleRef[];
  lifecycle: Lifecycle;
  /** The environment the system belongs to (environments/), with every member's name, sorted. */
  environment?: { name: string; systems: string[] };
  /**
   * Systems whose whole pipeline must have run before this one's specialisation starts: its
   * environment's `dependsOn` plus every system its roles reference (src/manifest/environments.ts).
   */
  dependsOn?: string[];
  /** The manifest file that declares the system. */
  file: string;
  /** Provenance per field path, e.g. `cpu`, `disks[0].sizeGiB`, `network.net`. */
  sources: Record<string, SourceRef>;
}

export function fqdn(s: Pick<DesiredSystem, 'name' | 'dns'>): string {
  return `${s.name}.${s.dns.domain}`;
}
