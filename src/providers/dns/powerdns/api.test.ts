/**
 * TLS of the API client. Debian's pdns_server 4.7 serves its API over plain HTTP (operators put a TLS proxy
 * in front), so a small https server with a throw-away certificate stands in for that proxy here.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { removeDir, tempDir } from '../../../../test/helpers/daemon';
import { selfSignedCert } from '../../../../test/helpers/self-signed';
import { PowerDnsApi } from './api';

let dir: string;
let server: Server;
let port: number;
const keys: string[] = [];

beforeAll(async () => {
  dir = tempDir('pdns-tls');
  const { certFile, keyFile } = selfSignedCert(dir);
  server = createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, (req, res) => {
    keys.push(String(req.headers['x-api-key']));
    res.setHeader('Content-Type', 'application/json');
    res.end(
      JSON.stringify({
        id: 'tls.test.',
        name: 'tls.test.',
        kind: 'Native',
        serial: 1,
        dnssec: false,
        api_rectify: false,
        soa_edit_api: 'DEFAULT',
        rrsets: [],
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  if (dir) removeDir(dir);
});

const api = (caFile?: string) =>
  new PowerDnsApi({
    url: `https://127.0.0.1:${port}`,
    serverId: 'localhost',
    apiKey: async () => 'k-secret-1',
    timeoutMs: 5000,
    ...(caFile ? { caFile } : {}),
  });

test('an https API with a certificate the system does not trust is refused, with what to do', async () => {
  const e = await api()
    .getZone('tls.test')
    .catch((x: Error) => x);
  expect((e as Error).message).toMatch(
    /cannot reach the PowerDNS API at https:\/\/127.0.0.1:\d+ \(server localhost\): .*certificate.*add its CA as caFile/,
  );
  expect(keys).toEqual([]); // the key never left before the certificate was checked
});

test('with its CA as caFile the same server is trusted and gets the key in X-API-Key', async () => {
  const zone = await api(join(dir, 'cert.pem')).getZone('tls.test');
  expect(zone.name).toBe('tls.test.');
  expect(keys).toEqual(['k-secret-1']);
});

test('a caFile that cannot be read is a clear error naming the setting', () => {
  expect(() => api(join(dir, 'missing.pem'))).toThrow(
    /PowerDNS caFile .*missing.pem cannot be read \(ENOENT\): fix the zone's caFile in shipshape.yaml/,
  );
});
