/**
 * The installer stand-in of lab sites: a vcsim VM cannot run an installer, so this plays its part
 * against the provisioning server. The registry wires it only for `lab: true` sites.
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { UserError } from '../engine/contract';
import type { SiteConfig } from '../manifest/site';
import type { LabInstaller } from '../providers/install/provider';
import { startLabSystem } from './systems';

/** Brings the installed system up (its namespace and sshd) and returns its host key line. */
export type LabSystemStarter = (system: string, ip: string) => Promise<string>;

/**
 * The lab's stand-in: asks for the boot script and answer file like a real installer, then reports built.
 * With `startSystem` (lab sites: src/lab/systems.ts) the installed system then answers SSH on its address
 * with the key reported here; without it (unit tests of the install step) a fresh key nobody holds.
 */
export function httpLabInstaller(serverUrl: string, timeoutMs = 10_000, startSystem?: LabSystemStarter): LabInstaller {
  return async ({ system, mac, ip, token, publishHostKey }) => {
    const base = serverUrl.replace(/\/+$/, '');
    const macPath = mac.toLowerCase().replace(/:/g, '-');
    // The installed system's key; published like vmware-rpctool would, then posted with built.
    const hostKey = startSystem ? await startSystem(system, ip) : `${labHostKey()} lab-simulated`;
    await publishHostKey?.(hostKey);
    // A real installer asks from its own address, one connection per fetch (d-i's wget, dracut's curl): the
    // provisioning server caps open connections per address, and a hundred stand-ins sharing 127.0.0.1 (with
    // kept-alive sockets) would meet that cap, which no real site does. So each stand-in takes a loopback
    // address of its own, derived from the MAC, and keeps no socket alive.
    const from = labSourceAddress(mac);
    for (const [method, p] of [
      ['GET', `/boot/${macPath}`],
      ['GET', `/install/${macPath}`],
      ['POST', `/built/${token}`],
    ] as const) {
      const shown = p.replace(token, `${token.slice(0, 4)}…`);
      // Like an installer that tries a fetch again: a connection reset under a loaded machine is tried again, twice.
      for (let attempt = 1; ; attempt++) {
        let status: number;
        try {
          status = await request(`${base}${p}`, method, from, timeoutMs, method === 'POST' ? hostKey : undefined);
        } catch (e) {
          if (attempt >= 3) throw new UserError(`lab installer stand-in: ${method} ${shown} failed: ${describe(e)}`);
          continue;
        }
        // A repeated `built` whose first try did arrive finds its token used up (404): the install
        // step's wait reads the install record and says whether the system really is built.
        if ((status < 200 || status > 299) && !(method === 'POST' && attempt > 1 && status === 404))
          throw new UserError(`lab installer stand-in: ${method} ${shown} answered ${status}`);
        break;
      }
    }
  };
}

/** 127.77.x.y from the MAC's last two bytes: a source address of the installer's own on the loopback (127.0.0.0/8). */
export function labSourceAddress(mac: string): string {
  const b = mac.split(/[:-]/).map((h) => parseInt(h, 16));
  const x = b[4] ?? 0;
  const y = b[5] ?? 0;
  return `127.77.${x}.${y === 0 || y === 255 ? 1 : y}`;
}

/** One request on a fresh connection from `localAddress`; resolves with the status once the body is read. */
function request(url: string, method: string, localAddress: string, timeoutMs: number, body?: string): Promise<number> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, localAddress, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The error's message with its code and cause (ECONNRESET, "socket hang up", …). */
function describe(e: unknown): string {
  const err = e as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  return [err.message, err.code, err.cause?.code, err.cause?.message].filter(Boolean).join(': ');
}

/** An OpenSSH `ssh-ed25519 AAAA…` line of a new key (RFC 8709 wire format: string type, string key). */
function labHostKey(): string {
  const raw = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')}`;
}

/** The installer stand-in of a lab site: every system it reports built runs in its own namespace with an sshd. */
export function labInstaller(site: SiteConfig & { provisioning: { baseUrl: string } }): LabInstaller {
  return httpLabInstaller(site.provisioning.baseUrl, 10_000, (system, ip) => startLabSystem(site, system, ip));
}
