/**
 * The site config `shipshape.yaml` at the repo root, after validation against schemas/site.schema.json
 * and after secret references (`${env:NAME}`, `${file:PATH}`) were checked (not yet read: secrets are
 * read by `resolveSecret` at the moment a provider connects, and never stored in plans or logs).
 */
import type { Step } from './concurrency';

/** A reference to a secret: never the secret itself. */
export interface SecretRef {
  /** As written: `${env:NAME}` or `${file:PATH}`. */
  ref: string;
}

/** How an SSH server is reached and verified. Exactly one of hostKeyFingerprint / knownHosts is required. */
export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
  privateKey: SecretRef;
  /** `SHA256:base64…` as printed by `ssh-keygen -lf`. */
  hostKeyFingerprint?: string;
  /** A known_hosts file (path relative to the repo root or absolute). */
  knownHosts?: string;
}

export interface TlsOptions {
  /** Extra CA bundle (PEM) to trust. */
  caFile?: string;
  /** Pin the server certificate by its SHA-256 thumbprint (hex, colons allowed). */
  thumbprint?: string;
}

/**
 * A step's backend as shipshape.yaml chooses it: `backend` names a registered backend of the step's
 * kind; the other keys are that backend's own config, validated against its schema and with its
 * defaults applied (src/providers/<kind>/<backend>/). Engine, planner and manifest code never read
 * those keys: only the backend's factory does, once, at connect.
 */
export interface BackendSection {
  backend: string;
  [key: string]: unknown;
}

/** One DNS zone and the backend serving it (`dns.zones[]`). */
export interface ZoneSection extends BackendSection {
  /** Zone apex, e.g. `dev.example.com` or `2.0.192.in-addr.arpa`. */
  name: string;
}

/** One DHCP server and its backend (`dhcp.servers[]`). */
export interface DhcpServerSection extends BackendSection {
  name: string;
  /** The nets this server serves. */
  nets: string[];
}

export interface ProvisioningSite {
  /** Address the provisioning server listens on, e.g. 127.0.0.1:8088. */
  listen: string;
  /** URL installers reach it at. */
  baseUrl: string;
  /** Installer mirror per OS catalog entry. */
  mirrors: Record<string, string>;
  /** Local directories the provisioning server serves under /mirror/<os>/ (lab, air-gapped sites). */
  localMirrors: Record<string, string>;
  /** crypt(3) hash of the installed system's root password; only ever inside a running install's answer file. */
  rootPasswordHash?: SecretRef;
  /** The public key specialisation logs in with (path relative to the repo root or absolute). */
  sshPublicKeyFile?: string;
  /** Time zone of installed systems (default Etc/UTC). */
  timezone: string;
  /** How long one installation may take before it counts as timed out (default 60). */
  installTimeoutMinutes: number;
  /** Upper bound of the installer log a failed install may post (default 256). */
  failedLogMaxKiB: number;
  /**
   * Where the installed system's SSH host key (which specialisation pins) is confirmed: `guestinfo`
   * (default) reads what the installer set with vmware-rpctool from vCenter, a channel no network
   * neighbour can write; `callback` trusts the key posted with `built` (sites whose VMs cannot set
   * guestinfo, e.g. `isolation.tools.setinfo.disable`).
   */
  hostKeyFrom?: 'guestinfo' | 'callback';
  /** Serve HTTPS with this certificate chain and key (PEM files, relative to the repo root or absolute). */
  tls?: { certFile: string; keyFile: string };
}

/**
 * A layer-3 net as the site declares it. The IPAM holds the addresses; the declaration lets `validate` check references and explicit addresses offline, and the
 * IPAM provider refuses to run when its net disagrees with it.
 */
export interface NetSite {
  /** The net's title (in i-doit: the layer-3 net object's title). */
  title: string;
  cidr: string;
  gateway?: string;
  dnsServers: string[];
  /** Forward zone that systems in this net default to. */
  domain?: string;
  /** Reverse zone for the net's PTR records. */
  reverseZone?: string;
  /** Addresses the IPAM must never hand out (the net's DNS servers, appliances…). */
  reserved?: string[];
}

/** How specialisation reaches systems over SSH (the address comes from the ip step, the host key from install). */
export interface SpecialiseSite {
  user: string;
  port: number;
  privateKey: SecretRef;
  /**
   * known_hosts for systems shipshape did not install (adopted): entries by IP address
   * (`[ip]:port` when the port is not 22). Never used to learn a key: an unknown key is refused.
   */
  knownHosts?: string;
  /**
   * Labs and tests only: every absolute path a role touches is written below this prefix
   * (`{system}` is replaced by the system name), so several test "hosts" on one machine never
   * touch its real /etc.
   */
  rootPrefix?: string;
  connectTimeoutSeconds: number;
  commandTimeoutSeconds: number;
}

export interface ShardSection {
  nets: string[];
  zones: string[];
  dhcpServers: string[];
}

export interface SiteConfig {
  /** Directory of the repo (absolute). */
  root: string;
  /**
   * The file this site was loaded from, relative to root: shipshape.yaml, or sites/<name>.yaml in a
   * repo of several sites (which has no shipshape.yaml to inherit from). Messages that say where a key
   * is set read only this file, never another site's (src/manifest/site-keys.ts).
   */
  file?: string;
  /** The site marks itself as the local lab: only then may lab stand-ins replace a real step. */
  lab: boolean;
  /** Where `${file:…}` references may read (folders, relative to root or absolute) and which `${env:…}` names besides SHIPSHAPE_*. */
  secrets?: { folders: string[]; env: string[] };
  /** The VM platform (`vm` step). */
  vms?: BackendSection;
  /** The IPAM (`ip` step). */
  ipam?: BackendSection;
  /** The CMDB (`cmdb` step). */
  cmdb?: BackendSection;
  nets: Record<string, NetSite>;
  dns: { zones: ZoneSection[] };
  dhcp: { servers: DhcpServerSection[] };
  /** Parts of the site that separate workers reconcile at the same time, each owning its nets, zones and DHCP servers (shards.ts). */
  shards?: Record<string, ShardSection>;
  provisioning?: ProvisioningSite;
  specialise?: SpecialiseSite;
  /** Seals ownership markers (src/ownership): the site's id and the HMAC key (a secret reference). */
  ownership?: { siteId: string; key: SecretRef };
  /**
   * `stepConcurrency`: systems per step at once (concurrency.ts: the site's per-step values, its
   * `concurrency`, or each step's default); absent only in sites built by hand (tests): `concurrency` then.
   */
  defaults: { concurrency: number; maxDeletes: number; stepConcurrency?: Record<Step, number> };
}
