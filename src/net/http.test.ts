/**
 * The shared exchange against local servers on 127.0.0.1: what a caller sees when a server stalls (idle
 * and total timeouts), streams slowly, compresses, cuts an answer short, presents a self-signed
 * certificate, or when the caller cancels. Every wait is bounded by the request's own timeout.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { selfSignedCert } from '../../test/helpers/self-signed';
import { rootsAnd } from './ca';
import { exchange, type HttpRequest } from './http';
import { PinnedAgent } from './pinned-agent';

const TEXT = 'ünïcode answer '.repeat(200);
const dir = mkdtempSync(join(tmpdir(), 'shipshape-http-'));
const agent = new http.Agent({ keepAlive: true });
let base: string;
let plain: http.Server;
let tlsServer: https.Server;
let tlsUrl: string;
let certPem: string;
/** Requests each server saw, and the ones whose connection the client closed before an answer. */
const seen: string[] = [];
let tlsRequests = 0;
let abandoned = 0;

/** Routes of the plain server: each is one way a real server behaves. */
function route(req: http.IncomingMessage, res: http.ServerResponse): void {
  seen.push(`${req.method} ${req.url} ${req.headers['accept-encoding'] ?? '-'}`);
  switch (req.url) {
    case '/stall': // reads the request, never answers
      res.on('close', () => abandoned++);
      return;
    case '/trickle': {
      // 15 chunks 100 ms apart: an answer that takes 1.5 s but never pauses long
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      let n = 0;
      const t = setInterval(() => (++n < 15 ? res.write(`${n};`) : (clearInterval(t), res.end('end'))), 100);
      res.on('close', () => clearInterval(t));
      return;
    }
    case '/gzip': {
      const asked = req.headers['accept-encoding'] === 'gzip';
      res.writeHead(200, asked ? { 'Content-Encoding': 'gzip' } : {});
      return void res.end(asked ? gzipSync(TEXT) : TEXT);
    }
    case '/deflate':
      res.writeHead(200, { 'Content-Encoding': 'deflate' });
      return void res.end(deflateSync(TEXT));
    case '/deflate-raw':
      res.writeHead(200, { 'Content-Encoding': 'deflate' });
      return void res.end(deflateRawSync(TEXT));
    case '/bad-gzip':
      res.writeHead(200, { 'Content-Encoding': 'gzip' });
      return void res.end('this is not gzip');
    case '/cut': // promises 1000 bytes, sends 10, goes away
      res.writeHead(200, { 'Content-Length': 1000 });
      res.write('0123456789');
      return void setTimeout(() => res.socket?.destroy(), 50);
    case '/moved':
      res.writeHead(302, { Location: '/gzip' });
      return void res.end('moved');
    default:
      req.on('data', () => {});
      req.on('end', () => res.writeHead(500).end(`no route ${req.url}`));
  }
}

const listen = (s: http.Server): Promise<number> =>
  new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

