/**
 * The HTTP side: `POST /src/jsonrpc.php`, the JSON-RPC envelope, i-doit's batch rules, API key,
 * user credentials and `idoit.login` / `idoit.logout` sessions (reference §1).
 */
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import { authError, internalError, invalidParams, invalidRequest, parseError, RpcError } from './errors';
import type { VersionProfile } from './versions';
import { route, type Ctx, type EmulatorUser, type ResolvedOptions } from './methods';
import type { Store } from './store';

export interface ServerOptions extends ResolvedOptions {
  apiKey: string;
  users: EmulatorUser[];
  authenticatedUsersOnly: boolean;
  sessionTimeoutSeconds: number;
  newSessionId: () => string;
  persist: () => void;
  profile: VersionProfile;
}

/** An expired or unknown session: answered per request (not once for a batch), with the version's code. */
class SessionExpired {
  constructor(readonly error: RpcError) {}
}

export interface Stats {
  httpRequests: number;
  calls: number;
  byMethod: Record<string, number>;
}

const API_SYSTEM: EmulatorUser = { username: 'api-system', password: '', userid: '12', name: 'Api System', mail: '' };
const AUTH_REQUIRED =
  "System setting 'api.authenticated-users-only' is enabled. Please provide valid user credentials by http basic auth or use an existing session id.";
const BAD_LOGIN = 'Unable to login using given credentials and apiKey.';

type Json = Record<string, unknown>;
type Reply = { id: unknown; jsonrpc: '2.0'; result?: unknown; error?: unknown };

const validId = (id: unknown) => Number.isInteger(id) || (typeof id === 'string' && id !== '');
const errReply = (id: unknown, e: RpcError): Reply => ({ id, jsonrpc: '2.0', error: e.toJSON() });

export class JsonRpcServer {
  readonly stats: Stats = { httpRequests: 0, calls: 0, byMethod: {} };
  private sessions = new Map<string, { user: EmulatorUser; lastUsed: number }>();
  /** Fault injection for client tests: the next N requests answer with this HTTP status or stall. */
  faults: { count: number; status?: number; stallMs?: number } = { count: 0 };
  /** Race tests: requests whose body matches are held until `count` of them wait (or `maxWaitMs` passed), then run together. */
  barrier: {
    matches: (body: string) => boolean;
    count: number;
    maxWaitMs: number;
    waiting: (() => void)[];
    timer?: NodeJS.Timeout;
  } | null = null;

  constructor(
    readonly store: Store,
    readonly opts: ServerOptions,
  ) {}

  expireSessions(): void {
    this.sessions.clear();
  }

  handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const b = this.barrier;
      const raw = Buffer.concat(chunks).toString('utf8');
      if (b && b.matches(raw)) {
        b.waiting.push(() => this.answer(req, res, chunks));
        const release = () => {
          clearTimeout(b.timer);
          const all = b.waiting.splice(0);
          for (const go of all) go();
        };
        if (b.waiting.length >= b.count) release();
        else if (b.waiting.length === 1) b.timer = setTimeout(release, b.maxWaitMs);
        return;
      }
      this.answer(req, res, chunks);
    });
  };

  private answer(req: http.IncomingMessage, res: http.ServerResponse, chunks: Buffer[]): void {
    this.stats.httpRequests++;
    if (this.faults.count > 0) {
      this.faults.count--;
      if (this.faults.stallMs) {
        setTimeout(() => res.destroy(), this.faults.stallMs).unref();
        return;
      }
      res.writeHead(this.faults.status ?? 503, { 'Content-Type': 'text/html' }).end('<h1>Service Unavailable</h1>');
      return;
    }
    const url = (req.url ?? '').split('?')[0];
    if (url !== '/src/jsonrpc.php') {
      res.writeHead(404, { 'Content-Type': 'text/html' }).end('Not found');
      return;
    }
    const headers: Record<string, string> = {};
    let body: unknown;
    try {
      body = this.process(req, Buffer.concat(chunks).toString('utf8'), headers);
    } catch (e) {
      body = errReply(null, e instanceof RpcError ? e : internalError(String(e)));
    }
    if (body === undefined) {
      res.writeHead(200, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  }

  private process(req: http.IncomingMessage, raw: string, outHeaders: Record<string, string>): unknown {
    const ctype = String(req.headers['content-type'] ?? '');
    if (req.method !== 'POST' || !ctype.startsWith('application/json')) {
      throw invalidRequest(
        'This is not a JSON-RPC. The content-type should be application/json, request method should be "post" and the http body should be a valid json-rpc 2.0 package.',
      );
    }
    if (raw.trim() === '') throw invalidRequest('Empty request body.');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw parseError('Syntax error, malformed JSON.');
    }
    const batch = Array.isArray(parsed);
    const items = batch ? (parsed as unknown[]) : [parsed];
    if (batch) {
      if (items.length === 0) throw invalidRequest('Empty batch request.');
      const ids = items
        .filter((i): i is Json => typeof i === 'object' && i !== null && 'id' in i)
        .map((i) => JSON.stringify(i.id));
      if (new Set(ids).size !== ids.length) throw internalError('Duplicate request ids in batch request.');
      const keys = new Set(items.filter(isObject).map((i) => JSON.stringify((i.params as Json | undefined)?.apikey)));
      if (keys.size > 1) throw invalidParams('All requests of a batch request have to use the same apikey.');
    }
    // The first request's key (and the headers) authenticate the whole HTTP request once.
    const first = items.find(isObject);
    let user: EmulatorUser | RpcError;
    try {
      user = this.authenticate(req, first, outHeaders);
    } catch (e) {
      user = e instanceof SessionExpired ? e.error : (e as RpcError);
      if (!(e instanceof SessionExpired) && batch && first) throw user;
    }
    let dirty = false;
    const replies: Reply[] = [];
    for (const item of items) {
      const r = this.call(req, item, user, outHeaders);
      if (r.changed) dirty = true;
      if (r.reply) replies.push(r.reply);
    }
    if (dirty) this.opts.persist();
    if (batch) return replies.length ? replies : undefined;
    return replies[0];
  }

  private authenticate(
    req: http.IncomingMessage,
    first: Json | undefined,
    outHeaders: Record<string, string>,
  ): EmulatorUser {
    const params = first?.params as Json | undefined;
    if (!isObject(params)) throw authError('Missing parameters: the request has to carry params with an apikey.');
    if (params.apikey !== this.opts.apiKey) throw authError(BAD_LOGIN);
    const sessionId = header(req, 'x-rpc-auth-session');
    if (sessionId && first?.method !== 'idoit.login') {
      const s = this.sessions.get(sessionId);
      const now = Date.now();
      if (!s || now - s.lastUsed > this.opts.sessionTimeoutSeconds * 1000) {
        this.sessions.delete(sessionId);
        const { code, detail } = this.opts.profile.sessionExpired;
        throw new SessionExpired(new RpcError(code, detail));
      }
      s.lastUsed = now;
      outHeaders['X-RPC-Auth-Session'] = sessionId;
      return s.user;
    }
    const creds = credentials(req);
    if (creds) {
      const u = this.opts.users.find((x) => x.username === creds.username && x.password === creds.password);
      if (!u) throw authError(BAD_LOGIN);
      return u;
    }
    if (this.opts.authenticatedUsersOnly) throw authError(AUTH_REQUIRED);
    return API_SYSTEM;
  }

  private call(
    req: http.IncomingMessage,
    item: unknown,
    user: EmulatorUser | RpcError,
    outHeaders: Record<string, string>,
  ): { reply?: Reply; changed?: boolean } {
    if (!isObject(item)) return { reply: errReply(null, authError('The request has to be a JSON object.')) };
    const hasId = 'id' in item;
    if (hasId && !validId(item.id))
      return { reply: errReply(null, internalError('Invalid request id: use an integer or a non-empty string.')) };
    const reply = (r: Omit<Reply, 'id' | 'jsonrpc'>) =>
      hasId ? { reply: { id: item.id, jsonrpc: '2.0' as const, ...r } } : {};
    if (item.jsonrpc !== '2.0' && item.version !== '2.0')
      return reply({ error: invalidRequest('Missing or invalid protocol version: send "jsonrpc": "2.0".').toJSON() });
    if (typeof item.method !== 'string' || item.method === '')
      return reply({ error: invalidRequest('Missing or invalid method.').toJSON() });
    if (!isObject(item.params))
      return reply({
        error: authError('Missing parameters: the request has to carry params with an apikey.').toJSON(),
      });
    if (user instanceof RpcError) return reply({ error: user.toJSON() });
    this.stats.calls++;
    this.stats.byMethod[item.method] = (this.stats.byMethod[item.method] ?? 0) + 1;
    const { apikey: _k, language, ...params } = item.params;
    void _k;
    const ctx: Ctx = {
      store: this.store,
      opts: this.opts,
      user,
      language: typeof language === 'string' ? language : 'en',
    };
    try {
      if (item.method === 'idoit.login') return reply({ result: this.login(req, outHeaders) });
      if (item.method === 'idoit.logout') {
        const sid = header(req, 'x-rpc-auth-session');
        if (sid) this.sessions.delete(sid);
        return reply({ result: { message: 'Logout successful', result: true } });
      }
      const { handler, readOnly } = route(item.method);
      const result = handler(ctx, params);
      return { ...reply({ result }), changed: !readOnly };
    } catch (e) {
      const err = e instanceof RpcError ? e : internalError(e instanceof Error ? e.message : String(e));
      return { ...reply({ error: err.toJSON() }), changed: true };
    }
  }

  private login(req: http.IncomingMessage, outHeaders: Record<string, string>): unknown {
    const creds = credentials(req);
    const u = creds && this.opts.users.find((x) => x.username === creds.username && x.password === creds.password);
    if (!u) throw authError(BAD_LOGIN);
    let id = this.opts.newSessionId();
    while (this.sessions.has(id)) id = randomBytes(13).toString('hex');
    this.sessions.set(id, { user: u, lastUsed: Date.now() });
    outHeaders['X-RPC-Auth-Session'] = id;
    return {
      result: true,
      userid: u.userid ?? '',
      name: u.name ?? u.username,
      mail: u.mail ?? '',
      username: u.username,
      'session-id': id,
      'client-id': 1,
      'client-name': this.opts.tenant,
    };
  }
}

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function credentials(req: http.IncomingMessage): { username: string; password: string } | undefined {
  const username = header(req, 'x-rpc-auth-username');
  const password = header(req, 'x-rpc-auth-password');
  if (username !== undefined) return { username, password: password ?? '' };
  const auth = header(req, 'authorization');
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}
