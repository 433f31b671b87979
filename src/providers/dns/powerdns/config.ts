/**
 * What a `powerdns` zone says in shipshape.yaml (under `dns.zones[].powerdns`): where the PowerDNS HTTP API
 * is, which key opens it, and whether shipshape asks for NOTIFY after a change. The JSON Schema below is the
 * one source of truth for these keys; the defaults are applied once, before the backend is built.
 */
import type { SecretRef } from '../../../manifest/site';

export interface PowerDnsConfig {
  /** The PowerDNS webserver, e.g. `https://pdns1.example.com:8081` (the API lives under `/api/v1`). */
  url: string;
  /** The API key (`api-key` in pdns.conf), as a secret reference. */
  apiKey: SecretRef;
  /** The `server_id` of the API path; PowerDNS Authoritative only knows `localhost`. */
  serverId: string;
  /** Extra CA bundle (PEM) to trust for an https url; the system's CAs are always trusted, verification never off. */
  caFile?: string;
  /** After a change, ask PowerDNS to send NOTIFY now (Master and Producer zones only). */
  notify: boolean;
  /** Give up on one API request after this long. */
  timeoutMs: number;
}

export const POWERDNS_DEFAULTS = { serverId: 'localhost', notify: true, timeoutMs: 30_000 } as const;

/** JSON Schema of `dns.zones[].powerdns` (draft 2020-12, as the site schema). */
export const powerDnsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url', 'apiKey'],
  properties: {
    url: { type: 'string', pattern: '^https?://[^/]+/?$', description: 'The PowerDNS webserver: scheme, host and port, e.g. https://pdns1.example.com:8081' },
    apiKey: { type: 'string', pattern: '^\\$\\{(env|file):[^}]+\\}$', description: 'The API key as ${env:NAME} or ${file:PATH}, never the key itself' },
    serverId: { type: 'string', minLength: 1, default: POWERDNS_DEFAULTS.serverId },
    caFile: { type: 'string', minLength: 1, description: 'Extra CA bundle (PEM) for an https url, relative to the repo root or absolute' },
    notify: { type: 'boolean', default: POWERDNS_DEFAULTS.notify, description: 'Ask PowerDNS to send NOTIFY after a change (Master and Producer zones)' },
    timeoutMs: { type: 'integer', minimum: 1000, default: POWERDNS_DEFAULTS.timeoutMs },
  },
} as const;
