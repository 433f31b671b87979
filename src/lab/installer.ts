/**
 * The installer stand-in of lab sites: a vcsim VM cannot run an installer, so this plays its part
 * against the provisioning server. The registry wires it only for `lab: true` sites.
 */
import { UserError } from '../engine/contract';
import type { LabInstaller } from '../providers/install/provider';

/** The lab's stand-in: asks for the boot script and answer file like a real installer, then reports built. */
export function httpLabInstaller(serverUrl: string, timeoutMs = 10_000): LabInstaller {
  return async ({ mac, token }) => {
    const base = serverUrl.replace(/\/+$/, '');
    for (const [method, p] of [['GET', `/boot/${mac.toLowerCase().replace(/:/g, '-')}`], ['GET', `/install/${token}`], ['POST', `/built/${token}`]] as const) {
      const res = await fetch(`${base}${p}`, { method, signal: AbortSignal.timeout(timeoutMs), ...(method === 'POST' ? { body: 'built (lab: simulated)' } : {}) });
      await res.arrayBuffer();
      if (!res.ok) throw new UserError(`lab installer stand-in: ${method} ${p.replace(token, `${token.slice(0, 4)}…`)} answered ${res.status}`);
    }
  };
}
