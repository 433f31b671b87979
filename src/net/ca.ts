/**
 * TLS trust for a backend whose operator named a CA file (`tls.caFile`): Node's root certificates
 * and that CA, in one context the backend's agent reuses for every connection.
 */
import * as tls from 'node:tls';

/**
 * A TLS context trusting Node's root certificates and `pem`. `createSecureContext({ ca: [...roots, pem] })`
 * parses the ~140 roots from their PEM text once more (75–130 ms of CPU here, at every process start);
 * a default context already holds them parsed, and adding one CA to it copies that store (Node's
 * SecureContext::AddCACert) instead. Where the context does not offer addCACert, the documented way.
 */
export function rootsAnd(pem: string): tls.SecureContext {
  const ctx = tls.createSecureContext();
  const native = (ctx as unknown as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert !== 'function') return tls.createSecureContext({ ca: [...tls.rootCertificates, pem] });
  native.addCACert(pem);
  return ctx;
}
