/**
 * The installer stand-in of lab sites: a vcsim VM cannot run an installer, so this plays its part
 * against the provisioning server. The registry wires it only for `lab: true` sites.
 */
import { generateKeyPairSync } from 'node:crypto';
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
    for (const [method, p] of [
      ['GET', `/boot/${macPath}`],
      ['GET', `/install/${macPath}`],
      ['POST', `/built/${token}`],
    ] as const) {
      const shown = p.replace(token, `${token.slice(0, 4)}…`);
      // Like an installer that tries a fetch again: a connection closed under us (a kept-alive socket the
      // server had just timed out, which a loaded machine makes likely) is tried again, twice.
      for (let attempt = 1; ; attempt++) {
        let res: Response;
        try {
          res = await fetch(`${base}${p}`, {
            method,
            signal: AbortSignal.timeout(timeoutMs),
            ...(method === 'POST' ? { body: hostKey } : {}),
          });
        } catch (e) {
          // By name: fetch's TypeError may come from another realm than this code's (jest's vm contexts).
          if ((e as Error).name !== 'TypeError' || attempt >= 3)
            throw new UserError(`lab installer stand-in: ${method} ${shown} failed: ${describe(e)}`);
          continue;
        }
        await res.arrayBuffer();
        // A repeated `built` whose first try did arrive finds its token used up (404): the install
        // step's wait reads the install record and says whether the system really is built.
        if (!res.ok && !(method === 'POST' && attempt > 1 && res.status === 404))
          throw new UserError(`lab installer stand-in: ${method} ${shown} answered ${res.status}`);
        break;
      }
    }
  };
}

/** fetch's TypeError says only "fetch failed"; the reason is its cause (ECONNRESET, "other side closed", …). */
function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return [(e as Error).message, cause?.code, cause?.message].filter(Boolean).join(': ');
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
