/**
 * Webhooks when something needs a person: a run failed, drift appeared, drift went away, an
 * installation failed. One POST per event and hook, as generic JSON or in the message format of
 * Slack / Mattermost (incoming webhooks: `{"text": …}`, Markdown-ish) or Microsoft Teams (a
 * MessageCard, which Teams incoming webhooks and the "post to a channel when a webhook request is
 * received" workflow both accept). A hook is retried on a network error, 429 or 5xx with growing
 * delays; one that still fails is reported on stderr (its URL shown without path: Slack and Teams
 * put the secret there) and never fails the run.
 *
 * Payloads carry only what the run record holds (no secrets there; error text went through redact).
 */
import { hostname } from 'node:os';
import type { RunRecord } from '../history/types';

export type WebhookFormat = 'json' | 'slack' | 'mattermost' | 'teams';
export const WEBHOOK_FORMATS: WebhookFormat[] = ['json', 'slack', 'mattermost', 'teams'];

export interface Webhook {
  url: string;
  format: WebhookFormat;
}

export type EventType = 'run.failed' | 'drift.found' | 'drift.resolved' | 'install.failed';

export interface NotifyEvent {
  event: EventType;
  summary: string;
  /** One line per system or item. */
  details: string[];
  run: {
    id: number;
    kind: string;
    trigger: string;
    status: string;
    commit?: string;
    author?: string;
    host: string;
    startedAt: string;
    durationMs?: number;
  };
}

/** `slack=https://…`, `teams=https://…`, or a plain URL (generic JSON). */
export function parseWebhook(spec: string): Webhook {
  const m = /^(json|slack|mattermost|teams)=(.+)$/.exec(spec);
  const url = m ? m[2]! : spec;
  const format = (m ? m[1] : 'json') as WebhookFormat;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(
      `--notify "${spec.slice(0, 40)}": not a URL; write FORMAT=URL with FORMAT one of ${WEBHOOK_FORMATS.join(', ')}, e.g. slack=https://hooks.slack.com/services/…`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--notify: ${u.protocol} is not http(s)`);
  return { url, format };
}

/** The events a finished run gives rise to, compared with the previous run of the same kind. */
export function eventsFor(run: RunRecord, previous?: RunRecord): NotifyEvent[] {
  const head = {
    id: run.id,
    kind: run.kind,
    trigger: run.trigger,
    status: run.status,
    host: run.host,
    startedAt: run.startedAt,
    ...(run.commit ? { commit: run.commit } : {}),
    ...(run.author ? { author: run.author } : {}),
    ...(run.durationMs !== undefined ? { durationMs: run.durationMs } : {}),
  };
  const out: NotifyEvent[] = [];
  const commit = run.commit ? ` at ${run.commit.slice(0, 12)}` : '';
  if (run.status === 'failed' || run.status === 'error') {
    const failedSystems = (run.outcomes ?? []).filter((o) => o.status === 'failed');
    const details = run.error
      ? [run.error]
      : failedSystems.map((o) => `${o.system}: ${o.error?.kind}: ${o.error?.message}`);
    out.push({
      event: 'run.failed',
      summary: `shipshape ${run.kind} #${run.id} failed${commit} (${run.trigger})`,
      details,
      run: head,
    });
  }
  const installs = (run.outcomes ?? []).filter((o) => o.status === 'failed' && o.error?.kind === 'install');
  if (installs.length) {
    out.push({
      event: 'install.failed',
      summary: `installation failed on ${installs.map((o) => o.system).join(', ')}`,
      details: installs.map((o) => `${o.system}: ${o.error!.message}`),
      run: head,
    });
  }
  if (run.kind === 'drift' && run.drift) {
    const now = driftKeys(run);
    const before = previous?.drift ? driftKeys(previous) : new Map<string, string>();
    const found = [...now].filter(([k]) => !before.has(k)).map(([, v]) => v);
    const resolved = [...before].filter(([k]) => !now.has(k)).map(([, v]) => v);
    if (found.length)
      out.push({
        event: 'drift.found',
        summary: `drift found: ${found.length} difference(s)${commit}`,
        details: found,
        run: head,
      });
    if (resolved.length)
      out.push({
        event: 'drift.resolved',
        summary: `drift resolved: ${resolved.length} difference(s) match the manifests again`,
        details: resolved,
        run: head,
      });
  }
  return out;
}

function driftKeys(run: RunRecord): Map<string, string> {
  const m = new Map<string, string>();
  for (const i of run.drift?.items ?? [])
    m.set(
      `${i.system}/${i.kind}/${i.path}`,
      `${i.system} ${i.kind} ${i.path}: ${JSON.stringify(i.actual)} (manifest: ${JSON.stringify(i.desired)})`,
    );
  for (const o of run.drift?.orphans ?? [])
    m.set(
      `orphan/${o.system}/${o.kind}/${o.resourceId}`,
      `${o.system} ${o.kind} ${o.resourceId}: marked as ours, no manifest names it`,
    );
  return m;
}

export function payload(format: WebhookFormat, e: NotifyEvent): unknown {
  const lines = e.details.slice(0, 20).concat(e.details.length > 20 ? [`… and ${e.details.length - 20} more`] : []);
  const facts = `run #${e.run.id} · ${e.run.kind} · ${e.run.trigger}${e.run.commit ? ` · ${e.run.commit.slice(0, 12)}` : ''}${e.run.author ? ` · ${e.run.author}` : ''} · ${e.run.host}`;
  switch (format) {
    case 'slack':
    case 'mattermost':
      return { text: `*${e.summary}*\n${lines.map((l) => `• ${l}`).join('\n')}\n_${facts}_` };
    case 'teams':
      return {
        '@type': 'MessageCard',
        '@context': 'https://schema.org/extensions',
        summary: e.summary,
        themeColor: e.event === 'drift.resolved' ? '2E7D32' : 'C62828',
        title: e.summary,
        text: lines.map((l) => `- ${l}`).join('\n') + `\n\n${facts}`,
      };
    default:
      return { source: 'shipshape', host: hostname(), ...e };
  }
}

export interface DeliveryOptions {
  attempts?: number;
  baseDelayMs?: number;
  timeoutMs?: number;
}

/** Sends one payload, retrying transient failures; throws with what went wrong after the last attempt. */
export async function deliver(hook: Webhook, body: unknown, o: DeliveryOptions = {}): Promise<void> {
  const attempts = o.attempts ?? 4;
  let last = '';
  for (let i = 0; i < attempts; i++) {
    if (i) await new Promise((r) => setTimeout(r, (o.baseDelayMs ?? 1000) * 2 ** (i - 1)));
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'shipshape' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
      if (res.status !== 429 && res.status < 500) break; // a 4xx other than 429 will not get better
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      last = err.cause?.code ?? err.cause?.message ?? err.message;
    }
  }
  throw new Error(`webhook ${safeUrl(hook.url)} (${hook.format}): ${last}`);
}

/** Sends every event of a run to every hook; failures are reported through `warn`. */
export async function notifyRun(
  hooks: Webhook[],
  run: RunRecord,
  previous: RunRecord | undefined,
  warn: (l: string) => void,
  o?: DeliveryOptions,
): Promise<NotifyEvent[]> {
  const events = eventsFor(run, previous);
  await Promise.all(
    hooks.flatMap((h) =>
      events.map((e) =>
        deliver(h, payload(h.format, e), o).catch((err: Error) =>
          warn(`notification ${e.event} not delivered: ${err.message}`),
        ),
      ),
    ),
  );
  return events;
}

/** Scheme, host and port only: the path of a Slack or Teams hook is its secret. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(invalid URL)';
  }
}
