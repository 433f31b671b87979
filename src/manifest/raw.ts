/**
 * The manifest files as written (after schema validation, before expansion). These mirror schemas/*.json;
 * test/manifest/schema-drift.test.ts fails when they and the schemas disagree.
 */

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
  spec: { params?: { type?: 'object'; [k: string]: unknown }; steps?: RawRoleStep[]; check?: string; remove?: RawRoleStep[] };
}

export interface RawTls {
  caFile?: string;
  thumbprint?: string;
}

export interface RawSsh {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  hostKeyFingerprint?: string;
  knownHosts?: string;
}

export interface RawDnsZone {
  name: string;
  backend: 'bind-ssh' | 'rfc2136';
  server: { host: string; port: number };
  ssh?: RawSsh;
  fragmentPath?: string;
  zoneFile?: string;
  reloadCommand?: string;
  tsig?: { name: string; algorithm: 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512' | 'hmac-sha224' | 'hmac-sha1' | 'hmac-md5'; secret: string };
}

export interface RawDhcpServer {
  name: string;
  kind: 'isc' | 'kea';
  ssh: RawSsh;
  includePath?: string;
  configPath?: string;
  controlSocket?: string;
  nets: string[];
  restartCommand?: string;
}

export interface RawNet {
  cidr: string;
  gateway?: string;
  dnsServers?: string[];
  domain?: string;
  reverseZone?: string;
}

export interface SiteManifest {
  apiVersion: 'shipshape.dev/v1';
  kind: 'Site';
  metadata?: { name?: string };
  spec: {
    lab?: boolean;
    defaults?: { concurrency?: number; maxDeletes?: number };
    vsphere?: {
      url: string;
      username: string;
      password: string;
      tls?: RawTls;
      datacenter: string;
      cluster: string;
      folder: string;
      resourcePool?: string;
      datastore: string;
      portgroup: string;
      templates: Record<string, string>;
      taskTimeoutSeconds?: number;
      simulator?: 'vcsim' | 'vcenter-like';
    };
    idoit?: {
      url: string;
      apiKey: string;
      username?: string;
      password?: string;
      tls?: RawTls;
      reserved?: Record<string, string[]>;
    };
    nets: Record<string, RawNet>;
    dns?: { zones?: RawDnsZone[] };
    dhcp?: { servers?: RawDhcpServer[] };
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
