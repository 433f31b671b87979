/**
 * The provisioning server (part of `shipshape serve`, also startable alone): what installers talk to.
 *   GET  /boot/<mac>        iPXE boot script of a system whose install is under way ("boot from disk" once built)
 *   GET  /install/<token>   the answer file
 *   POST /progress/<token>  the installer is alive (renews the token)
 *   POST /built/<token>     done: the token dies, the rendered files (password hash) are deleted
 *   POST /failed/<token>    with the installer's log (only its last `failedLogMaxBytes` are kept)
 *   GET  /mirror/<os>/…     files from provisioning.localMirrors (the lab, air-gapped sites)
 * Anything unknown, expired or finished gets the same 404: a caller learns nothing. Tokens appear
 * in the log only as their first four characters.
 */
import { createReadStream, promises as fs } from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import type { Logger } from '../engine/contract';
import { ACTIVE, moved, type InstallRecord, type InstallState } from '../providers/install/state';
import { InstallStore, normaliseMac } from '../providers/install/store';
import { redactLog } from './redact';
import { isOpenSshPublicKey } from '../providers/install/escape';

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

/** Once built, the VM boots from its disk: iPXE exits and the firmware tries the next device. */
const BOOT_FROM_DISK = '#!ipxe\necho shipshape: already installed, booting from disk\nexit\n';
const MAX_UPLOAD = 64 * 1024 * 1024;

export async function startProvisioningServer(o: ProvisioningServerOptions): Promise<ProvisioningServer> {
  const store = new InstallStore(o.stateDir);
  await store.init();
  const now = o.now ?? (() => new Date());
  const ttl = o.tokenTtlMs ?? 60 * 60_000;
  const logMax = o.failedLogMaxBytes ?? 256 * 1024;
  const mirrors = Object.fromEntries(Object.entries(o.localMirrors ?? {}).map(([k, v]) => [k, path.resolve(o.root ?? process.cwd(), v)]));
  // One writer per system at a time inside this process (the installer may call twice at once).
  const chains = new Map<string, Promise<unknown>>();
  const serial = <T>(system: string, f: () => Promise<T>): Promise<T> => {
    const p = (chains.get(system) ?? Promise.resolve()).then(f, f);
    chains.set(system, p.catch(() => undefined));
    return p;
  };

  const live = (r: InstallRecord | undefined): r is InstallRecord => !!r && ACTIVE.has(r.state) && !!r.expiresAt && Date.parse(r.expiresAt) > now().getTime();
  const advance = async (r: InstallRecord, to: InstallState, patch: Partial<InstallRecord> = {}): Promise<InstallRecord> => {
    const next = r.state === to && to !== 'installing' && to !== 'booting' ? r : moved(r, to, now(), patch);
    const renewed = ACTIVE.has(next.state) ? { ...next, expiresAt: new Date(now().getTime() + ttl).toISOString() } : next;
    await store.put(renewed);
    if (!ACTIVE.has(renewed.state)) await store.retire(renewed);
    return renewed;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<{ status: number; system?: string }> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).map((p) => safeDecode(p));
    const [route, arg] = parts;
    const send = (status: number, body: string | Buffer = '', type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return status;
    };
    const notFound = () => ({ status: send(404, 'not found\n') });
    if (req.method === 'GET' && route === 'boot' && parts.length === 2 && arg) {
      const mac = normaliseMac(arg);
      const r = mac ? await store.byMac(mac) : undefined;
      if (r?.state === 'built') return { status: send(200, BOOT_FROM_DISK), system: r.system };
      if (!live(r)) return notFound();
      return serial(r.system, async () => {
        const script = await store.readFile(r.system, 'ipxe');
        if (!script) return notFound();
        const cur = (await store.get(r.system))!;
        if (!live(cur)) return notFound();
        await advance(cur, cur.state === 'installing' ? 'installing' : 'booting');
        return { status: send(200, script), system: r.system };
      });
    }
    if (req.method === 'GET' && route === 'install' && parts.length === 2 && arg) {
      const r = await store.bySystemOfToken(arg);
      if (!live(r)) return notFound();
      return serial(r.system, async () => {
        const answer = await store.readFile(r.system, 'answer');
        const cur = await store.get(r.system);
        if (!answer || !live(cur) || cur.tokenHash !== r.tokenHash) return notFound();
        await advance(cur, 'installing');
        return { status: send(200, answer), system: r.system };
      });
    }
    if (req.method === 'POST' && (route === 'built' || route === 'failed' || route === 'progress') && parts.length === 2 && arg) {
      const r = await store.bySystemOfToken(arg);
      if (!live(r)) {
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
          // The installer posts the new system's SSH host key with `built`; anything else is ignored.
          const key = body.toString('utf8').trim();
          await advance(cur, 'built', { tokenHash: undefined, expiresAt: undefined, ...(isOpenSshPublicKey(key) ? { hostKey: key } : {}) });
        } else await advance(cur, 'failed', { failureLog: redactLog(body.toString('utf8'), arg), tokenHash: undefined, expiresAt: undefined });
        return { status: send(204), system: r.system };
      });
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && route === 'mirror' && arg && mirrors[arg]) {
      return { status: await serveFile(mirrors[arg]!, parts.slice(2), req, res) };
    }
    req.resume();
    return notFound();
  };

  const server = http.createServer((req, res) => {
    handle(req, res).then(
      ({ status, system }) => o.onRequest?.({ method: req.method ?? '?', path: shorten(req.url ?? ''), status, ...(system ? { system } : {}) }),
      (e: unknown) => {
        o.log.error({ err: (e as Error).message, path: shorten(req.url ?? '') }, 'provisioning: request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
        o.onRequest?.({ method: req.method ?? '?', path: shorten(req.url ?? ''), status: 500 });
      },
    );
  });
  server.requestTimeout = 120_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  const [host, port] = splitListen(o.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  o.log.info({ listen: `${addr.address}:${addr.port}` }, 'provisioning server listening');
  return {
    url: `http://${addr.address}:${addr.port}`,
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
  if (i < 1 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`provisioning.listen "${listen}" is not host:port`);
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
  return url.replace(/\/(install|built|failed|progress)\/([A-Za-z0-9_-]{4})[^/?]*/, '/$1/$2…');
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

async function serveFile(root: string, rel: string[], req: http.IncomingMessage, res: http.ServerResponse): Promise<number> {
  const fail = () => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
    return 404;
  };
  if (rel.length === 0 || rel.some((p) => p === '' || p === '.' || p === '..' || p.includes('/') || p.includes('\0'))) return fail();
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
