/**
 * The https.Agent for our vSphere connection only (never a process-wide TLS switch).
 * Default: the system roots (plus NODE_EXTRA_CA_CERTS). `caFile`: that CA in addition.
 * `thumbprint`: pin the server certificate (SHA-256, or SHA-1 as the vSphere UI shows it); the
 * socket is handed to HTTP only after the pin matched, so no byte of a request (the password in
 * Login) is ever written to an unverified peer.
 */
import path from 'node:path';
import fs from 'node:fs';
import https from 'node:https';
import { UserError } from '../../engine/contract';
import { rootsAnd } from '../../net/ca';
import { PinnedAgent } from '../../net/pinned-agent';

export interface VsphereTls {
  caFile?: string;
  thumbprint?: string;
}

export class TlsPinError extends UserError {}

export function normaliseThumbprint(t: string): string {
  const hex = t.replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{40}$|^[0-9A-F]{64}$/.test(hex)) {
    throw new UserError(
      `vms.tls.thumbprint must be a SHA-256 (64 hex digits) or SHA-1 (40 hex digits) fingerprint, got "${t}"`,
    );
  }
  return hex;
}

export function vsphereAgent(opts: VsphereTls, base: string): https.Agent {
  const common: https.AgentOptions = { keepAlive: true, maxSockets: 8 };
  if (opts.thumbprint)
    return new PinnedAgent(
      normaliseThumbprint(opts.thumbprint),
      common,
      (seen) =>
        new TlsPinError(
          `vSphere server certificate does not match vms.tls.thumbprint (server presented ${seen ?? 'no certificate'}); refusing to connect`,
        ),
    );
  if (opts.caFile) {
    let pem: string;
    try {
      // Relative to the site's folder, whoever builds the client (provider, lab world, tests).
      pem = fs.readFileSync(path.resolve(base, opts.caFile), 'utf8');
    } catch (e) {
      throw new UserError(
        `vms.tls.caFile ${opts.caFile} cannot be read (${(e as NodeJS.ErrnoException).code}); fix the path relative to ${base}`,
      );
    }
    // One context for every connection of this agent: given `ca`, each connection would parse the
    // system roots again (~140 certificates, the larger part of a TLS connect's CPU).
    return new https.Agent({ ...common, secureContext: rootsAnd(pem) });
  }
  return new https.Agent(common);
}
