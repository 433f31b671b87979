/**
 * The HTTPS agent for i-doit: the system trust store plus an optional CA bundle and an optional
 * certificate pin. Verification stays on; nothing here is process-wide.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { TlsOptions } from '../../manifest/site';

export function httpsAgent(opts: TlsOptions | undefined, root: string): https.Agent {
  const agentOpts: https.AgentOptions = { keepAlive: true };
  if (opts?.caFile) {
    const file = opts.caFile.startsWith('/') ? opts.caFile : `${root}/${opts.caFile}`;
    agentOpts.ca = [...tls.rootCertificates, fs.readFileSync(file, 'utf8')];
  }
  if (opts?.thumbprint) {
    const want = opts.thumbprint.replace(/:/g, '').toUpperCase();
    agentOpts.checkServerIdentity = (host, cert) => {
      const got = cert.fingerprint256.replace(/:/g, '').toUpperCase();
      if (got !== want) return new Error(`i-doit TLS certificate of ${host} has SHA-256 ${cert.fingerprint256}, expected the pinned ${opts.thumbprint}`);
      return tls.checkServerIdentity(host, cert);
    };
  }
  return new https.Agent(agentOpts);
}
