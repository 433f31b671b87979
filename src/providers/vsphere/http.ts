/**
 * One HTTPS exchange for the vim25 client, on node:https directly: an HTTP library cost a plan more CPU
 * to load and run than the SOAP calls it made. What the client relies on:
 * - every status comes back (the caller judges it), redirects are not followed, no proxy is used;
 * - the timeout is the socket's idle time (a large property read that keeps streaming is not cut off),
 *   and fails with code `ECONNABORTED`; an aborted signal fails with `ERR_CANCELED`;
 * - transport errors are Node's own (`ECONNRESET`, the TLS codes, the pinned agent's TlsPinError);
 * - a gzip-encoded answer (vCenter compresses when asked, as govmomi's Go transport asks) is decoded;
 *   `wireBytes` is what came over the connection.
 */
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { gunzip } from 'node:zlib';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as text (UTF-8), decoded when it came gzip-encoded. */
  data: string;
  /** Body bytes as received (before decoding). */
  wireBytes: number;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  agent: https.Agent;
  headers: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
}

const codeError = (message: string, code: string): Error => Object.assign(new Error(message), { code });

export function exchange(r: HttpRequest): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    if (r.signal?.aborted) return reject(codeError('canceled', 'ERR_CANCELED'));
    const headers: Record<string, string | number> = { 'Accept-Encoding': 'gzip', ...r.headers };
    if (r.body !== undefined) headers['Content-Length'] = Buffer.byteLength(r.body);
    let settled = false;
    let cause: Error | undefined;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      r.signal?.removeEventListener('abort', onAbort);
      reject(e);
    };
    const req = https.request(r.url, { method: r.method, agent: r.agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      let wireBytes = 0;
      res.on('data', (c: Buffer) => {
        wireBytes += c.length;
        chunks.push(c);
      });
      res.on('error', (e) => fail(cause ?? e));
      // A response cut short (the timeout or the signal destroyed the request mid-body, the peer went away).
      res.on('close', () => {
        if (!res.complete) fail(cause ?? codeError('aborted', 'ECONNRESET'));
      });
      res.on('end', () => {
        if (settled) return;
        const raw = Buffer.concat(chunks);
        const done = (body: Buffer) => {
          if (settled) return;
          settled = true;
          r.signal?.removeEventListener('abort', onAbort);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, data: body.toString('utf8'), wireBytes });
        };
        const enc = String(res.headers['content-encoding'] ?? '').toLowerCase();
        if ((enc === 'gzip' || enc === 'x-gzip') && raw.length > 0)
          gunzip(raw, (e, body) => (e ? fail(Object.assign(e, { code: 'ERR_BAD_RESPONSE' })) : done(body)));
        else done(raw);
      });
    });
    /** `cause`: why this side destroyed the request, so every later event reports that. */
    const destroy = (e: Error) => req.destroy((cause = e));
    const onAbort = () => destroy(codeError('canceled', 'ERR_CANCELED'));
    r.signal?.addEventListener('abort', onAbort, { once: true });
    req.setTimeout(r.timeoutMs, () => destroy(codeError(`timeout of ${r.timeoutMs}ms exceeded`, 'ECONNABORTED')));
    req.on('error', (e) => fail(cause ?? e));
    req.end(r.body);
  });
}
