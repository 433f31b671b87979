/** The client's HTTPS exchange against a local server with a throw-away certificate: encoding, timeout, cancel. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { selfSignedCert } from '../../../test/helpers/self-signed';
import { TransientError, UserError } from '../../engine/contract';
import { VimClient } from './client';

const ANSWER =
  '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">' +
  '<soapenv:Body><CurrentTimeResponse xmlns="urn:vim25"><returnval>2026-12-01T17:00:00Z</returnval></CurrentTimeResponse>' +
  '</soapenv:Body></soapenv:Envelope>';

let dir: string;
let server: https.Server;
let url: string;
/** What the server does with the next requests. */
let mode: 'gzip' | 'silent' = 'gzip';
let requests = 0;
let acceptEncoding: string | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vsphere-http-'));
  const { certFile, keyFile } = selfSignedCert(dir);
  server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
    requests++;
    acceptEncoding = req.headers['accept-encoding'];
    req.resume();
    if (mode === 'silent') return; // never answers: the client's timeout must end the wait
    req.on('end', () => {
      const body = gzipSync(ANSWER);
      res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Encoding': 'gzip', 'Content-Length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/sdk`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const client = (o: { timeoutMs?: number; signal?: AbortSignal } = {}): VimClient =>
  new VimClient({
    url,
    username: 'u',
    password: 'p',
    tls: { caFile: join(dir, 'cert.pem') },
    retries: 1,
    ...o,
  });

test('a gzip-encoded answer (vCenter compresses when asked) is decoded; the bytes counted are those received', async () => {
  mode = 'gzip';
  const c = client();
  const r = await c.call('CurrentTime', '<_this type="ServiceInstance">ServiceInstance</_this>', { noSession: true });
  expect(acceptEncoding).toBe('gzip');
  expect(r.children.find((n) => n.name === 'returnval')?.text).toBe('2026-12-01T17:00:00Z');
  expect(c.stats.bytesReceived).toBe(gzipSync(ANSWER).length);
});

test('a server that does not answer within the timeout is a transient error saying so, retried for a read', async () => {
  mode = 'silent';
  requests = 0;
  const err = await client({ timeoutMs: 300 })
    .call('RetrievePropertiesEx', '<_this type="PropertyCollector">propertyCollector</_this>', { noSession: true })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TransientError);
  expect((err as Error).message).toBe(`vSphere RetrievePropertiesEx to ${url}: timed out after 300 ms`);
  expect(requests).toBe(2); // retries: 1
});

test('a run that is stopped cancels the call in flight', async () => {
  mode = 'silent';
  const stop = new AbortController();
  const pending = client({ signal: stop.signal })
    .call('CurrentTime', '<_this type="ServiceInstance">ServiceInstance</_this>', { noSession: true })
    .catch((e: unknown) => e);
  setTimeout(() => stop.abort(), 100);
  const err = await pending;
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toBe('vSphere CurrentTime: cancelled');
});
