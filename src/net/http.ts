/**
 * One HTTP(S) exchange on node:http(s), for the backends' API clients (vSphere SOAP, i-doit JSON-RPC,
 * PowerDNS REST): an HTTP library cost a plan more CPU to load and run than the calls it made. Each
 * client keeps what is its own (faults, batches, error bodies, retries); here is what they share:
 * - every status comes back (the caller judges it), redirects are not followed, no proxy is used;
 * - TLS is the caller's agent (its CA context or certificate pin), used as given: an agent that
 *   turns verification off is refused, as nothing here may weaken it;
 * - the timeout is either `idle` (the socket's idle time: a large answer that keeps streaming is not
 *   cut off; fails with `no answer within N ms`) or `total` (the whole exchange, connect to last byte;
 *   `timed out after N ms`); both with code `ECONNABORTED`;
 * - an aborted signal fails with `canceled`, code `ERR_CANCELED`;
 * - transport errors are Node's own (`ECONNREFUSED`, `ECONNRESET`, the TLS codes, a pinned agent's
 *   error), an answer cut short is `aborted` with `ECONNRESET`;
 * - a gzip- or deflate-encoded answer is decoded (a body that does not decode: `ERR_BAD_RESPONSE`);
 *   `gzip: true` asks for gzip. `wireBytes` is what came over the connection.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { gunzip, inflate, inflateRaw } from 'node:zlib';
import { heard } from './activity';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as text (UTF-8), decoded when it came gzip- or deflate-encoded. */
  data: string;
  /** Body bytes as received (before decoding). */
  wireBytes: number;
}

/** `idle`: at most `ms` without a byte moving; `total`: the whole exchange within `ms`. */
export interface HttpTimeout {
  kind: 'idle' | 'total';
  ms: number;
}

export interface HttpRequest {
  method: string;
  url: string | URL;
  /** An http.Agent for http:, an https.Agent for https: (the client's trust: CA context or pin). */
  agent: http.Agent;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeout: HttpTimeout;
  signal?: AbortSignal;
  /** Sends `Accept-Encoding: gzip`. */
  gzip?: boolean;
}

/** The codes this module gives its own errors (the others are Node's); the clients' retries key on them. */
const TIMED_OUT = 'ECONNABORTED';
const CANCELED = 'ERR_CANCELED';
const BAD_RESPONSE = 'ERR_BAD_RESPONSE';

const codeError = (message: string, code: string): Error => Object.assign(new Error(message), { code });

const timeoutMessage = (t: HttpTimeout): string =>
  t.kind === 'idle' ? `no answer within ${t.ms} ms` : `timed out after ${t.ms} ms`;

export function exchange(r: HttpRequest): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    if ((r.agent as https.Agent).options?.rejectUnauthorized === false)
      return reject(new Error('refusing an agent that does not verify TLS certificates'));
    if (r.signal?.aborted) return reject(codeError('canceled', CANCELED));
    const headers: Record<string, string | number> = r.gzip
      ? { 'Accept-Encoding': 'gzip', ...r.headers }
      : { ...r.headers };
    if (r.body !== undefined) headers['Content-Length'] = Buffer.byteLength(r.body);
    let settled = false;
    let cause: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      if (timer) clearTimeout(timer);
      r.signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const fail = (e: Error) => settle() && reject(e);
    const secure = typeof r.url === 'string' ? r.url.startsWith('https:') : r.url.protocol === 'https:';
    const req = (secure ? https : http).request(r.url, { method: r.method, agent: r.agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      let wireBytes = 0;
      heard();
      res.on('data', (c: Buffer) => {
        heard();
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
          if (settle())
            resolve({ status: res.statusCode ?? 0, headers: res.headers, data: body.toString('utf8'), wireBytes });
        };
        const decoded = (e: Error | null, body: Buffer) =>
          e ? fail(Object.assign(e, { code: BAD_RESPONSE })) : done(body);
        const enc = String(res.headers['content-encoding'] ?? '').toLowerCase();
        if (raw.length === 0) done(raw);
        else if (enc === 'gzip' || enc === 'x-gzip') gunzip(raw, decoded);
        // `deflate` is meant as zlib-wrapped (RFC 9110 8.4.1.2); some servers send it raw.
        else if (enc === 'deflate') ((raw[0]! & 0x0f) === 0x08 ? inflate : inflateRaw)(raw, decoded);
        else done(raw);
      });
    });
    /** `cause`: why this side destroyed the request, so every later event reports that. */
    const destroy = (e: Error) => req.destroy((cause = e));
    const onAbort = () => destroy(codeError('canceled', CANCELED));
    r.signal?.addEventListener('abort', onAbort, { once: true });
    const onTimeout = () => destroy(codeError(timeoutMessage(r.timeout), TIMED_OUT));
    if (r.timeout.kind === 'idle') req.setTimeout(r.timeout.ms, onTimeout);
    else timer = setTimeout(onTimeout, r.timeout.ms);
    req.on('error', (e) => fail(cause ?? e));
    req.end(r.body);
  });
}
