/**
 * What a `powerdns` zone says in shipshape.yaml (`dns.zones[]`, beside `name` and `backend`): where the
 * PowerDNS HTTP API is, which key opens it, and whether shipshape asks for NOTIFY after a change.
 * schema.json is the one source of truth for these keys; the defaults are applied here, once.
 */
import type { SecretRef } from '../../../manifest/site';

/** A type, not an interface: the site keeps zones as open sections, which an interface would not fit. */
export type PowerDnsZone = {
  /** Zone apex, e.g. `dev.example.com`. */
  name: string;
  backend: 'powerdns';
  /** The PowerDNS webserver, e.g. `https://pdns1.example.com:8081` (the API lives under `/api/v1`). */
  url: string;
  /** The API key (`api-key` in pdns.conf), as a secret reference. */
  apiKey: SecretRef;
  /** The `server_id` of the API path; PowerDNS Authoritative only knows `localhost`. */
  serverId: string;
  /** Absolute path of an extra CA bundle (PEM) for an https url; the system's CAs are always trusted. */
  caFile?: string;
  /** After a change, ask PowerDNS to send NOTIFY now (Master and Producer zones only). */
  notify: boolean;
  /** Give up on one API request after this long. */
  timeoutMs: number;
  /** Where the zone is served over DNS: the lab starts pdns_server there; shipshape itself only talks to the API. */
  server?: { host: string; port: number };
};

export const POWERDNS_DEFAULTS = { serverId: 'localhost', notify: true, timeoutMs: 30_000 } as const;

/** The section as written (validated against schema.json). */
export interface RawPowerDns {
  name: string;
  url: string;
  apiKey: string;
  serverId?: string;
  caFile?: string;
  notify?: boolean;
  timeoutMs?: number;
  server?: { host: string; port: number };
}

/** The validated section with its defaults applied; the key stays a reference until a request needs it. */
export function powerDnsZone(r: RawPowerDns): PowerDnsZone {
  return {
    name: r.name,
    backend: 'powerdns',
    url: r.url.replace(/\/+$/, ''),
    apiKey: { ref: r.apiKey },
    serverId: r.serverId ?? POWERDNS_DEFAULTS.serverId,
    notify: r.notify ?? POWERDNS_DEFAULTS.notify,
    timeoutMs: r.timeoutMs ?? POWERDNS_DEFAULTS.timeoutMs,
    ...(r.caFile ? { caFile: r.caFile } : {}),
    ...(r.server ? { server: { ...r.server } } : {}),
  };
}
