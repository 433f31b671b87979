/**
 * rootsAnd on real TLS servers with self-signed certificates (openssl): the CA it is given is trusted,
 * a certificate that neither it nor the roots vouch for is still refused, and the context is not
 * the process's default one (a second CA does not leak into the first context).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { selfSignedCert } from '../../test/helpers/self-signed';
import { rootsAnd } from './ca';

const dir = mkdtempSync(join(tmpdir(), 'shipshape-ca-'));
const servers: tls.Server[] = [];

/** A server with a fresh self-signed certificate for 127.0.0.1; its PEM and port. */
async function selfSigned(name: string): Promise<{ pem: string; port: number }> {
  const { certFile: cert, keyFile: key } = selfSignedCert(dir, name);
  const server = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (s) => s.end('ok'));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { pem: readFileSync(cert, 'utf8'), port: (server.address() as AddressInfo).port };
}

/** Connects with the context and full verification; resolves to 'ok' or the verification error's code. */
function connect(port: number, secureContext: tls.SecureContext): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, secureContext, rejectUnauthorized: true });
    s.once('secureConnect', () => {
      s.destroy();
      resolve('ok');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

test("the CA file's certificate is trusted; another self-signed one is refused, by this context and the default", async () => {
  const a = await selfSigned('a');
  const b = await selfSigned('b');
  const ctxA = rootsAnd(a.pem);
  const ctxB = rootsAnd(b.pem);
  expect(await connect(a.port, ctxA)).toBe('ok');
  expect(await connect(b.port, ctxA)).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  expect(await connect(b.port, ctxB)).toBe('ok');
  // Building B's context left A's and the default one as they were.
  expect(await connect(b.port, ctxA)).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  expect(await connect(a.port, tls.createSecureContext())).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
});
