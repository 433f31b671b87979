/**
 * A small vim25 SOAP client on node:https (src/net/http.ts) with our own https.Agent, the API version
 * negotiated from /sdk/vimServiceVersions.xml (sent as SOAPAction), a session cookie from Login,
 * one re-login on NotAuthenticated, a timeout on every request, retries only for transient
 * failures of calls that are safe to repeat, and Logout in close(). It counts round trips and
 * bytes so observe can prove it stays batched.
 */
import type https from 'node:https';
import { TransientError, UserError, type Logger } from '../../engine/contract';
import { faultFromBody, InvalidLoginError, NotAuthenticatedError, VsphereFault } from './soap/faults';
import { child, envelope, escapeXml, parseEnvelope, ref, text, type MoRef, type XNode, toRef } from './soap/xml';
import { exchange, type HttpAnswer, type HttpRequest } from '../../net/http';
import { vsphereAgent, type VsphereTls } from './tls';

export interface VimClientOptions {
  /** `https://vcenter.example.com/sdk` (or without `/sdk`). */
  url: string;
  username: string;
  password: string;
  tls?: VsphereTls;
  /** Directory relative paths in `tls.caFile` are resolved against (for messages). */
  tlsBase?: string;
  /** Per-request timeout; big property reads need more than small calls. Default 120 s. */
  timeoutMs?: number;
  /** Retries for transient failures of repeatable calls. Default 2. */
  retries?: number;
  log?: Logger;
  signal?: AbortSignal;
}

export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  viewManager: MoRef;
  sessionManager: MoRef;
  searchIndex: MoRef;
  /** What the server reports (About.apiVersion). */
  apiVersion: string;
  /** About.fullName, e.g. `VMware vCenter Server 8.0.2 build-22385739`. */
  server: string;
  /** The version this client talks (SOAPAction `urn:vim25/<v>`): the highest both sides speak. */
  negotiatedVersion: string;
}

/**
 * vim25 versions this client speaks, highest first. Its envelopes use only elements of the 5.5
 * schema, which every later version keeps (vSphere API versions are backwards compatible), so it
 * speaks each of them; it is tested against 6.5 (vcsim), 7.0.3 and 8.0.2 (the vCenter-like harness).
 */
export const CLIENT_VERSIONS = [
  '8.0.3.0',
  '8.0.2.0',
  '8.0.1.0',
  '8.0.0.0',
  '7.0.3.0',
  '7.0.2.0',
  '7.0.1.0',
  '7.0.0.0',
  '6.7.3',
  '6.7',
  '6.5',
];
const FALLBACK_VERSION = '6.5';

/** The highest version in both lists; undefined when they share none. */
export function negotiateVersion(server: string[], client: string[] = CLIENT_VERSIONS): string | undefined {
  const cmp = (a: string, b: string): number => {
    const x = a.split('.').map(Number);
    const y = b.split('.').map(Number);
    for (let i = 0; i < Math.max(x.length, y.length); i++)
      if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
    return 0;
  };
  return server.filter((v) => client.includes(v)).sort(cmp)[0];
}

/** The urn:vim25 versions listed in vimServiceVersions.xml (current and prior). */
export function parseServiceVersions(xml: string): string[] {
  const ns = /<namespace>\s*<name>urn:vim25<\/name>([\s\S]*?)<\/namespace>/.exec(xml);
  return ns ? [...ns[1]!.matchAll(/<version>\s*([^<\s]+)\s*<\/version>/g)].map((m) => m[1]!) : [];
}

export interface CallStats {
  roundTrips: number;
  bytesSent: number;
  bytesReceived: number;
  /** Time spent waiting for responses (server + transfer) and parsing them, summed over calls. */
  msWaiting: number;
  msParsing: number;
  /** Round trips per SOAP method (tests assert which calls a path makes, e.g. no RetrievePropertiesEx). */
  byMethod: Record<string, number>;
}

