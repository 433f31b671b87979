/**
 * i-doit JSON-RPC client: every call goes out as a batch (one round trip for many reads or writes),
 * one `idoit.login` per run and `idoit.logout` at close (the vendor warns that a session per request can
 * make i-doit unusable), a re-login when the session expired, a timeout on every request, and retries
 * only for transient failures of requests that are safe to repeat.
 */
import * as http from 'node:http';
import { IdoitAuthError, IdoitError, IdoitProtocolError, TransientError } from './errors';
import { UserError } from '../../engine/contract';
import { httpsAgent, IdoitTlsPinError } from './transport';
import type { TlsOptions } from '../../manifest/site';
import type { Sealer } from '../../ownership';
import { exchange, type HttpAnswer } from '../../net/http';

export interface IdoitCall {
  method: string;
  params?: Record<string, unknown>;
}

export type CallResult = { ok: true; result: unknown } | { ok: false; error: IdoitError };

export interface IdoitClientOptions {
  /** Base URL (`https://cmdb.example.org`) or the full `…/src/jsonrpc.php`. */
  url: string;
  /** Secrets are fetched when needed and kept in memory only. */
  apiKey: () => Promise<string>;
  username?: () => Promise<string>;
  password?: () => Promise<string>;
  tls?: TlsOptions;
  /** Repo root, for a relative tls.caFile. */
  root?: string;
  /** Per HTTP request (default 30 s). */
  timeoutMs?: number;
  /** Extra attempts for transient failures of read-only batches (default 3). */
  retries?: number;
  retryDelayMs?: number;
  /** Larger write batches are split; PHP can die (HTTP 500) on very large ones. */
  maxBatch?: number;
  language?: string;
  /**
   * The site's marker seal (src/ownership), read once: with one, only objects whose description
   * carries this site's seal for that object id are a system's (marker.ts). Absent: markers as written.
   */
  sealer?: () => Promise<Sealer | undefined>;
}

const AUTH_ERROR = -32604;
/** Add-on 1.10 (and 1.x) answers an expired session with a system error, not an authentication error. */
const SESSION_GONE = /Unable to get user by sessionId/i;
const sessionGone = (e: { code?: number; message?: string } | undefined) =>
  !!e && (e.code === AUTH_ERROR || (e.code === -32099 && SESSION_GONE.test(e.message ?? '')));
const TRANSIENT_CODES = new Set([
  'ECONNABORTED',
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);
/** Failures where the request never reached i-doit, so even a write may be sent again. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN']);

/** What `idoit.version` says about the i-doit a run talks to. */
export interface IdoitInfo {
  /** i-doit's (core) version, e.g. "1.12.4", "1.14.2", "25". */
  version: string;
  /** "PRO" or "OPEN". */
  type: string;
}

export const SUPPORTED_VERSIONS =
  'i-doit 1.12 to 1.19 (API add-on 1.10 or later) and i-doit 20 or later (API add-on 2.x)';

/** i-doit 1.12 shipped API add-on 1.10, the oldest whose behaviour shipshape knows; version numbers became whole numbers with i-doit 20. */
export function isSupportedVersion(version: string): boolean {
  const m = /^(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2] ?? 0);
  return major === 1 ? minor >= 12 : major >= 20;
}

export function isReadOnly(method: string): boolean {
  return method === 'idoit.version' || /\.read$/.test(method) || method === 'cmdb.objects';
}

export class IdoitClient {
  readonly endpoint: string;
  /** HTTP round trips made (tests and benches assert on this). */
  requestCount = 0;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private session: string | null = null;
  private loggingIn: Promise<void> | null = null;
  private nextId = 1;
  private infoRead: Promise<IdoitInfo> | null = null;
  private sealerRead: Promise<Sealer | undefined> | null = null;

  constructor(private readonly o: IdoitClientOptions) {
    this.endpoint = o.url.endsWith('/src/jsonrpc.php') ? o.url : `${o.url.replace(/\/+$/, '')}/src/jsonrpc.php`;
    this.url = new URL(this.endpoint);
    // node:http directly (axios's per-request work showed in a plan's CPU profile); the https agent is
    // built whatever the URL, so a caFile that cannot be read is an error on every site alike.
    const tlsAgent = httpsAgent(o.tls, o.root ?? process.cwd());
    this.agent = this.url.protocol === 'https:' ? tlsAgent : new http.Agent({ keepAlive: true });
  }

  /** The site's marker seal, or undefined on a site without `ownership:` (read once per client). */
  sealer(): Promise<Sealer | undefined> {
    this.sealerRead ??= this.o.sealer ? this.o.sealer() : Promise.resolve(undefined);
    return this.sealerRead;
  }

