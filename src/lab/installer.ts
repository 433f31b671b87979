/**
 * The installer stand-in of lab sites: a vcsim VM cannot run an installer, so this plays its part
 * against the provisioning server. The registry wires it only for `lab: true` sites.
 */
import { generateKeyPairSync } from 'node:crypto';
import { UserError } from '../engine/contract';
import type { LabInstaller } from '../providers/install/provider';

/** The lab's stand-in: asks for the boot script and answer file like a real installer, then reports built. */
export function httpLabInstaller(serverUrl: string, timeoutMs = 10_000): LabInstaller {
  return async ({ mac, token, publishHostKey }) => {
    const base = serverUrl.replace(/\/+$/, '');
    const macPath = mac.toLowerCase().replace(/:/g, '-');
    // A fresh key as the installed system would have; published like vmware-rpctool would, then posted with built.
    const hostKey = `${labHostKey()} lab-simulated`;
    await publishHostKey?.(hostKey);
    for (const [method, p] of [
      ['GET', `/boot/${macPath}`],
      ['GET', `/install/${macPath}`],
      ['POST', `/built/${token}`],
    ] as const) {
      const res = await fetch(`${base}${p}`, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(method === 'POST' ? { body: hostKey } : {}),
      });
      await res.arrayBuffer();
      if (!res.ok)
        throw new UserError(
          `lab installer stand-in: ${method} ${p.replace(token, `${token.slice(0, 4)}…`)} answered ${res.status}`,
        );
    }
  };
}

/** An OpenSSH `ssh-ed25519 AAAA…` line of a new key (RFC 8709 wire format: string type, string key). */
function labHostKey(): string {
  const raw = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')}`;
}
