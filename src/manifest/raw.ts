/**
 * The manifest files as written (after schema validation, before expansion). These mirror schemas/*.json;
 * test/manifest/schema-drift.test.ts fails when they and the schemas disagree.
 */
import type { Step } from './concurrency';

export type RawRoleRef = string | { name: string; version?: string; params?: Record<string, unknown> };

export interface RawLifecycle {
  protect?: boolean;
  vmOnDelete?: 'destroy' | 'poweroff-keep';
  cmdbOnDelete?: 'archive' | 'purge';
  powerPolicy?: 'never' | 'allow-poweroff';
}

export interface RawDisk {
  sizeGiB: number;
  datastore?: string;
}

/** Where the VM lives (schemas/common.schema.json `placement`); each key defaults to the site's `vms:` section. */
export interface RawPlacement {
  datacenter?: string;
  cluster?: string;
  host?: string;
  resourcePool?: string;
  folder?: string;
  datastore?: string;
}

export interface RawDns {
  domain?: string;
  aliases?: string[];
}

export interface SystemManifest {
  apiVersion: 'shipshape.dev/v1';
  kind: 'System';
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    state?: 'present' | 'absent';
    profile?: string;
    site?: string;
    placement?: RawPlacement;
    cpu?: number;
    memoryMiB?: number;
    disks?: RawDisk[];
    network?: { net?: string; ip?: string; mac?: string; portgroup?: string };
    dns?: RawDns;
    os?: string;
    roles?: RawRoleRef[];
    lifecycle?: RawLifecycle;
  };
}

export interface ProfileManifest {
  apiVersion: 'shipshape.dev/v1';
  kind: 'Profile';
  metadata: { name: string };
  spec: {
    extends?: string;
    labels?: Record<string, string>;
    site?: string;
    placement?: RawPlacement;
    cpu?: number;
    memoryMiB?: number;
    disks?: RawDisk[];
    network?: { net?: string; portgroup?: string };
    dns?: RawDns;
    os?: string;
    roles?: RawRoleRef[];
    lifecycle?: RawLifecycle;
  };
}

export interface OsManifest {
  apiVersion: 'shipshape.dev/v1';
  kind: 'OperatingSystem';
  metadata: { name: string };
  spec: {
    family: 'debian' | 'rhel';
    installer: 'preseed' | 'kickstart';
    release: string;
    boot: { kernel: string; initrd: string };
    answerFile: string;
    vsphereTemplate?: string;
    packages?: string[];
  };
}

/** One step of a role: exactly one of file, script, packages, deb, service, absent (checked by the loader). */
export interface RawRoleStep {
  name?: string;
  timeoutSeconds?: number;
  file?: { path: string; source?: string; template?: string; mode?: string; owner?: string; group?: string };
  script?: string;
  packages?: string[];
  deb?: string;
  service?: { name: string; enabled?: boolean; restart?: boolean };
  absent?: string;
}

export interface RoleManifest {
  apiVersion: 'shipshape.dev/v1';
  kind: 'Role';
  metadata: { name: string };
  spec: {
    params?: { type?: 'object'; [k: string]: unknown };
    steps?: RawRoleStep[];
    check?: string;
    remove?: RawRoleStep[];
  };
}

/**
 * A backend section as the site schema file declares it: `backend` plus that backend's own keys,
 * which its schema in src/providers/<kind>/<backend>/schema.json defines (composed in at validation).
 */
export interface RawBackendSection {
  backend: string;
  [k: string]: unknown;
}

export interface RawZoneSection extends RawBackendSection {
  name: string;
}

export interface RawDhcpServerSection extends RawBackendSection {
  name: string;
  nets: string[];
}

export interface RawNet {
  cidr: string;
  gateway?: string;
  dnsServers?: string[];
  domain?: string;
  reverseZone?: string;
  reserved?: string[];
}

export interface SiteManifest {
  apiVersion: 'shipshape.dev/v1';
  kind: 'Site';
  metadata?: { name?: string };
  spec: {
    lab?: boolean;
    secrets?: { folders?: string[]; env?: string[] };
    defaults?: { concurrency?: number; maxDeletes?: number; stepConcurrency?: Partial<Record<Step, number>> };
    vms?: RawBackendSection;
    ipam?: RawBackendSection;
    cmdb?: RawBackendSection;
    nets: Record<string, RawNet>;
    dns?: { zones?: RawZoneSection[] };
    dhcp?: { servers?: RawDhcpServerSection[] };
    shards?: Record<string, { nets: string[]; zones?: string[]; dhcpServers?: string[] }>;
    ownership?: { siteId: string; key: string };
    provisioning?: {
      listen: string;
      baseUrl: string;
      mirrors?: Record<string, string>;
      localMirrors?: Record<string, string>;
      rootPasswordHash?: string;
      sshPublicKeyFile?: string;
      timezone?: string;
      installTimeoutMinutes?: number;
      failedLogMaxKiB?: number;
      hostKeyFrom?: 'guestinfo' | 'callback';
      tls?: { certFile: string; keyFile: string };
    };
    specialise?: {
      user: string;
      port?: number;
      privateKey: string;
      knownHosts?: string;
      rootPrefix?: string;
      connectTimeoutSeconds?: number;
      commandTimeoutSeconds?: number;
    };
  };
}

export interface EnvironmentTier {
  name: string;
  systems?: string[];
  selector?: Record<string, string>;
  dependsOn?: string[];
}

export interface EnvironmentManifest {
  apiVersion: 'shipshape.dev/v1';
  kind: 'Environment';
  metadata: { name: string };
  spec: { tiers: EnvironmentTier[] };
}
