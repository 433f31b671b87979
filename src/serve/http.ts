/**
 * The HTTP face of `shipshape serve`: /healthz (200 while the loop is healthy, 503 after a failed
 * run, with the last run as JSON) and /metrics (Prometheus). Other routes can be mounted (the
 * provisioning server) through `extra`.
 */
import type { OutcomeCode } from '../engine/outcome';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { redact } from '../redact';

export interface LastRun {
  reason?: string;
  startedAt?: string;
  endedAt?: string;
  result?: 'ok' | 'failed' | 'drift';
  error?: string;
  /** Why the run did not converge, one outcome code per affected system (closed set, engine/outcome.ts). */
  codes?: Partial<Record<OutcomeCode, number>>;
}

export interface ServeHttpOptions {
  listen: string;
  metrics: () => string;
  health: () => { busy: boolean; last: LastRun };
  extra?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export async function startServeHttp(o: ServeHttpOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const [host, portText] = splitListen(o.listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(redact(o.metrics()));
    } else if (req.method === 'GET' && path === '/healthz') {
      const h = o.health();
      res.writeHead(h.last.result === 'failed' ? 503 : 200, { 'content-type': 'application/json' }).end(redact(JSON.stringify(h)) + '\n');
    } else if (!o.extra?.(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address}:${addr.port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function splitListen(listen: string): [string, string] {
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new Error(`listen address "${listen}" must be HOST:PORT, e.g. 127.0.0.1:9464`);
  return [m[1]!.replace(/^\[|\]$/g, ''), m[2]!];
}
