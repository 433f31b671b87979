/**
 * The HTTPS agent for i-doit, with vSphere's options and guarantees (src/providers/vsphere/tls.ts):
 * the system trust store, plus `caFile` (a private CA) in addition; or `thumbprint`, a pin of the
 * server certificate's SHA-256 that replaces chain and host-name checks (self-signed i-doit
 * installations). With a pin, the socket is handed to HTTP only after the pin matched, so no byte
 * of a request (the API key) is ever written to an unverified peer. Nothing here is process-wide.
 * Plain http is refused for non-lab sites before any agent is built (site-client.ts, siteConfig.ts).
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import { UserError } from '../../engine/contract';
import { rootsAnd } from '../../net/ca';
import type { TlsOptions } from '../../manifest/site';
import { PinnedAgent } from '../../net/pinned-agent';

export class IdoitTlsPinError extends UserError {}

export function httpsAgent(opts: TlsOptions | undefined, root: string): https.Agent {
  const common: https.AgentOptions = { keepAlive: true };
  if (opts?.thumbprint) {
    const pin = opts.thumbprint.replace(/[:\s]/g, '').toUpperCase();
    if (!/^[0-9A-F]{64}$/.test(pin))
      throw new UserError(
        `ipam / cmdb tls.thumbprint must be a SHA-256 fingerprint (64 hex digits), got "${opts.thumbprint}"`,
      );
    return new PinnedAgent(
      pin,
      common,
      (seen) =>
        new IdoitTlsPinError(
          `i-doit server certificate does not match tls.thumbprint of the ipam / cmdb sections (server presented SHA-256 ${seen ?? 'no certificate'}); refusing to send the API key`,
        ),
    );
  }
  if (opts?.caFile) {
    const file = opts.caFile.startsWith('/') ? opts.caFile : `${root}/${opts.caFile}`;
    let pem: string;
    try {
      pem = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new UserError(
        `ipam / cmdb tls.caFile ${file} cannot be read (${(e as NodeJS.ErrnoException).code}); fix the path in shipshape.yaml`,
      );
    }
    return new https.Agent({ ...common, secureContext: rootsAnd(pem) });
  }
  return new https.Agent(common);
}