/** Methods that change nothing (or nothing that matters when repeated): only these are retried. */
const REPEATABLE = new Set([
  'RetrieveServiceContent',
  'Login',
  'Logout',
  'RetrievePropertiesEx',
  'ContinueRetrievePropertiesEx',
  'CancelRetrievePropertiesEx',
  'FindByInventoryPath',
  'FindChild',
  'CreateContainerView',
  'DestroyView',
]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/;
const SESSION_COOKIE = /(?:^|;\s*)(vmware_soap_session=("[^"]*"|[^;]*))/;

export class VimClient {
  readonly stats: CallStats = {
    roundTrips: 0,
    bytesSent: 0,
    bytesReceived: 0,
    msWaiting: 0,
    msParsing: 0,
    byMethod: {},
  };
  private readonly agent: https.Agent;
  private readonly endpoint: string;
  private cookie: string | undefined;
  private sc: ServiceContent | undefined;
  private loggingIn: Promise<void> | undefined;
  private soapAction = `"urn:vim25/${FALLBACK_VERSION}"`;
  /** Counts Logins: a reader that sees it change knows its views and paging tokens died with the old session. */
  sessionEpoch = 0;
  private readonly loginListeners = new Set<() => void>();

  /** Called after every Login (the change feed's collector died with the old session); returns the unsubscribe. */
  onLogin(fn: () => void): () => void {
    this.loginListeners.add(fn);
    return () => this.loginListeners.delete(fn);
  }

  constructor(private readonly opts: VimClientOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== 'https:')
      throw new UserError(
        `vms.url must be https:// (got ${u.protocol}//${u.host}); shipshape never sends credentials in clear text`,
      );
    if (!u.pathname.endsWith('/sdk')) u.pathname = u.pathname.replace(/\/$/, '') + '/sdk';
    this.endpoint = u.toString();
    this.agent = vsphereAgent(opts.tls ?? {}, opts.tlsBase ?? process.cwd());
  }

  /**
   * One exchange with this client's agent (every status comes back; see src/net/http.ts). The timeout is
   * the socket's idle time: a large property read that keeps streaming is not cut off. gzip is asked
   * for, as govmomi's Go transport asks (vCenter compresses when asked).
   */
  private send({
    timeoutMs,
    ...r
  }: Omit<HttpRequest, 'agent' | 'timeout'> & { timeoutMs?: number }): Promise<HttpAnswer> {
    const ms = timeoutMs ?? this.opts.timeoutMs ?? 120_000;
    return exchange({ ...r, agent: this.agent, timeout: { kind: 'idle', ms }, gzip: true });
  }

  get url(): string {
    return this.endpoint;
  }

  get log(): Logger | undefined {
    return this.opts.log;
  }

  /** RetrieveServiceContent, once per client, after negotiating the API version. */
  async serviceContent(): Promise<ServiceContent> {
    if (this.sc) return this.sc;
    const negotiated = await this.negotiate();
    const r = await this.call(
      'RetrieveServiceContent',
      ref('_this', { type: 'ServiceInstance', value: 'ServiceInstance' }),
      { noSession: true },
    );
    const rv = child(r, 'returnval');
    const need = (n: string): MoRef => {
      const v = toRef(child(rv, n));
      if (!v) throw new Error(`vSphere ServiceContent has no ${n}`);
      return v;
    };
    this.sc = {
      rootFolder: need('rootFolder'),
      propertyCollector: need('propertyCollector'),
      viewManager: need('viewManager'),
      sessionManager: need('sessionManager'),
      searchIndex: need('searchIndex'),
      apiVersion: child(child(rv, 'about'), 'apiVersion')?.text ?? '',
      server: child(child(rv, 'about'), 'fullName')?.text ?? '',
      negotiatedVersion: negotiated,
    };
    return this.sc;
  }

  /**
   * Picks the highest API version both sides speak from /sdk/vimServiceVersions.xml, as pyVmomi
   * (`__FindSupportedVersion`) and govmomi (`UseServiceVersion`) do. A server without the file
   * gets the version this client always used.
   */
  private async negotiate(): Promise<string> {
    const u = new URL(this.endpoint);
    u.pathname = u.pathname.replace(/\/sdk$/, '/sdk/vimServiceVersions.xml');
    let res: HttpAnswer | undefined;
    const attempts = (this.opts.retries ?? 2) + 1;
    for (let i = 1; !res; i++) {
      this.stats.roundTrips++;
      try {
        res = await this.send({
          method: 'GET',
          url: u.toString(),
          headers: {},
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        });
      } catch (e) {
        const err = this.transportError('vimServiceVersions.xml', e);
        if (!(err instanceof TransientError) || i >= attempts) throw err;
        await new Promise((r) => setTimeout(r, 250 * 4 ** (i - 1)));
      }
    }
    const offered = res.status === 200 ? parseServiceVersions(res.data) : [];
    if (offered.length === 0) return this.useVersion(FALLBACK_VERSION);
    const v = negotiateVersion(offered);
    if (!v)
      throw new UserError(
        `vSphere at ${this.endpoint} speaks API versions ${offered.join(', ')}; shipshape speaks ${CLIENT_VERSIONS.join(', ')}: no version in common`,
      );
    return this.useVersion(v);
  }

  private useVersion(v: string): string {
    this.soapAction = `"urn:vim25/${v}"`;
    this.opts.log?.debug({ url: this.endpoint, apiVersion: v }, 'vsphere: API version negotiated');
    return v;
  }

  /** Logs in; concurrent callers share one Login so parallel systems never open extra sessions. */
  login(): Promise<void> {
    this.loggingIn ??= this.doLogin().finally(() => {
      this.loggingIn = undefined;
    });
    return this.loggingIn;
  }

  private async doLogin(): Promise<void> {
    const sc = await this.serviceContent();
    this.cookie = undefined;
    try {
      await this.post(
        'Login',
        ref('_this', sc.sessionManager) + text('userName', this.opts.username) + text('password', this.opts.password),
        (this.opts.retries ?? 2) + 1,
      );
    } catch (e) {
      // Which vCenter refused: a site may name several, and the fault text names none.
      if (e instanceof InvalidLoginError)
        throw new InvalidLoginError(
          e.fault,
          e.message.replace(/^vSphere Login\b/, `vSphere Login at ${this.endpoint}`),
          e.object,
          e.detail,
        );
      throw e;
    }
    if (!this.cookie) throw new Error(`vSphere Login at ${this.endpoint} returned no session cookie`);
    this.sessionEpoch++;
    this.opts.log?.debug({ url: this.endpoint }, 'vsphere: logged in');
    for (const fn of this.loginListeners) fn();
  }

  get loggedIn(): boolean {
    return this.cookie !== undefined;
  }

  /** Logout: sessions left open pile up until vCenter refuses new ones. Safe to call twice. */
  async logout(): Promise<void> {
    if (!this.cookie || !this.sc) return;
    try {
      await this.call('Logout', ref('_this', this.sc.sessionManager), { noRelogin: true });
    } catch (e) {
      if (!(e instanceof NotAuthenticatedError)) throw e;
    } finally {
      this.cookie = undefined;
    }
  }

  /**
   * PUT a file through the datastore HTTP interface (`/folder/<path>?dcPath=…&dsName=…`) with this
   * session's cookie and TLS settings. Not retried here: an upload is repeated whole by the caller.
   */
  async putFile(folderPath: string, query: Record<string, string>, data: Buffer, timeoutMs: number): Promise<void> {
    if (!this.cookie) await this.login();
    const u = new URL(this.endpoint);
    u.pathname = `/folder/${folderPath.split('/').map(encodeURIComponent).join('/')}`;
    u.search = new URLSearchParams(query).toString();
    let res: HttpAnswer;
    try {
      res = await this.send({
        method: 'PUT',
        url: u.toString(),
        body: data,
        timeoutMs,
        headers: { 'Content-Type': 'application/octet-stream', Cookie: this.cookie ?? '' },
      });
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (TRANSIENT_CODES.has(code)) throw new TransientError(`upload to ${u.pathname} failed (${code})`, e);
      throw e;
    }
    this.stats.roundTrips++;
    this.stats.bytesSent += data.length;
    if (res.status === 401 || res.status === 403)
      throw new UserError(
        `vSphere refused the upload to ${u.pathname} (HTTP ${res.status}): the user needs Datastore.FileManagement on ${query.dsName}`,
      );
    if (res.status >= 500) throw new TransientError(`upload to ${u.pathname}: HTTP ${res.status}`);
    if (res.status !== 200 && res.status !== 201) throw new Error(`upload to ${u.pathname}: HTTP ${res.status}`);
  }

  /** Test hook: forget the cookie as if the session had expired on the server side. */
  dropSessionForTest(fake = 'vmware_soap_session="expired"'): void {
    this.cookie = fake;
  }

  /** Calls `method` with the given inner XML and returns the `<methodResponse>` element. */
  async call(
    method: string,
    inner: string,
    o: { noSession?: boolean; noRelogin?: boolean; signal?: AbortSignal } = {},
  ): Promise<XNode> {
    if (!o.noSession && !this.cookie) await this.login();
    const sentWith = this.cookie;
    try {
      return await this.callWithRetry(method, inner, o.signal);
    } catch (e) {
      if (e instanceof NotAuthenticatedError && !o.noSession && !o.noRelogin) {
        // Parallel calls all see the lost session: one logs in, the others join that Login
        // (or, if it already finished, retry with its cookie).
        if (this.cookie === sentWith || this.loggingIn) {
          if (!this.loggingIn) this.opts.log?.info({ method }, 'vsphere: session lost, logging in again');
          await this.login();
        }
        return await this.callWithRetry(method, inner, o.signal);
      }
      throw e;
    }
  }

  private async callWithRetry(method: string, inner: string, signal?: AbortSignal): Promise<XNode> {
    return this.post(method, inner, REPEATABLE.has(method) ? (this.opts.retries ?? 2) + 1 : 1, signal);
  }

  /** One call, repeated up to `attempts` times on transient failures. */
  private async post(method: string, inner: string, attempts: number, signal?: AbortSignal): Promise<XNode> {
    for (let i = 1; ; i++) {
      try {
        return await this.postOnce(method, inner, signal);
      } catch (e) {
        if (!(e instanceof TransientError) || i >= attempts) throw e;
        const wait = 250 * 4 ** (i - 1);
        this.opts.log?.warn(
          `vsphere: ${method} failed (${e.message}); retry ${i} of ${attempts - 1} in ${(wait / 1000).toFixed(1)} s`,
        );
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** `signal`: this call's own (a long WaitForUpdatesEx that a stopping watch abandons), besides the client's. */
  private async postOnce(method: string, inner: string, callSignal?: AbortSignal): Promise<XNode> {
    const body = envelope(method, inner);
    const headers: Record<string, string> = {
      'Content-Type': 'text/xml; charset=utf-8',
      SOAPAction: this.soapAction,
    };
    if (this.cookie) headers.Cookie = this.cookie;
    let res: HttpAnswer;
    this.stats.roundTrips++;
    this.stats.byMethod[method] = (this.stats.byMethod[method] ?? 0) + 1;
    this.stats.bytesSent += Buffer.byteLength(body);
    const t0 = performance.now();
    try {
      const signal =
        callSignal && this.opts.signal
          ? AbortSignal.any([callSignal, this.opts.signal])
          : (callSignal ?? this.opts.signal);
      res = await this.send({ method: 'POST', url: this.endpoint, body, headers, ...(signal ? { signal } : {}) });
    } catch (e) {
      throw this.transportError(method, e);
    } finally {
      this.stats.msWaiting += performance.now() - t0;
    }
    const data = res.data;
    this.stats.bytesReceived += res.wireBytes;
    const setCookie = res.headers['set-cookie'];
    for (const c of setCookie ?? []) {
      const m = SESSION_COOKIE.exec(c);
      if (m) this.cookie = m[1];
    }
    if (res.status >= 502 && res.status <= 504)
      throw new TransientError(`vSphere ${method}: HTTP ${res.status} from ${this.endpoint}`);
    let bodyNode: XNode;
    const t1 = performance.now();
    try {
      bodyNode = parseEnvelope(data);
      this.stats.msParsing += performance.now() - t1;
    } catch {
      throw new Error(`vSphere ${method}: HTTP ${res.status} from ${this.endpoint} is not a SOAP response`);
    }
    const fault = faultFromBody(bodyNode, `vSphere ${method}`);
    if (fault) throw fault;
    if (res.status !== 200) throw new Error(`vSphere ${method}: unexpected HTTP ${res.status} from ${this.endpoint}`);
    return child(bodyNode, `${method}Response`) ?? { name: `${method}Response`, attrs: {}, children: [], text: '' };
  }

  /** Socket, TLS and timeout failures, without the request (it may hold the password). */
  private transportError(method: string, e: unknown): Error {
    if (e instanceof UserError) return e; // e.g. TlsPinError from our agent
    const err = e as { code?: string; message?: string };
    const code = err.code ?? '';
    if (code === 'ERR_CANCELED') return new UserError(`vSphere ${method}: cancelled`);
    if (TLS_CODES.test(code)) {
      return new UserError(
        `vSphere TLS verification of ${this.endpoint} failed (${code}): trust its CA with vms.tls.caFile or pin its certificate with vms.tls.thumbprint`,
      );
    }
    const what =
      code === 'ECONNABORTED'
        ? `timed out after ${this.opts.timeoutMs ?? 120_000} ms`
        : `${code || 'transport error'}: ${err.message ?? ''}`.trim();
    const msg = `vSphere ${method} to ${this.endpoint}: ${what}`;
    if (TRANSIENT_CODES.has(code) || /socket hang up|other side closed/i.test(err.message ?? ''))
      return new TransientError(msg, { code });
    return new Error(msg);
  }
}

export { VsphereFault, escapeXml };
