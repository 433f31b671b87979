/**
 * A throw-away PowerDNS Authoritative (pdns_server, SQLite backend, HTTP API) on free 127.0.0.1 ports, with
 * its own temp dir and API key; the same config the lab runs (src/lab/pdns.ts). Zones are created through
 * the API as an operator would; `api` talks to it directly (the operator's hand edits in tests).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { pdnsArgs, preparePdns } from '../../src/lab/pdns';
import { freePort, run, startDaemon, tempDir, type Daemon } from './daemon';

export interface TestZoneSpec {
  name: string;
  kind?: 'Native' | 'Master';
  /** RRsets the operator keeps in the zone (not shipshape's). */
  rrsets?: { name: string; type: string; content: string[] }[];
  /** SOA-EDIT-API as PowerDNS sets it on zones made through the API (`DEFAULT`); '' leaves the serial alone. */
  soaEditApi?: string;
  /** DNSSEC-signed, and whether PATCH rectifies by itself (API-RECTIFY). */
  dnssec?: { apiRectify: boolean };
}

export interface TestPdns extends Daemon {
  dir: string;
  dnsPort: number;
  url: string;
  apiKey: string;
  /** A file holding the API key (for `${file:…}` refs). */
  keyFile: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  createZone(z: TestZoneSpec): Promise<void>;
  resolver(): Resolver;
  /** DNSSEC ordername of a record's rows in the database (set by rectify; null before). */
  ordername(name: string): string[];
}

export async function startPdns(o: { alsoNotify?: string[] } = {}): Promise<TestPdns> {
  const dir = tempDir('pdns');
  const dnsPort = await freePort();
  const apiPort = await freePort();
  const apiKey = randomBytes(18).toString('base64url');
  const { server, configDir } = preparePdns({
    dir,
    dnsPort,
    apiPort,
    apiKey,
    ...(o.alsoNotify ? { alsoNotify: o.alsoNotify } : {}),
  });
  const keyFile = join(dir, 'api.key');
  writeFileSync(keyFile, apiKey + '\n', { mode: 0o600 });
  const url = `http://127.0.0.1:${apiPort}`;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/api/v1/servers/localhost/${path}`, {
      method,
      headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json' },
      signal: AbortSignal.timeout(10_000),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const d = await startDaemon(
    'pdns_server',
    server,
    pdnsArgs(configDir),
    join(dir, 'pdns.log'),
    async () => (await api('GET', 'zones')).status === 200,
  );
  const resolver = () => {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([`127.0.0.1:${dnsPort}`]);
    return r;
  };
  const createZone = async (z: TestZoneSpec) => {
    const rrsets = (z.rrsets ?? []).map((r) => ({
      name: `${r.name}.`,
      type: r.type,
      ttl: 300,
      records: r.content.map((content) => ({ content, disabled: false })),
    }));
    const res = await api('POST', 'zones', {
      name: `${z.name}.`,
      kind: z.kind ?? 'Native',
      nameservers: ['ns.invalid.'],
      rrsets,
      ...(z.soaEditApi !== undefined ? { soa_edit_api: z.soaEditApi } : {}),
      ...(z.dnssec ? { dnssec: true, api_rectify: z.dnssec.apiRectify } : {}),
    });
    if (res.status !== 201) throw new Error(`creating zone ${z.name}: ${res.status} ${JSON.stringify(res.json)}`);
  };
  const ordername = (name: string) =>
    run('/usr/bin/sqlite3', [
      join(dir, 'pdns.sqlite3'),
      `select ifnull(ordername, 'NULL') from records where name = '${name.replace(/'/g, '')}'`,
    ])
      .trim()
      .split('\n')
      .filter(Boolean);
  return { ...d, dir, dnsPort, url, apiKey, keyFile, api, createZone, resolver, ordername };
}
