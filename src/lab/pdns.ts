/**
 * PowerDNS Authoritative (Debian's pdns-server) with its SQLite backend (pdns-backend-sqlite3) and the HTTP
 * API, as the lab and the tests run it: one config dir per instance, DNS and API on 127.0.0.1 ports, the
 * database created from Debian's schema. One source, so the lab runs what the tests test.
 * Settings: https://doc.powerdns.com/authoritative/settings.html ; the schema file's place is Debian's
 * (README.Debian of pdns-backend-sqlite3).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary, run } from './process';

export const PDNS_SERVER = '/usr/sbin/pdns_server';
const SCHEMAS = [
  '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql',
  '/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql',
];

export interface PdnsOptions {
  /** The instance's own directory: pdns.conf, the database, the control socket. */
  dir: string;
  dnsPort: number;
  apiPort: number;
  apiKey: string;
  /** Send NOTIFY for `Master` zones to these host:port (besides the zones' NS), e.g. a test's listener. */
  alsoNotify?: string[];
}

export function pdnsConf(o: PdnsOptions): string {
  return [
    'launch=gsqlite3',
    `gsqlite3-database=${join(o.dir, 'pdns.sqlite3')}`,
    // DNSSEC-signed zones work as in production (keys in the database, rectify on change)
    'gsqlite3-dnssec=yes',
    `local-address=127.0.0.1:${o.dnsPort}`,
    `socket-dir=${o.dir}`,
    'guardian=no',
    'daemon=no',
    'disable-syslog=yes',
    'log-timestamp=no',
    'loglevel=4',
    // no security-status query to the Internet
    'security-poll-suffix=',
    // the API and its webserver: loopback only, key from the caller
    'api=yes',
    `api-key=${o.apiKey}`,
    'webserver=yes',
    'webserver-address=127.0.0.1',
    `webserver-port=${o.apiPort}`,
    'webserver-allow-from=127.0.0.0/8',
    // primary: NOTIFY for Master zones; nothing is resolved outside the database
    'primary=yes',
    ...(o.alsoNotify?.length ? [`also-notify=${o.alsoNotify.join(',')}`] : []),
    'only-notify=127.0.0.0/8',
    // answers at once after an API change, so tests and `lab world` see what was written
    'cache-ttl=0',
    'negquery-cache-ttl=0',
    'query-cache-ttl=0',
    'zone-cache-refresh-interval=0',
    '',
  ].join('\n');
}

/** Writes pdns.conf (0600: it holds the API key) and an empty database from Debian's schema. */
export function preparePdns(o: PdnsOptions): { server: string; configDir: string } {
  const server = requireBinary(PDNS_SERVER, 'pdns-server');
  const sqlite = requireBinary('/usr/bin/sqlite3', 'sqlite3');
  const schema = SCHEMAS.find((f) => existsSync(f));
  if (!schema) requireBinary(SCHEMAS[0]!, 'pdns-backend-sqlite3');
  mkdirSync(o.dir, { recursive: true });
  const db = join(o.dir, 'pdns.sqlite3');
  if (!existsSync(db)) run(sqlite, [db, readFileSync(schema!, 'utf8')]);
  writeFileSync(join(o.dir, 'pdns.conf'), pdnsConf(o), { mode: 0o600 });
  return { server, configDir: o.dir };
}

/** The command line: only our config dir is read (never /etc/powerdns). */
export const pdnsArgs = (configDir: string) => [`--config-dir=${configDir}`];
