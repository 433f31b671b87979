/** Webhooks against a local receiver: which events a run gives, each format's body, retries, no secrets. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort, removeDir, tempDir } from '../../test/helpers/daemon';
import { RunRecorder } from '../history/recorder';
import type { RunRecord } from '../history/types';
import { deliver, eventsFor, notifyRun, parseWebhook, payload } from './webhook';

interface Received {
  path: string;
  body: any;
}
let server: Server;
let url: string;
let received: Received[];
/** Status codes to answer with, in order; 200 once they run out. */
let answers: number[];

beforeEach(async () => {
  received = [];
  answers = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(body) });
      res.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(() => new Promise<void>((r) => server.close(() => r())));

const base: RunRecord = {
  id: 7,
  kind: 'drift',
  trigger: 'schedule */15 * * * *',
  source: '/repo',
  commit: 'a'.repeat(40),
  user: 'shipshape',
  host: 'ops-1',
  startedAt: '2026-11-30T10:00:00.000Z',
  status: 'drift',
  systems: [],
};
const driftRun = (items: { system: string; path: string; actual: unknown }[], id = 7): RunRecord => ({
  ...base,
  id,
  status: items.length ? 'drift' : 'ok',
  drift: {
    formatVersion: 1,
    createdAt: base.startedAt,
    items: items.map((i) => ({ ...i, kind: 'vm' as const, desired: 2, firstSeen: base.startedAt })),
    orphans: [],
    pending: [],
    disagreements: [],
    drifted: items.length > 0,
  },
});

test('drift found and drift resolved are told once, against the previous drift run', () => {
  const a = driftRun([{ system: 'web-01', path: 'cpu', actual: 3 }], 1);
  const b = driftRun(
    [
      { system: 'web-01', path: 'cpu', actual: 3 },
      { system: 'db-01', path: 'memoryMiB', actual: 1024 },
    ],
    2,
  );
  const c = driftRun([], 3);
  expect(eventsFor(a).map((e) => e.event)).toEqual(['drift.found']);
  const found = eventsFor(b, a);
  expect(found.map((e) => [e.event, e.details])).toEqual([['drift.found', ['db-01 vm memoryMiB: 1024 (manifest: 2)']]]);
  expect(eventsFor(b, b)).toEqual([]); // the same drift again is not news
  const resolved = eventsFor(c, b);
  expect(resolved.map((e) => e.event)).toEqual(['drift.resolved']);
  expect(resolved[0]!.details).toHaveLength(2);
});

test('a failed apply gives run.failed, and install.failed when the install step failed', () => {
  const run: RunRecord = {
    ...base,
    kind: 'apply',
    status: 'failed',
    outcomes: [
      {
        system: 'web-03',
        status: 'failed',
        steps: [],
        error: { kind: 'install', code: 'failed', message: 'installer reported failed' },
      },
    ],
  };
  const ev = eventsFor(run);
  expect(ev.map((e) => e.event)).toEqual(['run.failed', 'install.failed']);
  expect(ev[0]!.details).toEqual(['web-03: install: installer reported failed']);
});

test('each format is what Slack/Mattermost and Teams incoming webhooks accept; retries 5xx, gives up on 4xx', async () => {
  const [e] = eventsFor(driftRun([{ system: 'web-01', path: 'cpu', actual: 3 }]));
  expect(payload('slack', e!)).toEqual({
    text: expect.stringMatching(
      /^\*drift found: 1 difference\(s\) at a{12}\*\n• web-01 vm cpu: 3 \(manifest: 2\)\n_run #7 · drift · schedule/,
    ),
  });
  expect(payload('teams', e!)).toMatchObject({
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    title: expect.stringMatching(/^drift found/),
    text: expect.stringContaining('- web-01 vm cpu: 3'),
  });
  expect(payload('json', e!)).toMatchObject({
    source: 'shipshape',
    event: 'drift.found',
    run: { id: 7, commit: 'a'.repeat(40) },
  });

  answers = [503, 500];
  await deliver(parseWebhook(`slack=${url}/services/T000/B000/SECRETPATH`), payload('slack', e!), { baseDelayMs: 10 });
  expect(received.map((r) => r.path)).toEqual([
    '/services/T000/B000/SECRETPATH',
    '/services/T000/B000/SECRETPATH',
    '/services/T000/B000/SECRETPATH',
  ]);

  received = [];
  answers = [404];
  const err = await deliver(parseWebhook(`teams=${url}/webhook/SECRETPATH`), {}, { baseDelayMs: 10 }).catch(
    (x: Error) => x.message,
  );
  expect(received).toHaveLength(1);
  expect(err).toBe(`webhook ${url}/… (teams): HTTP 404`); // the path (the hook's secret) is never printed
  expect(() => parseWebhook('discord=ftp://x')).toThrow(
    /not a URL; write FORMAT=URL with FORMAT one of json, slack, mattermost, teams/,
  );
});

test('a recorded run that fails notifies every hook, with the secret a backend echoed cut out; a dead hook does not fail the run', async () => {
  const dir = tempDir('notify');
  const warnings: string[] = [];
  try {
    const rec = new RunRecorder({
      stateDir: join(dir, 'state'),
      kind: 'apply',
      source: dir,
      warn: (l) => warnings.push(l),
      webhooks: [parseWebhook(`${url}/generic`), parseWebhook(`mattermost=${url}/hooks/abc`)],
    });
    await rec.failed(new Error('vSphere login as admin failed: password=hunter2 rejected'));
    expect(received.map((r) => r.path).sort()).toEqual(['/generic', '/hooks/abc']);
    const generic = received.find((r) => r.path === '/generic')!.body;
    expect(generic).toMatchObject({
      event: 'run.failed',
      run: { kind: 'apply', status: 'error', trigger: 'cli' },
      details: ['vSphere login as admin failed: password=(removed) rejected'],
    });
    expect(JSON.stringify(received)).not.toContain('hunter2');
    expect(warnings).toEqual([]);

    const closed = await freePort();
    const dead = await notifyRun(
      [parseWebhook(`http://127.0.0.1:${closed}/x`)],
      { ...base, status: 'error', error: 'x' },
      undefined,
      (l) => warnings.push(l),
      { baseDelayMs: 1, attempts: 2 },
    );
    expect(dead.map((e) => e.event)).toEqual(['run.failed']);
    expect(warnings).toEqual([
      `notification run.failed not delivered: webhook http://127.0.0.1:${closed}/… (json): ECONNREFUSED`,
    ]);
  } finally {
    removeDir(dir);
  }
});
