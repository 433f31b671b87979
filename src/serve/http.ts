/**
 * The HTTP face of `shipshape serve`: /healthz (liveness: 200 while the process answers, with the
 * last run as information), /readyz (200 when every backend the site names accepts a connection,
 * 503 naming the site-config key of each that does not) and /metrics (Prometheus). A failed run
 * is not a reason to restart the process: the next run retries. Other routes (the status page)
 * are mounted through `extra`.
 */
import type { EndpointState } from './ready';
import type { OutcomeCode } from '../engine/outcome';
import { UserError } from '../engine/contract';
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
  /** Backend reachability; undefined while the site could not be loaded. */
  ready?: () => Promise<EndpointState[] | undefined>;
  extra?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export async function startServeHttp(
  o: ServeHttpOptions,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const [host, portText] = splitListen(o.listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(redact(o.metrics()));
    } else if (req.method === 'GET' && path === '/healthz') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(redact(JSON.stringify({ status: 'alive', ...o.health() })) + '\n');
    } else if (req.method === 'GET' && path === '/readyz') {
      void (o.ready?.() ?? Promise.resolve([])).then(
        (backends) => {
          const down = backends?.filter((b) => !b.reachable) ?? [];
          const ready = !!backends && down.length === 0;
          const reason = !backends
            ? 'the site config could not be loaded (see the last run)'
            : down.map((b) => `${b.key} ${b.host}:${b.port}: ${b.error}`).join('; ');
          res
            .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
            .end(
              redact(JSON.stringify({ ready, ...(ready ? {} : { reason }), backends: backends ?? [], ...o.health() })) +
                '\n',
            );
        },
        (e: Error) =>
          res
            .writeHead(503, { 'content-type': 'application/json' })
            .end(redact(JSON.stringify({ ready: false, reason: e.message })) + '\n'),
      );
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
  if (!m || Number(m[2]) > 65535)
    throw new UserError(
      `listen address "${listen}" must be HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9464`,
      'invalid',
    );
  return [m[1]!.replace(/^\[|\]$/g, ''), m[2]!];
}
