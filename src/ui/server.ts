/**
 * The status page's routes, mounted on serve's listen address or run alone by `shipshape ui`.
 * Read-only (GET only) unless serve enables the authenticated "Apply this plan" button
 * (apply-button.ts): then one POST route, /apply. /events is a Server-Sent Events stream: the page's
 * script reloads its main part when the history changes. The history is polled (one cheap query a
 * second, shared by all clients) rather than signalled in-process, so runs made by another
 * process — a CLI apply next to `shipshape ui`, a CI job on the same state dir — show up too.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InstallStore, installStateDir } from '../providers/install/store';
import { openHistory, type HistoryStore } from '../history/store';
import { splitListen } from '../serve/http';
import { layout, UI_JS } from './layout';
import { html } from './html';
import { estateView, runsTable, runView, systemView, type ViewData } from './views';
import {
  applicable,
  ApplyTokens,
  planId,
  readForm,
  sameOrigin,
  signedInUser,
  type UiApplyOptions,
} from './apply-button';

export interface UiRoutes {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

export function uiRoutes(stateDir: string, pollMs = 1000, applyOpts?: UiApplyOptions): UiRoutes {
  const tokens = applyOpts ? new ApplyTokens() : undefined;
  let store: Promise<HistoryStore> | undefined;
  /** Undefined until a run wrote a history (SQLite); a store that failed to open is tried again next time. */
  const open = async (): Promise<HistoryStore | undefined> => {
    store ??= openHistory(stateDir, { mustExist: true });
    try {
      return await store;
    } catch {
      store = undefined;
      return undefined;
    }
  };
  const clients = new Set<ServerResponse>();
  let version = '';
  let polling = false;
  const timer = setInterval(() => {
    if (!clients.size || polling) return;
    polling = true;
    void (async () => {
      try {
        const v = (await (await open())?.version()) ?? '';
        if (v !== version) {
          version = v;
          for (const c of clients) c.write(`event: runs\ndata: ${v}\n\n`);
        }
      } catch {
        /* the store is busy or not there yet: the next tick tries again */
      } finally {
        polling = false;
      }
    })();
  }, pollMs);
  timer.unref();

  const data = async (req?: IncomingMessage): Promise<ViewData> => {
    const s = await open();
    const runs = (await s?.list({ limit: 50 })) ?? [];
    const lastDrift = (await s?.list({ kind: 'drift', limit: 10 }))?.find(
      (r) => r.status === 'ok' || r.status === 'drift',
    );
    const driftRun = lastDrift ? await s!.get(lastDrift.id) : undefined;
    let installs: ViewData['installs'] = [];
    try {
      installs = await new InstallStore(installStateDir(stateDir)).all();
    } catch {
      /* no install state on this host */
    }
    const estate = await s?.estate();
    const user = req && applyOpts ? signedInUser(req, applyOpts) : undefined;
    const apply =
      user && estate && tokens && !estate.pending.readOnly && applicable(estate.pending) > 0
        ? { user, plan: planId(estate.pending), token: tokens.token(user, planId(estate.pending)) }
        : undefined;
    return {
      ...(estate ? { estate } : {}),
      ...(apply ? { apply } : {}),
      runs,
      ...(driftRun?.drift ? { drift: { run: lastDrift!, report: driftRun.drift } } : {}),
      installs,
      now: Date.now(),
    };
  };
  const page = async (res: ServerResponse, title: string, body: ReturnType<typeof html>, status = 200) => {
    const v = (await (await open())?.version().catch(() => '')) ?? '';
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy':
        "default-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    });
    res.end(layout(title, body, { version: v }));
  };
  const refuse = (res: ServerResponse, status: number, why: string) =>
    page(
      res,
      'Not applied',
      html`<h2>Nothing was applied</h2>
        <p>${why}</p>
        <p><a href="/#pending">Back to the pending plan</a></p>`,
      status,
    );
  /** POST /apply: every check passes, or nothing happens and the page says why. */
  const postApply = async (req: IncomingMessage, res: ServerResponse) => {
    const user = signedInUser(req, applyOpts!);
    if (!user) return refuse(res, 403, 'Applying needs a sign-in through the proxy in front of shipshape.');
    if (!sameOrigin(req)) return refuse(res, 403, 'The form was posted from another site.');
    const form = await readForm(req);
    const id = form.get('plan') ?? '';
    if (!tokens!.valid(user, id, form.get('token') ?? ''))
      return refuse(res, 403, 'The form is not one this server gave you (or it restarted since): reload the page.');
    const estate = await (await open())?.estate();
    if (!estate || planId(estate.pending) !== id)
      return refuse(
        res,
        409,
        'The pending plan changed since the page was loaded: review the new one before applying it.',
      );
    if (estate.pending.readOnly || applicable(estate.pending) === 0)
      return refuse(res, 409, 'The pending plan has nothing to apply.');
    await applyOpts!.apply(estate.pending, user);
    res.writeHead(303, { location: '/runs', 'cache-control': 'no-store' }).end();
  };
  const fail = (res: ServerResponse, e: unknown) => {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`the status page could not read the history: ${(e as Error).message}\n`);
  };

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      if (req.method === 'POST' && path === '/apply' && applyOpts) {
        postApply(req, res).catch((e) => fail(res, e));
        return true;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      if (path === '/ui.js') {
        res
          .writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' })
          .end(UI_JS);
        return true;
      }
      if (path === '/events') {
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-store',
          connection: 'keep-alive',
        });
        clients.add(res);
        void open()
          .then((s) => s?.version())
          .then(
            (v) => res.write(`retry: 3000\nevent: runs\ndata: ${v ?? ''}\n\n`),
            () => res.write('retry: 3000\n\n'),
          );
        req.on('close', () => clients.delete(res));
        return true;
      }
      const runMatch = /^\/runs\/(\d+)$/.exec(path);
      const sysMatch = /^\/systems\/([a-z0-9-]{1,63})$/.exec(path);
      if (path === '/') {
        data(req)
          .then((d) => page(res, 'Estate', estateView(d)))
          .catch((e) => fail(res, e));
      } else if (path === '/runs') {
        data()
          .then((d) =>
            page(
              res,
              'Runs',
              html`<h2>Runs</h2>
                ${runsTable(d.runs, d.now)}`,
            ),
          )
          .catch((e) => fail(res, e));
      } else if (runMatch) {
        open()
          .then((s) => s?.get(Number(runMatch[1])))
          .then((r) =>
            r
              ? page(res, `Run #${r.id}`, runView(r, Date.now()))
              : page(
                  res,
                  'Not found',
                  html`<h2>No run ${runMatch[1]}</h2>
                    <p>It may be older than the retention.</p>`,
                  404,
                ),
          )
          .catch((e) => fail(res, e));
      } else if (sysMatch) {
        const name = sysMatch[1]!;
        data()
          .then(async (d) =>
            page(res, name, systemView(name, d, (await (await open())?.list({ system: name, limit: 50 })) ?? [])),
          )
          .catch((e) => fail(res, e));
      } else {
        return false;
      }
      return true;
    },
    close() {
      clearInterval(timer);
      for (const c of clients) c.end();
      clients.clear();
      void store?.then((s) => s.close()).catch(() => undefined);
      store = undefined;
    },
  };
}

/** `shipshape ui`: the status page alone, on a laptop or next to a CLI workflow. */
export async function startUi(
  stateDir: string,
  listen: string,
  pollMs?: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const routes = uiRoutes(stateDir, pollMs);
  const server = createServer((req, res) => {
    if (!routes.handle(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  const [host, port] = splitListen(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: async () => {
      routes.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
