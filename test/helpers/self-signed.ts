/** A throw-away self-signed certificate for 127.0.0.1 (openssl), for tests of TLS verification and pinning. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Writes `<name>.pem` (the certificate) and `<name>.key` into `dir`; returns their paths. */
export function selfSignedCert(dir: string, name = 'cert'): { certFile: string; keyFile: string } {
  const [certFile, keyFile] = [join(dir, `${name}.pem`), join(dir, `${name}.key`)];
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '1'],
      ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}
