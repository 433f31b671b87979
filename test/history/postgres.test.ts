/**
 * The run history in PostgreSQL (several hosts, one history) and the shared run lock next to it,
 * against a real PostgreSQL server on loopback. The store cases run against SQLite too: both stores
 * must answer the same questions the same way.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { acquireLockWaiting, lockScope } from '../../src/cli/wait-lock';
import { acquireSharedLock, LOCK_NAMESPACE, scopeKey } from '../../src/engine/shared-lock';
import { RunRecorder } from '../../src/history/recorder';
import { openHistory, type HistoryStore } from '../../src/history/store';
import type { RunRecord } from '../../src/history/types';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startPostgres, type Postgres } from '../helpers/postgres';

let pg: Postgres;
let dir: string;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});
beforeEach(async () => {
  dir = tempDir('pg-history');
  // Each test starts from an empty history.
  const c = new Client({ connectionString: pg.url });
  await c.connect();
  await c.query('DROP TABLE IF EXISTS shipshape_run_systems, shipshape_runs, shipshape_estate');
  await c.end();
});
afterEach(() => {
  delete process.env.SHIPSHAPE_HISTORY_URL;
  removeDir(dir);
});

function run(over: Partial<Omit<RunRecord, 'id'>> = {}): Omit<RunRecord, 'id'> {
  return {
    kind: 'apply',
    trigger: 'cli',
    source: '/srv/site',
    user: 'ann',
    host: 'ops-1',
    startedAt: new Date().toISOString(),
    status: 'running',
    systems: [],
    ...over,
  };
}

describe.each([
  ['SQLite', () => openHistory(join(dir, 'state'), { env: {} })],
  ['PostgreSQL', () => openHistory(join(dir, 'state'), { env: { SHIPSHAPE_HISTORY_URL: pg.url } })],
])('the %s history store', (_name, open: () => Promise<HistoryStore>) => {
  test('records, finds by system, kind and time, and says when something changed', async () => {
    const s = await open();
    try {
      const v0 = await s.version();
      const a = await s.begin(run({ kind: 'plan', startedAt: '2026-11-01T10:00:00.000Z' }));
      const b = await s.begin(run());
      expect(await s.version()).not.toBe(v0);
      const v1 = await s.version();
      await s.update({
        ...run(),
        id: b,
        status: 'changed',
        endedAt: new Date().toISOString(),
        systems: ['db-01', 'web-01'],
      });
      expect(await s.version()).not.toBe(v1); // a run that ended is news for the status page
      expect((await s.get(b))!.status).toBe('changed');
      expect((await s.list({ system: 'web-01' })).map((r) => r.id)).toEqual([b]);
      expect((await s.list({ kind: 'plan' })).map((r) => r.id)).toEqual([a]);
      expect((await s.list({ since: new Date('2026-11-15') })).map((r) => r.id)).toEqual([b]);
      expect((await s.list()).map((r) => r.id)).toEqual([b, a]); // newest first
      expect((await s.previous('apply', b + 1))!.id).toBe(b);
      expect(await s.prune(new Date('2026-11-15'))).toBe(1);
      expect(await s.get(a)).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  test('a secret a backend echoed back never reaches the store', async () => {
    const s = await open();
    try {
      const id = await s.begin(run({ error: 'login refused: password=hunter2' }));
      await s.saveEstate({
        takenAt: 'now',
        runId: id,
        systems: [],
        observed: {},
        warnings: [],
        pending: { actions: [] } as never,
      });
      expect(JSON.stringify(await s.get(id))).not.toContain('hunter2');
      expect((await s.estate())!.runId).toBe(id);
    } finally {
      await s.close();
    }
  });
});

test('two hosts with their own state dirs write one history, and `shipshape history` on either lists both', async () => {
  process.env.SHIPSHAPE_HISTORY_URL = pg.url;
  for (const host of ['ci-runner', 'serve-host']) {
    const rec = new RunRecorder({ stateDir: join(dir, host), kind: 'drift', source: host, warn: () => undefined });
    await rec.finished({});
  }
  const listed = await runCli(['--state-dir', join(dir, 'a-third-host'), 'history', '--format', 'json']);
  expect(listed.err).toBe('');
  expect(JSON.parse(listed.out).runs.map((r: RunRecord) => r.source)).toEqual(['serve-host', 'ci-runner']);
});

test('the password may come from a file; a database that cannot be used is named without its password', async () => {
  const pwFile = join(dir, 'pw');
  writeFileSync(pwFile, pg.password + '\n');
  const withoutPw = pg.url.replace(`:${pg.password}@`, '@');
  const s = await openHistory(dir, {
    env: { SHIPSHAPE_HISTORY_URL: withoutPw, SHIPSHAPE_HISTORY_PASSWORD_FILE: pwFile },
  });
  await s.close();

  const wrong = pg.url.replace(pg.password, 'not-the-password');
  const err = await openHistory(dir, { env: { SHIPSHAPE_HISTORY_URL: wrong } }).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err?.message).toMatch(
    /the run history at postgresql:\/\/shipshape:\*\*\*@127\.0\.0\.1:\d+\/shipshape .*password authentication failed/,
  );
  expect(err?.message).not.toContain('not-the-password');
});

test('a run whose history database is down still runs, and says once where its history did not go', async () => {
  const lines: string[] = [];
  const rec = new RunRecorder({
    stateDir: dir,
    kind: 'apply',
    source: dir,
    warn: (l) => lines.push(l),
  });
  process.env.SHIPSHAPE_HISTORY_URL = 'postgresql://shipshape@127.0.0.1:1/shipshape';
  const down = new RunRecorder({ stateDir: dir, kind: 'apply', source: dir, warn: (l) => lines.push(l) });
  expect(await down.finished({})).toBeUndefined();
  expect(lines).toEqual([expect.stringMatching(/run history not recorded in .*127\.0\.0\.1:1.*ECONNREFUSED/)]);
  delete process.env.SHIPSHAPE_HISTORY_URL;
  expect((await rec.finished({}))!.status).toBe('ok'); // the SQLite one, opened before, is unaffected
});

describe('the shared run lock', () => {
  test('one holder per scope across hosts; the waiting run names the holder; another scope runs alongside', async () => {
    const first = await acquireSharedLock(pg.url, 'site-a', 'apply', {});
    try {
      const second = await acquireSharedLock(pg.url, 'site-a', 'apply', {}).then(
        () => 'acquired',
        (e: Error) => e.message,
      );
      expect(second).toMatch(/another run holds the shared lock for "site-a" \(shipshape apply \(.+ pid \d+\)/);
      expect(second).not.toContain(pg.password);
      const other = await acquireSharedLock(pg.url, 'site-b', 'apply', {});
      await other.release();
    } finally {
      await first.release();
    }
    const again = await acquireSharedLock(pg.url, 'site-a', 'apply', {});
    await again.release();
  });

  test('apply waits for the shared lock with --wait-lock, holding its own state dir lock meanwhile', async () => {
    const env = { SHIPSHAPE_LOCK_URL: pg.url, SHIPSHAPE_LOCK_SCOPE: 'site-a' };
    const other = await acquireSharedLock(pg.url, 'site-a', 'apply on another host', {});
    const said: string[] = [];
    const started = Date.now();
    setTimeout(() => void other.release(), 1500);
    const lock = await acquireLockWaiting(join(dir, 'state'), 'apply', 20_000, (l) => said.push(l), 200, env);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(said[0]).toMatch(/another run holds the shared lock for "site-a".*waiting up to \d+s/);
    lock.release();
    // Without --wait-lock the same situation fails at once, and the state dir lock is given back.
    const holder = await acquireSharedLock(pg.url, 'site-a', 'apply', {});
    try {
      await expect(acquireLockWaiting(join(dir, 'state'), 'apply', 0, () => undefined, 200, env)).rejects.toThrow(
        /another run holds the shared lock/,
      );
      const local = await acquireLockWaiting(join(dir, 'state'), 'apply', 0, () => undefined, 200, {});
      local.release();
    } finally {
      await holder.release();
    }
  }, 30_000);

  test("two shards of one site hold their shared locks at once (from their own state dirs); a shard's second run is refused", async () => {
    const env = { SHIPSHAPE_LOCK_URL: pg.url };
    const dev = await acquireLockWaiting(join(dir, 'dev'), 'apply', 0, () => undefined, 200, env, 'berlin', 'dev');
    try {
      const live = await acquireLockWaiting(join(dir, 'live'), 'apply', 0, () => undefined, 200, env, 'berlin', 'live');
      live.release();
      // Another host working on shard dev of berlin (its own state dir, so only the shared lock stands between them).
      await expect(
        acquireLockWaiting(join(dir, 'dev-elsewhere'), 'apply', 0, () => undefined, 200, env, 'berlin', 'dev'),
      ).rejects.toThrow(/another run holds the shared lock for "berlin\/dev"/);
      // The whole site's scope is not a shard's: a site without shards keeps its own lock.
      const site = await acquireSharedLock(pg.url, lockScope(env, 'berlin'), 'apply', {});
      await site.release();
    } finally {
      dev.release();
    }
    expect(lockScope({ SHIPSHAPE_LOCK_SCOPE: 'eu' }, 'berlin', 'dev')).toBe('eu/dev');
  }, 30_000);

  test('a holder killed with SIGKILL gives the lock back: nothing is left to clean up', async () => {
    const key = scopeKey('site-a');
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const {Client}=require('pg');const c=new Client({connectionString:process.argv[1]});` +
          `c.connect().then(()=>c.query('SELECT pg_advisory_lock($1,$2)',[${LOCK_NAMESPACE},${key}])).then(()=>console.log('held'));` +
          `setInterval(()=>{},1000);`,
        pg.url,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() },
    );
    await new Promise<void>((resolve) => child.stdout!.on('data', () => resolve()));
    await expect(acquireSharedLock(pg.url, 'site-a', 'apply', {})).rejects.toThrow(/holds the shared lock/);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const deadline = Date.now() + 10_000;
    let got: Awaited<ReturnType<typeof acquireSharedLock>> | undefined;
    while (!got && Date.now() < deadline)
      got = await acquireSharedLock(pg.url, 'site-a', 'apply', {}).catch(
        () => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      );
    expect(got).toBeDefined();
    await got!.release();
  }, 30_000);
});

test('a history database off this host is reached over verified TLS unless the URL says otherwise', async () => {
  const { poolConfig } = await import('../../src/history/pg-store');
  expect(poolConfig('postgresql://shipshape@db.example.com/shipshape', {}).ssl).toEqual({ rejectUnauthorized: true });
  expect(poolConfig('postgresql://shipshape@db.example.com/shipshape?sslmode=disable', {}).ssl).toBeUndefined();
  expect(poolConfig(pg.url, {}).ssl).toBeUndefined(); // loopback
  expect(() => poolConfig('mysql://db.example.com/x', {})).toThrow(/must start with postgresql:\/\//);
});
