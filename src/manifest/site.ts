/**
 * The site config `shipshape.yaml` at the repo root, after validation against schemas/site.schema.json
 * and after secret references (`${env:NAME}`, `${file:PATH}`) were checked (not yet read: secrets are
 * read by `resolveSecret` at the moment a provider connects, and never stored in plans or logs).
 */

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

export interface VsphereSite {
  url: string;
  username: SecretRef;
  password: SecretRef;
  tls: TlsOptions;
  datacenter: string;
  cluster: string;
  /** VM folder path below the datacenter's vm folder, e.g. `shipshape` or `prod/web`. */
  folder: string;
  /** Resource pool path below the cluster; the cluster's root pool when absent. */
  resourcePool?: string;
  datastore: string;
  /** Default port group for the first NIC. */
  portgroup: string;
  /** vSphere template (VM name) per OS catalog entry. */
  templates: Record<string, string>;
  /** Seconds to wait for a task. */
  taskTimeoutSeconds: number;
  /** Lab sites: the simulator `lab up` starts (default vcsim). */
  simulator?: 'vcsim' | 'vcenter-like';
}

export interface IdoitSite {
  url: string;
  apiKey: SecretRef;
  username?: SecretRef;
  password?: SecretRef;
  tls: TlsOptions;
  /** Addresses the IPAM must never hand out, per net title. */
  reserved: Record<string, string[]>;
}

export type DnsBackend = 'bind-ssh' | 'rfc2136';

export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512' | 'hmac-sha224' | 'hmac-sha1' | 'hmac-md5';

export interface DnsZone {
  /** Zone apex, e.g. `dev.example.com` or `2.0.192.in-addr.arpa`. */
  name: string;
  backend: DnsBackend;
  /** bind-ssh: the server holding the zone, and where our included fragment lives. */
  ssh?: SshEndpoint;
  /** bind-ssh: absolute path of the fragment shipshape owns on the server (the operator's zone file $INCLUDEs it). */
  fragmentPath?: string;
  /** bind-ssh: the operator's main zone file on the server (its SOA serial is bumped on every change). */
  zoneFile?: string;
  /**
   * bind-ssh: command run on the server to reload the zone after a deploy; `{zone}` is replaced by the
   * zone name. Default `/usr/sbin/rndc reload {zone}`.
   */
  reloadCommand?: string;
  /** Where to send queries/updates: host and port of the DNS server. */
  server: { host: string; port: number };
  /** rfc2136 (and AXFR): TSIG key. */
  tsig?: { name: string; algorithm: TsigAlgorithm; secret: SecretRef };
}

export type DhcpKind = 'isc' | 'kea';

export interface DhcpServer {
  name: string;
  kind: DhcpKind;
  ssh: SshEndpoint;
  /** isc: absolute path of the include file shipshape owns on the server. */
  includePath?: string;
  /** isc: the main dhcpd.conf on the server (for `dhcpd -t -cf`). kea: the config file Kea was started with (`kea-dhcp4 -t`, `config-write`). */
  configPath?: string;
  /** kea: path of the control socket on the server. */
  controlSocket?: string;
  /** The nets (i-doit layer-3 net titles) this server serves. */
  nets: string[];
  /** Command that restarts the server after a successful check (isc). */
  restartCommand?: string;
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
}

/**
 * A layer-3 net as the site declares it. i-doit stays the IPAM (it holds the addresses);
 * the declaration lets `validate` check references and explicit addresses offline, and the
 * IPAM provider refuses to run when i-doit's net disagrees with it.
 */
export interface NetSite {
  /** The i-doit layer-3 net object's title. */
  title: string;
  cidr: string;
  gateway?: string;
  dnsServers: string[];
  /** Forward zone that systems in this net default to. */
  domain?: string;
  /** Reverse zone for the net's PTR records. */
  reverseZone?: string;
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

export interface SiteConfig {
  /** Directory of the repo (absolute). */
  root: string;
  /** The site marks itself as the local lab: only then may lab stand-ins replace a real step. */
  lab: boolean;
  vsphere?: VsphereSite;
  idoit?: IdoitSite;
  nets: Record<string, NetSite>;
  dns: { zones: DnsZone[] };
  dhcp: { servers: DhcpServer[] };
  provisioning?: ProvisioningSite;
  specialise?: SpecialiseSite;
  defaults: { concurrency: number; maxDeletes: number };
}
