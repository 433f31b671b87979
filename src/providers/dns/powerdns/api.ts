/**
 * A small typed client for the PowerDNS Authoritative HTTP API (v1), only the calls shipshape needs:
 * read a zone with its RRsets, PATCH RRsets (REPLACE / DELETE, with comments), rectify, notify.
 * https://doc.powerdns.com/authoritative/http-api/zone.html
 *
 * The key goes in the X-API-Key header only; it is read from its secret reference for each request and
 * never written into a message. An https url is verified against the system CAs (plus `caFile`); there
 * is no switch to turn verification off. Every request counts one round trip.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { UserError } from '../../../engine/contract';
import { rootsAnd } from '../../../net/ca';
import { exchange, type HttpAnswer } from '../../../net/http';

export interface PdnsRecord {
  content: string;
  disabled: boolean;
}

export interface PdnsComment {
  content: string;
  account: string;
  modified_at?: number;
}

export interface PdnsRRSet {
  name: string;
  type: string;
  ttl: number;
  records: PdnsRecord[];
  comments: PdnsComment[];
}

export type ZoneKind = 'Native' | 'Master' | 'Slave' | 'Producer' | 'Consumer';

export interface PdnsZone {
  id: string;
  name: string;
  kind: ZoneKind;
  serial: number;
  dnssec: boolean;
  api_rectify: boolean;
  /** SOA-EDIT-API metadata: empty when PowerDNS leaves the serial alone on API changes. */
  soa_edit_api: string;
  rrsets: PdnsRRSet[];
}

export type RRSetChange =
  | { name: string; type: string; changetype: 'DELETE' }
  | { name: string; type: string; changetype: 'REPLACE'; ttl: number; records: PdnsRecord[]; comments?: PdnsComment[] };

export interface PowerDnsApiOptions {
  url: string;
  serverId: string;
  apiKey: () => Promise<string>;
  /** Absolute path of an extra CA bundle (PEM). */
  caFile?: string;
  timeoutMs: number;
}

/** The API answered with an error status (or could not be reached: status 0). */
export class PowerDnsApiError extends UserError {
  constructor(
    message: string,
    readonly status: number,
    readonly detail: string,
  ) {
    super(message);
  }
}

/** Zone ids are zone names with the final dot (https://doc.powerdns.com/authoritative/http-api/zone.html). */
export const zoneId = (zone: string) => encodeURIComponent(zone.replace(/\.?$/, '.'));

export class PowerDnsApi {
  /** Requests sent (tests and benches assert it). */
  roundTrips = 0;
  private readonly base: URL;
  private readonly agent: http.Agent | https.Agent;

  constructor(private readonly o: PowerDnsApiOptions) {
    this.base = new URL(o.url.replace(/\/+$/, '') + `/api/v1/servers/${encodeURIComponent(o.serverId)}/`);
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent(o.caFile ? { secureContext: rootsAnd(readCa(o.caFile)) } : {})
        : new http.Agent();
  }

  /** One zone with all its RRsets and comments: the whole observation of a zone in one request. */
  async getZone(zone: string): Promise<PdnsZone> {
    return (await this.call('GET', `zones/${zoneId(zone)}`, undefined, zone)) as PdnsZone;
  }

  /** One PATCH is one backend transaction: every change lands or none does. */
  async patch(zone: string, rrsets: RRSetChange[]): Promise<void> {
    await this.call('PATCH', `zones/${zoneId(zone)}`, { rrsets }, zone);
  }

  async rectify(zone: string): Promise<void> {
    await this.call('PUT', `zones/${zoneId(zone)}/rectify`, undefined, zone);
  }

  /** Queues NOTIFY to the zone's secondaries (Master zones, `primary=yes`); no body, as the API demands. */
  async notify(zone: string): Promise<void> {
    await this.call('PUT', `zones/${zoneId(zone)}/notify`, undefined, zone);
  }

  private where(): string {
    return `the PowerDNS API at ${this.base.origin} (server ${this.o.serverId})`;
  }

  private async call(method: string, path: string, body: unknown, zone: string): Promise<unknown> {
    const key = await this.o.apiKey();
    this.roundTrips++;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { 'X-API-Key': key, Accept: 'application/json' };
    if (text !== undefined) headers['Content-Type'] = 'application/json';
    let res: HttpAnswer;
    try {
      // The timeout is the socket's idle time (`no answer within N ms`).
      res = await exchange({
        method,
        url: new URL(path, this.base),
        agent: this.agent,
        headers,
        body: text,
        timeout: { kind: 'idle', ms: this.o.timeoutMs },
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const hint =
        err.code === 'ECONNREFUSED'
          ? ': is pdns_server running with api=yes, webserver=yes and this webserver-address/port?'
          : /certificate|self.signed|CERT/i.test(err.message)
            ? ': the TLS certificate is not trusted; add its CA as caFile'
            : '';
      throw new PowerDnsApiError(`cannot reach ${this.where()}: ${scrub(err.message, key)}${hint}`, 0, err.code ?? '');
    }
    if (res.status >= 200 && res.status < 300) return res.data ? JSON.parse(res.data) : undefined;
    const detail = scrub(errorText(res.data), key);
    if (res.status === 401) {
      throw new PowerDnsApiError(
        `${this.where()} refused the API key (401 Unauthorized): the zone's apiKey must match api-key in pdns.conf; nothing was changed`,
        401,
        detail,
      );
    }
    if (res.status === 404) {
      throw new PowerDnsApiError(
        `zone ${zone} does not exist on ${this.where()} (404): create it there first (pdnsutil create-zone ${zone}); nothing was changed`,
        404,
        detail,
      );
    }
    throw new PowerDnsApiError(
      `${this.where()}: ${method} zone ${zone} failed (${res.status}): ${detail}`,
      res.status,
      detail,
    );
  }
}

/** PowerDNS answers errors as `{"error": "…"}` (or plain text for 401). */
function errorText(body: string): string {
  try {
    const e = (JSON.parse(body) as { error?: unknown }).error;
    if (typeof e === 'string') return e;
  } catch {
    /* not JSON */
  }
  return body.trim().slice(0, 300);
}

function readCa(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(
      `PowerDNS caFile ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): fix the zone's caFile in shipshape.yaml`,
    );
  }
}

const scrub = (text: string, key: string) => (key ? text.split(key).join('<api key>') : text);
