/**
 * i-doit's transport on a real TLS server with a self-signed certificate (openssl): http is refused
 * for a non-lab site before anything is sent; a pinned thumbprint connects; a wrong pin or an
 * unknown certificate fails before the API key leaves the process.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SiteConfig } from '../../manifest/site';
import { selfSignedCert } from '../../../test/helpers/self-signed';
import { tempDir } from '../../../test/helpers/tmp';
import { createIdoitClient } from './site-client';

const API_KEY = 'idoit-api-key-0123456789';
let server: https.Server;
let url: string;
let thumbprint: string;
let caFile: string;
const received: string[] = [];

beforeAll(async () => {
  const dir = tempDir('shipshape-idoit-tls-');
  const made = selfSignedCert(dir);
  caFile = made.certFile;
  const cert = readFileSync(caFile);
  thumbprint = new X509Certificate(cert).fingerprint256;
  server = https.createServer({ cert, key: readFileSync(made.keyFile) }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(body);
      const calls = JSON.parse(body) as { id: number }[];
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(calls.map((c) => ({ jsonrpc: '2.0', id: c.id, result: { version: '34' } }))));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const site = (over: Record<string, unknown>, lab = false): SiteConfig =>
  ({
    root: '/',
    lab,
    ipam: { backend: 'idoit', url, apiKey: { ref: '${env:X}' }, tls: {}, ...over },
  }) as unknown as SiteConfig;
const call = (s: SiteConfig) => createIdoitClient(s, async () => API_KEY, { retries: 0 }).call('idoit.version');

it('refuses plain http on a non-lab site before anything is sent; a lab site may use it', () => {
  expect(() => createIdoitClient(site({ url: 'http://cmdb.example.com' }), async () => API_KEY)).toThrow(
    /must be https:\/\/.*never sends the i-doit API key in clear text/,
  );
  expect(() => createIdoitClient(site({ url: 'http://127.0.0.1:1' }, true), async () => API_KEY)).not.toThrow();
});

it('a pinned thumbprint connects to a self-signed server; so does its certificate as caFile', async () => {
  expect(await call(site({ tls: { thumbprint } }))).toEqual({ version: '34' });
  expect(await call(site({ tls: { caFile } }))).toEqual({ version: '34' });
});

it('a wrong pin or an untrusted certificate fails before the API key is written', async () => {
  const before = received.length;
  const wrong = createHash('sha256').update('other').digest('hex');
  await expect(call(site({ tls: { thumbprint: wrong } }))).rejects.toThrow(
    /does not match tls.thumbprint of the ipam \/ cmdb sections/,
  );
  // Not a network error to retry: what to set, and where.
  await expect(call(site({ tls: {} }))).rejects.toThrow(
    new RegExp(
      `^i-doit TLS verification of ${url}\\S* failed \\(DEPTH_ZERO_SELF_SIGNED_CERT\\): trust its CA with tls.caFile or pin its certificate with tls.thumbprint in the ipam / cmdb sections`,
    ),
  );
  expect(received.length).toBe(before);
});