beforeAll(async () => {
  plain = http.createServer(route);
  base = `http://127.0.0.1:${await listen(plain)}`;
  const { certFile, keyFile } = selfSignedCert(dir);
  certPem = readFileSync(certFile, 'utf8');
  tlsServer = https.createServer({ cert: certPem, key: readFileSync(keyFile) }, (_req, res) => {
    tlsRequests++;
    res.end('secret-free answer');
  });
  tlsUrl = `https://127.0.0.1:${await listen(tlsServer)}/`;
});
afterAll(async () => {
  agent.destroy();
  for (const s of [plain, tlsServer]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, o: Partial<HttpRequest> = {}) =>
  exchange({ method: 'GET', url: base + path, agent, timeout: { kind: 'idle', ms: 5000 }, ...o });

/** The error a request ends with, and how long it took. */
async function failure(p: Promise<unknown>): Promise<{ message: string; code: string | undefined; ms: number }> {
  const t0 = performance.now();
  const e = (await p.then(
    () => new Error('it succeeded'),
    (x: unknown) => x,
  )) as NodeJS.ErrnoException;
  return { message: e.message, code: e.code, ms: performance.now() - t0 };
}

describe('timeouts', () => {
  test('idle: an answer that keeps streaming is not cut off, however long it takes', async () => {
    const a = await get('/trickle', { timeout: { kind: 'idle', ms: 1000 } });
    expect(a.status).toBe(200);
    expect(a.data).toBe('1;2;3;4;5;6;7;8;9;10;11;12;13;14;end');
  });

  // The streaming answer above takes 1.5 s: a total timeout cuts it off, an idle one did not.
  test.each([
    ['idle', '/stall', 'no answer within 300 ms'],
    ['total', '/stall', 'timed out after 300 ms'],
    ['total', '/trickle', 'timed out after 300 ms'],
  ] as const)('%s, 300 ms, %s: fails with "%s" (ECONNABORTED) after about 300 ms', async (kind, path, message) => {
    const f = await failure(get(path, { timeout: { kind, ms: 300 } }));
    expect(f).toMatchObject({ message, code: 'ECONNABORTED' });
    expect(f.ms).toBeGreaterThanOrEqual(280);
    expect(f.ms).toBeLessThan(3000);
  });
});

describe('encodings and odd answers', () => {
  test('gzip: asked for with gzip: true, decoded; wireBytes counts what came over the connection', async () => {
    const a = await get('/gzip', { gzip: true });
    expect(a.data).toBe(TEXT);
    expect(a.headers['content-encoding']).toBe('gzip');
    expect(a.wireBytes).toBe(gzipSync(TEXT).length);
    expect(a.wireBytes).toBeLessThan(Buffer.byteLength(TEXT) / 10);
    // Not asked for: not sent (this server honours the header), and the text comes back as it is.
    const b = await get('/gzip');
    expect(b.data).toBe(TEXT);
    expect(b.wireBytes).toBe(Buffer.byteLength(TEXT));
    expect(seen.filter((s) => s.startsWith('GET /gzip'))).toEqual(['GET /gzip gzip', 'GET /gzip -']);
  });

  test('deflate, zlib-wrapped or raw, is decoded even when not asked for', async () => {
    expect((await get('/deflate')).data).toBe(TEXT);
    expect((await get('/deflate-raw')).data).toBe(TEXT);
  });

  test('a body that claims gzip but is not fails with ERR_BAD_RESPONSE', async () => {
    const f = await failure(get('/bad-gzip', { gzip: true }));
    expect(f.code).toBe('ERR_BAD_RESPONSE');
  });

  test('an answer cut short fails with ECONNRESET "aborted", not with half a body', async () => {
    const f = await failure(get('/cut'));
    expect(f).toMatchObject({ message: 'aborted', code: 'ECONNRESET' });
  });

  test('every status comes back to the caller, redirects are not followed', async () => {
    const a = await get('/moved');
    expect([a.status, a.headers.location, a.data]).toEqual([302, '/gzip', 'moved']);
    const b = await exchange({
      method: 'POST',
      url: new URL('/nowhere', base),
      agent,
      body: '{"a":1}',
      timeout: { kind: 'total', ms: 5000 },
    });
    expect([b.status, b.data]).toEqual([500, 'no route /nowhere']);
  });
});

describe('TLS', () => {
  const tlsGet = (a: https.Agent) =>
    exchange({ method: 'GET', url: tlsUrl, agent: a, timeout: { kind: 'total', ms: 5000 } });

  test('a self-signed certificate is refused by default, before any request is written', async () => {
    const a = new https.Agent();
    const f = await failure(tlsGet(a));
    expect(f).toMatchObject({ message: 'self-signed certificate', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(tlsRequests).toBe(0);
    a.destroy();
  });

  test('with its certificate as CA the same server is trusted', async () => {
    const a = new https.Agent({ secureContext: rootsAnd(certPem) });
    expect((await tlsGet(a)).data).toBe('secret-free answer');
    a.destroy();
  });

  test('an agent that turns verification off is refused; a certificate pin replaces CA verification', async () => {
    const before = tlsRequests;
    const off = new https.Agent({ rejectUnauthorized: false });
    expect((await failure(tlsGet(off))).message).toBe('refusing an agent that does not verify TLS certificates');
    expect(tlsRequests).toBe(before);
    const pin = new X509Certificate(certPem).fingerprint256.replace(/:/g, '');
    const refuse = (seen: string | undefined) => new Error(`pin mismatch, saw ${seen}`);
    const pinned = new PinnedAgent(pin, {}, refuse);
    expect((await tlsGet(pinned)).data).toBe('secret-free answer');
    const wrong = new PinnedAgent('00'.repeat(32), {}, refuse);
    expect((await failure(tlsGet(wrong))).message).toBe(`pin mismatch, saw ${pin}`);
    expect(tlsRequests).toBe(before + 1);
    for (const a of [off, pinned, wrong]) a.destroy();
  });
});

describe('cancel', () => {
  test('aborting the signal ends a waiting request at once with "canceled" (ERR_CANCELED) and closes it', async () => {
    const stop = new AbortController();
    const before = abandoned;
    setTimeout(() => stop.abort(), 100);
    const f = await failure(get('/stall', { signal: stop.signal, timeout: { kind: 'idle', ms: 5000 } }));
    expect(f).toMatchObject({ message: 'canceled', code: 'ERR_CANCELED' });
    expect(f.ms).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 50));
    expect(abandoned).toBe(before + 1); // the server saw the connection go
  });

  test('a signal already aborted sends nothing', async () => {
    const n = seen.length;
    const f = await failure(get('/gzip', { signal: AbortSignal.abort() }));
    expect(f).toMatchObject({ message: 'canceled', code: 'ERR_CANCELED' });
    expect(seen.length).toBe(n);
  });
});