  private get usesSession(): boolean {
    return !!this.o.username;
  }

  async call<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const [r] = await this.batch([{ method, params }]);
    if (!r!.ok) throw r!.error;
    return r!.result as T;
  }

  /** All calls in as few round trips as possible; results in call order; errors per call. */
  async batch(calls: IdoitCall[]): Promise<CallResult[]> {
    if (calls.length === 0) return [];
    const max = this.o.maxBatch ?? 500;
    const readOnly = calls.every((c) => isReadOnly(c.method));
    // Reads always go in one request (observe must stay constant); writes are chunked.
    if (readOnly || calls.length <= max) return this.send(calls);
    const out: CallResult[] = [];
    for (let i = 0; i < calls.length; i += max) out.push(...(await this.send(calls.slice(i, i + max))));
    return out;
  }

  /**
   * `idoit.version`, read once per client (a run shares one client between its i-doit steps) before
   * anything else is sent; an unsupported version stops the run here with the versions shipshape supports.
   */
  info(): Promise<IdoitInfo> {
    this.infoRead ??= (async () => {
      const [r] = await this.sendNow([{ method: 'idoit.version' }]);
      if (!r!.ok) throw r!.error;
      const v = r!.result as { version?: unknown; type?: unknown };
      const info: IdoitInfo = { version: String(v.version ?? ''), type: String(v.type ?? '') };
      if (!isSupportedVersion(info.version)) {
        throw new UserError(
          `i-doit at ${this.endpoint} reports version "${info.version}", which shipshape does not support; supported: ${SUPPORTED_VERSIONS}.`,
        );
      }
      return info;
    })();
    this.infoRead.catch(() => {
      this.infoRead = null;
    });
    return this.infoRead;
  }

  /** For the plan header: `{server: "i-doit 25 PRO", url: "<endpoint>"}` (reads the version if not read yet). */
  async about(): Promise<Record<string, string>> {
    const i = await this.info();
    return { server: `i-doit ${i.version}${i.type ? ` ${i.type}` : ''}`, url: this.endpoint };
  }

  /** Like batch, but throws the first error. */
  async batchOrThrow(calls: IdoitCall[]): Promise<unknown[]> {
    const rs = await this.batch(calls);
    for (const r of rs) if (!r.ok) throw r.error;
    return rs.map((r) => (r as { result: unknown }).result);
  }

  async close(): Promise<void> {
    const sid = this.session;
    if (!sid) return;
    this.session = null;
    try {
      await this.post([this.envelope({ method: 'idoit.logout' }, await this.o.apiKey())], {
        'X-RPC-Auth-Session': sid,
      });
    } catch {
      // The session dies by itself after the idle timeout; a failed logout must not fail the run.
    }
  }

  private envelope(c: IdoitCall, apikey: string): Record<string, unknown> {
    const params = { ...(c.params ?? {}), apikey, ...(this.o.language ? { language: this.o.language } : {}) };
    return { version: '2.0', method: c.method, params, id: this.nextId++ };
  }

  private async send(calls: IdoitCall[]): Promise<CallResult[]> {
    await this.info();
    return this.sendNow(calls);
  }

  private async sendNow(calls: IdoitCall[], relogged = false): Promise<CallResult[]> {
    if (this.usesSession) await this.ensureSession();
    const apikey = await this.o.apiKey();
    const body = calls.map((c) => this.envelope(c, apikey));
    const used = this.session;
    const headers: Record<string, string> = used ? { 'X-RPC-Auth-Session': used } : {};
    const reply = await this.postWithRetry(
      body,
      headers,
      calls.every((c) => isReadOnly(c.method)),
    );
    // A batch refused as a whole (auth, duplicate ids, mixed keys) comes back as one error object.
    const list = Array.isArray(reply)
      ? reply
      : calls.length === 1 && (reply as { id?: unknown }).id === body[0]!.id
        ? [reply]
        : null;
    const whole = list ? null : (reply as { error?: { code: number; message: string; data: unknown } }).error;
    const authFailed = whole
      ? sessionGone(whole)
      : list!.length > 0 && list!.every((r) => sessionGone((r as { error?: { code: number; message: string } }).error));
    if (authFailed) {
      const msg = whole?.message ?? (list![0] as { error: { message: string } }).error.message;
      // An expired session (−32604, or 1.x's −32099 "Unable to get user by sessionId"): log in again once
      // and resend (nothing ran: every request of the batch was refused before it started).
      if (used && !relogged) {
        // Only drop the session this request used: a parallel request may have logged in again already.
        if (this.session === used) this.session = null;
        return this.sendNow(calls, true);
      }
      throw new IdoitAuthError(this.endpoint, msg);
    }
    if (whole) throw new IdoitError(calls.map((c) => c.method).join(', '), whole.code, whole.message, whole.data);
    const byId = new Map(list!.map((r) => [(r as { id: unknown }).id, r as Record<string, unknown>]));
    return body.map((req, i) => {
      const r = byId.get(req.id);
      const method = calls[i]!.method;
      if (!r) throw new IdoitProtocolError(`i-doit sent no answer for ${method} (request id ${String(req.id)})`);
      if (r.error) {
        const e = r.error as { code: number; message: string; data: unknown };
        return { ok: false as const, error: new IdoitError(method, e.code, e.message, e.data ?? null) };
      }
      return { ok: true as const, result: r.result };
    });
  }

  private ensureSession(): Promise<void> {
    if (this.session) return Promise.resolve();
    this.loggingIn ??= (async () => {
      try {
        const [user, pass, apikey] = await Promise.all([
          this.o.username!(),
          this.o.password ? this.o.password() : Promise.resolve(''),
          this.o.apiKey(),
        ]);
        const reply = (await this.postWithRetry(
          [this.envelope({ method: 'idoit.login' }, apikey)],
          {
            'X-RPC-Auth-Username': user,
            'X-RPC-Auth-Password': pass,
          },
          true,
        )) as unknown;
        const r = (Array.isArray(reply) ? reply[0] : reply) as {
          result?: { 'session-id'?: string };
          error?: { message: string };
        };
        if (r.error || !r.result?.['session-id'])
          throw new IdoitAuthError(this.endpoint, r.error?.message ?? 'idoit.login returned no session id.');
        this.session = r.result['session-id'];
      } finally {
        this.loggingIn = null;
      }
    })();
    return this.loggingIn;
  }

  private async postWithRetry(body: unknown, headers: Record<string, string>, repeatable: boolean): Promise<unknown> {
    const attempts = 1 + (this.o.retries ?? 3);
    let delay = this.o.retryDelayMs ?? 200;
    for (let i = 1; ; i++) {
      try {
        return await this.post(body, headers);
      } catch (e) {
        const notSent = e instanceof TransientError && NOT_SENT_CODES.has(String((e as { code?: string }).code));
        if (!(e instanceof TransientError) || i >= attempts || !(repeatable || notSent)) throw e;
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  private async post(body: unknown, headers: Record<string, string>): Promise<unknown> {
    this.requestCount++;
    let res: HttpAnswer;
    try {
      // The whole exchange within the timeout (ECONNABORTED past it, as the retries expect).
      res = await exchange({
        method: 'POST',
        url: this.url,
        agent: this.agent,
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify(body),
        timeout: { kind: 'total', ms: this.o.timeoutMs ?? 30_000 },
      });
    } catch (e) {
      // Only the code goes on: nothing of the request (its body holds the API key) is kept.
      // A certificate pin mismatch is the operator's to fix, with its own message (transport.ts).
      if (e instanceof IdoitTlsPinError) throw new IdoitTlsPinError(e.message);
      const code = (e as { code?: string }).code ?? 'UNKNOWN';
      // An untrusted certificate is no network failure: retrying cannot help, the site config must say whom to trust.
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code))
        throw new UserError(
          `i-doit TLS verification of ${this.endpoint} failed (${code}): trust its CA with tls.caFile or pin its certificate with tls.thumbprint in the ipam / cmdb sections (backend: idoit) of shipshape.yaml`,
        );
      const msg =
        code === 'ECONNABORTED' || code === 'ETIMEDOUT'
          ? `timed out after ${this.o.timeoutMs ?? 30_000} ms`
          : `network error ${code}`;
      if (TRANSIENT_CODES.has(code))
        throw Object.assign(new TransientError(`i-doit at ${this.endpoint}: ${msg}`), { code });
      throw new IdoitProtocolError(`i-doit at ${this.endpoint}: ${msg}`);
    }
    if (res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504) {
      throw new TransientError(`i-doit at ${this.endpoint} answered HTTP ${res.status}`);
    }
    if (res.status !== 200) {
      const hint = res.status === 500 ? ' (very large batches can exhaust PHP; try fewer systems per run)' : '';
      throw new IdoitProtocolError(`i-doit at ${this.endpoint} answered HTTP ${res.status}${hint}`);
    }
    const text = String(res.data ?? '');
    if (text === '') return [];
    try {
      return JSON.parse(text);
    } catch {
      throw new IdoitProtocolError(
        `i-doit at ${this.endpoint} answered with something that is not JSON (first bytes: ${JSON.stringify(text.slice(0, 80))})`,
      );
    }
  }
}
