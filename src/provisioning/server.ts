/**
 * The provisioning server (part of `shipshape serve`, also startable alone): what installers talk to.
 *   GET  /boot/<mac>        iPXE boot script of a system whose install is under way
 *   GET  /install/<mac>     the answer file (it alone carries the callback token)
 *   POST /progress/<token>  the installer is alive (renews the token)
 *   POST /built/<token>     done: the token dies, the rendered files (password hash) are deleted
 *   POST /failed/<token>    with the installer's log (only its last `failedLogMaxBytes` are kept)
 *   GET  /mirror/<os>/…     files from provisioning.localMirrors (the lab, air-gapped sites)
 * Who may ask (threat model in README.md): everything about a system answers only to that system's
 * own address (the address the ip step gave it); the lab's installer stand-in on loopback is the one
 * exception, and only when `labLoopback` is set. /boot answers every other caller — unknown MAC,
 * installed or failed system, wrong address — with the same "boot from disk" script, never renews a
 * token and writes at most once per attempt. Unknown paths, tokens and answer files get one 404.
 * Per-address rate limit and connection caps bound what a neighbour can make it do. Tokens appear
 * in the log only as their first four characters.
 */
import { createReadStream, promises as fs } from 'fs';
import * as http from 'http';
import * as https from 'https';
import type { AddressInfo } from 'net';
import * as path from 'path';
import type { Logger } from '../engine/contract';
import { ACTIVE, moved, type InstallRecord, type InstallState } from '../providers/install/state';
import { InstallStore, normaliseMac } from '../providers/install/store';
import { redactLog } from './redact';
import { isOpenSshPublicKey } from '../providers/install/escape';
import { AddressRateLimiter, capConnections, DEFAULT_RATE, type RateLimit } from './limits';

export interface ProvisioningServerOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  /** The install state directory shared with `apply`. */
  stateDir: string;
  /** OS name → local directory served under /mirror/<os>/. */
  localMirrors?: Record<string, string>;
  /** Relative localMirrors paths resolve against this (the repo root). */
  root?: string;
  /** How long a token lives without progress (default 60 min). */
  tokenTtlMs?: number;
  /** Bytes of a failed installer's log that are kept (default 256 KiB). */
  failedLogMaxBytes?: number;
  /**
   * Lab sites and tests only: requests from 127.0.0.0/8 and ::1 count as coming from every system
   * (the lab's installer stand-in, a QEMU guest behind a loopback proxy). Never set on a real site.
   */
  labLoopback?: boolean;
  /** Per-address budget of install requests (not /mirror): default 30 at once, 5 per second after. */
  rateLimit?: RateLimit;
  /** Open connections at most, in total (default 256) and per address (default 16). */
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  log: Logger;
  /** Every answered request, for tests and metrics (the token shortened). */
  onRequest?: (e: { method: string; path: string; status: number; system?: string }) => void;
  now?: () => Date;
}

export interface ProvisioningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * What /boot answers whenever there is nothing to install: iPXE exits and the firmware tries the
 * next device (the disk). An unknown MAC, an installed system and a caller at the wrong address
 * all get exactly this, so /boot tells nobody which systems exist.
 */
export const BOOT_FROM_DISK = '#!ipxe\necho shipshape: nothing to install, booting from disk\nexit\n';
const MAX_UPLOAD = 64 * 1024 * 1024;

