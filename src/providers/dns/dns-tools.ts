/**
 * BIND's own client tools, run locally: `dig` for AXFR, `nsupdate` for RFC 2136, `named-checkzone`.
 * We drive ISC's tools rather than a home-made TSIG implementation: they are what operators already trust
 * and can re-run by hand. TSIG secrets reach them only through stdin or a 0600 file in a private temp dir
 * that is removed at once: never on a command line (visible in ps) and never in a log.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TransientError, UserError } from '../../engine/contract';
import type { SecretRef } from '../../manifest/site';
import type { SecretReader } from '../../transport/ssh';
import { parseAxfr } from './zone-text';
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

/** Runs fn with the path of a key file that `dig -k` / `nsupdate -k` read; the file is gone afterwards. */
export async function withKeyFile<T>(
  tsig: Tsig,
  readSecret: SecretReader,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const secret = (await readSecret(tsig.secret)).trim();
  const dir = await mkdtemp(join(tmpdir(), 'shipshape-tsig-'));
  const path = join(dir, 'key');
  try {
    await writeFile(path, `key "${tsig.name}" {\n\talgorithm ${tsig.algorithm};\n\tsecret "${secret}";\n};\n`, {
      mode: 0o600,
    });
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every record the server serves for the zone, in one zone transfer. */
export async function axfr(zone: ServedZone, readSecret: SecretReader): Promise<ServedRecord[]> {
  const what = `${zone.name} from ${zone.server.host}:${zone.server.port}`;
  const run = async (keyArgs: string[]) => {
    const r = await runLocal(
      'dig',
      [
        `@${zone.server.host}`,
        '-p',
        String(zone.server.port),
        zone.name,
        'AXFR',
        '+onesoa',
        '+nocmd',
        '+nostats',
        '+nocomments',
        '+time=5',
        '+tries=1',
        ...keyArgs,
      ],
      { timeoutMs: 60_000 },
    );
    if (r.code === 9 || /connection refused|timed out|no servers could be reached/i.test(r.stdout)) {
      // dig's own lines (`;; …`) as one line: the CLI shows one message per error.
      const said = (r.stdout.trim() || r.stderr.trim()).replace(/^;;\s*/gm, '').replace(/\s*\n\s*/g, '; ');
      throw new TransientError(`AXFR of ${what}: ${said}`);
    }
    if (r.code !== 0) throw new UserError(`AXFR of ${what}: dig exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    return parseAxfr(r.stdout, what);
  };
  return zone.tsig ? withKeyFile(zone.tsig, readSecret, (k) => run(['-k', k])) : run([]);
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
