/**
 * BIND's own client tools, run locally: `nsupdate` for RFC 2136 and `named-checkzone`; the zone transfer
 * (AXFR, read on every plan) runs in this process (axfr.ts). Updates stay with nsupdate: they change a
 * zone, are rare, and operators can re-run them by hand. TSIG secrets reach nsupdate only through stdin:
 * never on a command line (visible in ps) and never in a log.
 */
import { spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { UserError } from '../../engine/contract';
import type { SecretRef } from '../../manifest/site';
import type { SecretReader } from '../../transport/ssh';
import { transferZone } from './axfr';
import type { ServedRecord } from './records';

export interface LocalResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const PACKAGE: Record<string, string> = {
  dig: 'bind9-dnsutils',
  nsupdate: 'bind9-dnsutils',
  'named-checkzone': 'bind9-utils',
};

export function runLocal(
  cmd: string,
  args: string[],
  opts: { stdin?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<LocalResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === 'ENOENT'
          ? new UserError(`${cmd} is not installed here: install the Debian package ${PACKAGE[cmd] ?? cmd}`)
          : e,
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? '');
  });
}

export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512' | 'hmac-sha224' | 'hmac-sha1' | 'hmac-md5';

/** A TSIG key (RFC 8945) as the site config names it; the secret stays a reference until used. */
export type Tsig = {
  name: string;
  algorithm: TsigAlgorithm;
  secret: SecretRef;
};

/** A zone as a BIND-speaking server serves it: queried and transferred (AXFR) at `server`. */
export type ServedZone = {
  /** Zone apex, e.g. `dev.example.com`. */
  name: string;
  server: { host: string; port: number };
  /** Signs the AXFR (and, for rfc2136, the updates). */
  tsig?: Tsig;
};

/**
 * Every record the server serves for the zone, in one zone transfer, in this process (axfr.ts): a dig
 * per zone cost a process start on every plan. The same transfer by hand, with the key in a file:
 * `dig @HOST -p PORT ZONE AXFR -k KEYFILE +onesoa`.
 */
export async function axfr(zone: ServedZone, readSecret: SecretReader): Promise<ServedRecord[]> {
  const key = zone.tsig
    ? {
        name: zone.tsig.name,
        algorithm: zone.tsig.algorithm,
        secret: Buffer.from((await readSecret(zone.tsig.secret)).trim(), 'base64'),
      }
    : undefined;
  return transferZone(zone.name, zone.server, key);
}

/** The SOA serial the server answers with right now (a plain query, no TSIG needed). */
export async function servedSerial(zone: ServedZone, timeoutMs = 2000): Promise<number> {
  const r = new Resolver({ timeout: timeoutMs, tries: 1 });
  r.setServers([`${zone.server.host}:${zone.server.port}`]);
  return (await r.resolveSoa(zone.name)).serial;
}

/** Polls until the server serves `serial` (rndc reload is asynchronous and returns 0 even on a broken file). */
export async function waitForSerial(zone: ServedZone, serial: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const got = await servedSerial(zone).catch(() => -1);
    if (got === serial) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** named-checkzone on this machine; resolves to null when the zone loads, else the checker's message. */
export async function checkZoneLocally(zone: string, file: string): Promise<string | null> {
  const r = await runLocal('named-checkzone', ['-k', 'fail', zone, file], { timeoutMs: 120_000 });
  return r.code === 0 ? null : (r.stdout + r.stderr).trim();
}
