/**
 * What a backend is: a folder under src/providers/<kind>/<backend>/ (or one folder serving several
 * kinds, like i-doit's IPAM and CMDB) that exports one `Backend` per kind it serves. The site config
 * names it per step (`vms.backend`, `ipam.backend`, `cmdb.backend`, `dns.zones[].backend`,
 * `dhcp.servers[].backend`); the registry (backends.ts) finds it by (kind, id), the site schema
 * composes its `schema`, and its factory receives its validated config once, at connect — the
 * one way a provider gets configuration.
 */
import type { Logger, Provider } from '../engine/contract';
import type { LoadResult } from '../manifest';
import type { BackendSection, SecretRef, SiteConfig, SshEndpoint } from '../manifest/site';
import type { BackendDeps as ZoneDeps, ZoneBackend } from './dns/backend';
import type { Tsig, TsigAlgorithm } from './dns/dns-tools';
import type { DhcpBackend, DhcpBackendDeps } from './dhcp/backend';

/** The steps whose backend the site chooses. */
export const BACKEND_KINDS = ['vms', 'ipam', 'cmdb', 'dns', 'dhcp'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** Where a kind's sections live in shipshape.yaml (`spec.<path>`), for messages. */
export const SECTION_PATH: Record<BackendKind, string> = {
  vms: 'vms',
  ipam: 'ipam',
  cmdb: 'cmdb',
  dns: 'dns.zones[]',
  dhcp: 'dhcp.servers[]',
};

/** What a step-level factory (vms, ipam, cmdb) receives besides its config. */
export interface ConnectDeps {
  /** Site-wide facts (root, lab, nets): never another backend's config. */
  site: SiteConfig;
  repo: LoadResult;
  log: Logger;
  /** Where a crash must not lose what a backend keeps (create journals). */
  stateDir: string;
  /** Reads a secret reference at the moment it is needed; the value is never logged or stored. */
  secret: (ref: SecretRef) => Promise<string>;
  /**
   * One value per key for this run, shared between factories: the IPAM and CMDB steps of one
   * i-doit share one session this way, without knowing of each other.
   */
  shared<T>(key: string, make: () => T): T;
}

/** What each kind's factory builds. DNS and DHCP backends serve one zone / one server each. */
export interface Products {
  vms: Provider;
  ipam: Provider;
  cmdb: Provider;
  dns: ZoneBackend;
  dhcp: DhcpBackend;
}

/** What each kind's factory receives besides its config. */
export interface FactoryDeps {
  vms: ConnectDeps;
  ipam: ConnectDeps;
  cmdb: ConnectDeps;
  dns: ZoneDeps;
  dhcp: DhcpBackendDeps;
}

export interface Backend<K extends BackendKind = BackendKind, C = unknown> {
  readonly kind: K;
  /** What the site config writes as `backend:`. */
  readonly id: string;
  /**
   * JSON Schema (draft-07) of this backend's keys in its section — the one source of truth for them.
   * The site schema adds `backend` (and a zone's `name`, a DHCP server's `name` and `nets`) and
   * refuses any other key. `$ref`s may point into common.schema.json.
   */
  readonly schema: Record<string, unknown>;
  /** Only a site with `lab: true` may choose it (stand-ins for systems a lab cannot run). */
  readonly labOnly?: boolean;
  /** Keys only a `lab: true` site may set, with what each does (said when a real site sets it). */
  readonly labOnlyKeys?: Readonly<Record<string, string>>;
  /** Config keys whose map keys name OS catalog entries (checked against os/<name>/os.yaml). */
  readonly osKeys?: readonly string[];
  /** The validated section as written → the config the factory receives (defaults applied, secrets as references). */
  config(raw: BackendSection): C;
  /** Builds the provider (or the zone's / server's backend) from its config: called once per run. */
  connect(config: C, deps: FactoryDeps[K]): Products[K];
}

/** A backend of any kind and config, as the registry holds them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyBackend = Backend<BackendKind, any>;

/** Declares a backend (keeps its config type between `config` and `connect`). */
export function defineBackend<K extends BackendKind, C>(b: Backend<K, C>): Backend<K, C> {
  return b;
}

/** A secret reference as the site config writes it (`${env:NAME}` / `${file:PATH}`). */
export const secretRef = (ref: string): SecretRef => ({ ref });

/** An SSH endpoint as written (common.schema.json#/definitions/ssh). */
export interface RawSsh {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  hostKeyFingerprint?: string;
  knownHosts?: string;
}

export function sshEndpoint(raw: RawSsh): SshEndpoint {
  const out: SshEndpoint = { host: raw.host, port: raw.port, user: raw.user, privateKey: secretRef(raw.privateKey) };
  if (raw.hostKeyFingerprint !== undefined) out.hostKeyFingerprint = raw.hostKeyFingerprint;
  if (raw.knownHosts !== undefined) out.knownHosts = raw.knownHosts;
  return out;
}

/** A TSIG key as written (common.schema.json#/definitions/tsig). */
export interface RawTsig {
  name: string;
  algorithm: TsigAlgorithm;
  secret: string;
}

export function tsigKey(raw: RawTsig): Tsig {
  return { name: raw.name, algorithm: raw.algorithm, secret: secretRef(raw.secret) };
}