/** `::ffff:10.0.0.5` (an IPv4 client on a dual-stack socket) is `10.0.0.5`. */
export function clientAddress(req: http.IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function isLoopback(a: string): boolean {
  return a === '::1' || /^127\./.test(a);
}

export async function startProvisioningServer(o: ProvisioningServerOptions): Promise<ProvisioningServer> {
  const store = new InstallStore(o.stateDir);
  await store.init();
  const now = o.now ?? (() => new Date());
  const ttl = o.tokenTtlMs ?? 60 * 60_000;
  const logMax = o.failedLogMaxBytes ?? 256 * 1024;
  // A Map, not a plain object: `/mirror/__proto__/…` must be an unknown OS like any other.
  const mirrors = new Map(
    Object.entries(o.localMirrors ?? {}).map(([k, v]) => [k, path.resolve(o.root ?? process.cwd(), v)]),
  );
  const limiter = new AddressRateLimiter(o.rateLimit ?? DEFAULT_RATE);
  // One writer per system at a time inside this process (the installer may call twice at once).
  const chains = new Map<string, Promise<unknown>>();
  const serial = <T>(system: string, f: () => Promise<T>): Promise<T> => {
    const p = (chains.get(system) ?? Promise.resolve()).then(f, f);
    chains.set(
      system,
      p.catch(() => undefined),
    );
    return p;
  };

  const live = (r: InstallRecord | undefined): r is InstallRecord =>
    !!r && ACTIVE.has(r.state) && !!r.expiresAt && Date.parse(r.expiresAt) > now().getTime();
  /** The system itself: its address from the ip step (or, on the lab only, loopback). */
  const fromSystem = (req: http.IncomingMessage, r: InstallRecord): boolean => {
    const a = clientAddress(req);
    return (!!r.ip && a === r.ip) || (o.labLoopback === true && isLoopback(a));
  };
  const advance = async (
    r: InstallRecord,
    to: InstallState,
    patch: Partial<InstallRecord> = {},
  ): Promise<InstallRecord> => {
    const next = r.state === to && to !== 'installing' ? r : moved(r, to, now(), patch);
    const renewed = ACTIVE.has(next.state)
      ? { ...next, expiresAt: new Date(now().getTime() + ttl).toISOString() }
      : next;
    await store.put(renewed);
    // `r` still holds the token's hash: retiring it removes the by-token index with the files.
    if (!ACTIVE.has(renewed.state)) await store.retire(r);
    return renewed;
  };

  const handle = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<{ status: number; system?: string }> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname
      .split('/')
      .filter(Boolean)
      .map((p) => safeDecode(p));
    const [route, arg] = parts;
    const send = (status: number, body: string | Buffer = '', type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return status;
    };
    const notFound = () => ({ status: send(404, 'not found\n') });
    // Mirror files (a whole package archive on air-gapped sites) are reads only, bounded by the connection caps.
    // The lab's stand-in asks for every system from loopback: that is not a flood.
    const exempt = route === 'mirror' || (o.labLoopback === true && isLoopback(clientAddress(req)));
    if (!exempt && !limiter.take(clientAddress(req))) {
      req.resume();
      return { status: send(429, 'too many requests\n') };
    }
    if (req.method === 'GET' && route === 'boot' && parts.length === 2 && arg) {
      const mac = normaliseMac(arg);
      const r = mac ? await store.byMac(mac) : undefined;
      if (!live(r) || !fromSystem(req, r)) return { status: send(200, BOOT_FROM_DISK) };
      return serial(r.system, async () => {
        const script = await store.readFile(r.system, 'ipxe');
        const cur = await store.get(r.system);
        if (!script || !live(cur) || !fromSystem(req, cur)) return { status: send(200, BOOT_FROM_DISK) };
        // The first fetch moves the attempt to `booting`; later ones write nothing and never renew the token.
        if (cur.state === 'requested' || cur.state === 'vm-created') await store.put(moved(cur, 'booting', now()));
        return { status: send(200, script), system: r.system };
      });
    }
    if (req.method === 'GET' && route === 'install' && parts.length === 2 && arg) {
      const mac = normaliseMac(arg);
      const r = mac ? await store.byMac(mac) : undefined;
      if (!live(r) || !fromSystem(req, r)) return notFound();
      return serial(r.system, async () => {
        const answer = await store.readFile(r.system, 'answer');
        const cur = await store.get(r.system);
        if (!answer || !live(cur) || !fromSystem(req, cur)) return notFound();
        await advance(cur, 'installing');
        return { status: send(200, answer), system: r.system };
      });
    }
    if (
      req.method === 'POST' &&
      (route === 'built' || route === 'failed' || route === 'progress') &&
      parts.length === 2 &&
      arg
    ) {
      const r = await store.bySystemOfToken(arg);
      if (!live(r) || !fromSystem(req, r)) {
        req.resume();
        return notFound();
      }
      const body = await readTail(req, route === 'failed' ? logMax : 4096);
      if (body === undefined) return { status: send(413, 'too large\n') };
      return serial(r.system, async () => {
        const cur = await store.get(r.system);
        if (!live(cur) || cur.tokenHash !== r.tokenHash) return notFound();
        if (route === 'progress') await advance(cur, 'installing');
        else if (route === 'built') {
          // A built callback before the answer file was ever fetched is not a real install finishing.
          if (cur.state !== 'installing') return { status: send(409, 'the answer file was never fetched\n') };
          // The key posted here is only a claim: the install step confirms it over vCenter (guestinfo) unless the site says otherwise.
          const key = body.toString('utf8').trim();
          await advance(cur, 'built', {
            tokenHash: undefined,
            expiresAt: undefined,
            ...(isOpenSshPublicKey(key) ? { callbackHostKey: key } : {}),
          });
        } else
          await advance(cur, 'failed', {
            failureLog: redactLog(body.toString('utf8'), arg),
            tokenHash: undefined,
            expiresAt: undefined,
          });
        return { status: send(204), system: r.system };
      });
    }
    const mirror = arg !== undefined ? mirrors.get(arg) : undefined;
    if ((req.method === 'GET' || req.method === 'HEAD') && route === 'mirror' && mirror) {
      return { status: await serveFile(mirror, parts.slice(2), req, res) };
    }
    req.resume();
    return notFound();
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).then(
      ({ status, system }) =>
        o.onRequest?.({
          method: req.method ?? '?',
          path: shorten(req.url ?? ''),
          status,
          ...(system ? { system } : {}),
        }),
      (e: unknown) => {
        o.log.error({ err: (e as Error).message, path: shorten(req.url ?? '') }, 'provisioning: request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
        o.onRequest?.({ method: req.method ?? '?', path: shorten(req.url ?? ''), status: 500 });
      },
    );
  };
  const server = o.tls
    ? https.createServer({ cert: o.tls.cert, key: o.tls.key }, onRequest)
    : http.createServer(onRequest);
  capConnections(server, o.maxConnections ?? 256, o.maxConnectionsPerAddress ?? 16);
  server.requestTimeout = 120_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  const [host, port] = splitListen(o.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const scheme = o.tls ? 'https' : 'http';
  o.log.info(
    { listen: `${scheme}://${addr.address}:${addr.port}`, labLoopback: o.labLoopback === true },
    'provisioning server listening',
  );
  return {
    url: `${scheme}://${addr.address}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  const port = Number(listen.slice(i + 1));
  if (i < 1 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`provisioning.listen "${listen}" is not host:port`);
  return [listen.slice(0, i), port];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}

/** Tokens never reach a log whole. */
export function shorten(url: string): string {
  return url.replace(/\/(built|failed|progress)\/([A-Za-z0-9_-]{4})[^/?]*/, '/$1/$2…');
}

/** Reads a request body keeping only its last `max` bytes; undefined when the sender goes past MAX_UPLOAD. */
function readTail(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    let kept: Buffer[] = [];
    let keptLen = 0;
    let total = 0;
    req.on('data', (c: Buffer) => {
      total += c.length;
      if (total > MAX_UPLOAD) {
        req.destroy();
        return resolve(undefined);
      }
      kept.push(c);
      keptLen += c.length;
      if (keptLen > 2 * max) {
        const all = Buffer.concat(kept);
        kept = [all.subarray(all.length - max)];
        keptLen = max;
      }
    });
    req.on('end', () => {
      const all = Buffer.concat(kept);
      resolve(all.length > max ? all.subarray(all.length - max) : all);
    });
    req.on('error', reject);
  });
}

async function serveFile(
  root: string,
  rel: string[],
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<number> {
  const fail = () => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
    return 404;
  };
  if (rel.length === 0 || rel.some((p) => p === '' || p === '.' || p === '..' || p.includes('/') || p.includes('\0')))
    return fail();
  const file = path.join(root, ...rel);
  const st = await fs.stat(file).catch(() => undefined);
  if (!st?.isFile()) return fail();
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
  if (req.method === 'HEAD') {
    res.end();
    return 200;
  }
  await new Promise<void>((resolve) => {
    const s = createReadStream(file);
    s.on('error', () => {
      res.destroy();
      resolve();
    });
    s.on('end', () => resolve());
    s.pipe(res);
  });
  return 200;
}
