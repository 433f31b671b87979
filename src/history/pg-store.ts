/**
 * The run history in PostgreSQL (`$SHIPSHAPE_HISTORY_URL`), for several hosts that share one history.
 * Tables are prefixed `shipshape_` so the database can be shared; the schema is created on first use
 * under a transaction-scoped advisory lock, because `CREATE TABLE IF NOT EXISTS` from two hosts at
 * once can still fail on the catalog's unique index (a known PostgreSQL behaviour).
 */
import { readFileSync } from 'node:fs';
import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { parse } from 'pg-connection-string';
import { UserError } from '../engine/contract';
import { redactColumns, redactJson, redactRecord } from './redact';
import { runFilter, settled, summarise, type HistoryStore } from './store';
import type { EstateSnapshot, HistoryQuery, RunRecord, RunSummary } from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS shipshape_runs (
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL,
  trigger TEXT NOT NULL,
  commit_sha TEXT,
  author TEXT,
  user_name TEXT NOT NULL,
  host TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  ended_at TIMESTAMPTZ,
  status TEXT NOT NULL,
  doc JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS shipshape_runs_started ON shipshape_runs (started_at);
CREATE TABLE IF NOT EXISTS shipshape_run_systems (
  run_id BIGINT NOT NULL REFERENCES shipshape_runs (id) ON DELETE CASCADE,
  system TEXT NOT NULL,
  PRIMARY KEY (run_id, system)
);
CREATE INDEX IF NOT EXISTS shipshape_run_systems_system ON shipshape_run_systems (system);
CREATE TABLE IF NOT EXISTS shipshape_estate (
  key TEXT PRIMARY KEY,
  run_id BIGINT NOT NULL,
  doc JSONB NOT NULL
);
`;

/** Any fixed number: serialises schema creation among shipshape processes only. */
const SCHEMA_LOCK = 0x5e1f5a9e;

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1|\/.*)$/;

/**
 * Connection settings from the URL, with TLS verified by default: a server that is not on loopback
 * (or a Unix socket) is reached over TLS with its certificate checked against the system CAs or the
 * URL's `sslrootcert`; only an explicit `sslmode=disable` turns TLS off. The password comes from the
 * URL, `$PGPASSWORD` (libpq's own variable) or the file named by `$SHIPSHAPE_HISTORY_PASSWORD_FILE`.
 */
export function poolConfig(url: string, env: NodeJS.ProcessEnv): PoolConfig {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(url);
  } catch (e) {
    throw new UserError(`SHIPSHAPE_HISTORY_URL is not a PostgreSQL URL (${(e as Error).message})`);
  }
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new UserError(`SHIPSHAPE_HISTORY_URL must start with postgresql:// (it is ${safeUrl(url)})`);
  const host = parsed.host ?? 'localhost';
  const sslmode = new URL(url).searchParams.get('sslmode');
  let connectionString = url;
  const file = env.SHIPSHAPE_HISTORY_PASSWORD_FILE;
  if (!parsed.password && file) {
    // Into the URL: pg lets the connection string's fields override a separate `password`.
    const u = new URL(url);
    try {
      u.password = encodeURIComponent(readFileSync(file, 'utf8').trim());
    } catch (e) {
      throw new UserError(`SHIPSHAPE_HISTORY_PASSWORD_FILE: cannot read ${file}: ${(e as Error).message}`);
    }
    connectionString = u.toString();
  }
  const config: PoolConfig = { connectionString, max: 4, connectionTimeoutMillis: 10_000 };
  if (!sslmode && !LOOPBACK.test(host)) config.ssl = { rejectUnauthorized: true };
  return config;
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

type Row = { doc: RunRecord };

/** `fn` on one connection inside BEGIN … COMMIT; rolled back when it throws. */
async function inTransaction(pool: Pool, fn: (c: PoolClient) => Promise<void>): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await fn(c);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

export class PgHistoryStore implements HistoryStore {
  private constructor(
    private readonly pool: Pool,
    readonly location: string,
  ) {}

  static async connect(url: string, env: NodeJS.ProcessEnv = process.env): Promise<PgHistoryStore> {
    const pool = new Pool(poolConfig(url, env));
    // An idle client that loses its server emits 'error' on the pool; without a listener Node exits.
    pool.on('error', () => undefined);
    const store = new PgHistoryStore(pool, safeUrl(url));
    try {
      await inTransaction(pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await c.query(SCHEMA);
      });
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new UserError(
        `the run history at ${store.location} (SHIPSHAPE_HISTORY_URL) cannot be used: ${(e as Error).message}`,
      );
    }
    return store;
  }

  async begin(record: Omit<RunRecord, 'id'>): Promise<number> {
    const r = redactRecord(record);
    const res = await this.pool.query<{ id: string }>(
      `INSERT INTO shipshape_runs (kind, trigger, commit_sha, author, user_name, host, started_at, ended_at, status, doc)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '{}') RETURNING id`,
      [r.kind, r.trigger, r.commit ?? null, r.author ?? null, r.user, r.host, r.startedAt, r.endedAt ?? null, r.status],
    );
    const id = Number(res.rows[0]!.id);
    await this.update({ ...r, id });
    return id;
  }

  async update(record: RunRecord): Promise<void> {
    // The columns are redacted one by one; the record's JSON as one text (a plan's is large).
    const r = redactColumns(record);
    const doc = redactJson(record);
    await inTransaction(this.pool, async (c) => {
      await c.query(
        'UPDATE shipshape_runs SET kind = $1, trigger = $2, commit_sha = $3, author = $4, ended_at = $5, status = $6, doc = $7 WHERE id = $8',
        [r.kind, r.trigger, r.commit ?? null, r.author ?? null, r.endedAt ?? null, r.status, doc, r.id],
      );
      await c.query('DELETE FROM shipshape_run_systems WHERE run_id = $1', [r.id]);
      if (r.systems.length)
        await c.query(
          'INSERT INTO shipshape_run_systems (run_id, system) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING',
          [r.id, r.systems],
        );
    });
  }

  async get(id: number): Promise<RunRecord | undefined> {
    const res = await this.pool.query<Row>('SELECT doc FROM shipshape_runs WHERE id = $1', [id]);
    const doc = res.rows[0]?.doc;
    return doc ? settled(doc) : undefined;
  }

  async list(q: HistoryQuery = {}): Promise<RunSummary[]> {
    const { where, args } = runFilter(q, 'shipshape_run_systems', (n) => `$${n}`);
    args.push(q.limit ?? 1000);
    const res = await this.pool.query<Row>(
      `SELECT doc FROM shipshape_runs ${where} ORDER BY id DESC LIMIT $${args.length}`,
      args,
    );
    return res.rows.map((r) => settled(summarise(r.doc)));
  }

  async previous(kind: RunRecord['kind'], beforeId: number): Promise<RunRecord | undefined> {
    const res = await this.pool.query<Row>(
      "SELECT doc FROM shipshape_runs WHERE kind = $1 AND id < $2 AND status != 'running' ORDER BY id DESC LIMIT 1",
      [kind, beforeId],
    );
    return res.rows[0]?.doc;
  }

  async version(): Promise<string> {
    const res = await this.pool.query<{ id: string | null; ended: string }>(
      'SELECT MAX(id) AS id, COUNT(ended_at) AS ended FROM shipshape_runs',
    );
    const row = res.rows[0]!;
    return `${row.id ?? 0}/${row.ended}`;
  }

  async prune(before: Date): Promise<number> {
    const res = await this.pool.query('DELETE FROM shipshape_runs WHERE started_at < $1', [before.toISOString()]);
    return res.rowCount ?? 0;
  }

  async saveEstate(e: EstateSnapshot): Promise<void> {
    await this.pool.query(
      `INSERT INTO shipshape_estate (key, run_id, doc) VALUES ('latest', $1, $2)
       ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, doc = excluded.doc`,
      [e.runId, redactJson(e)],
    );
  }

  async estate(): Promise<EstateSnapshot | undefined> {
    const res = await this.pool.query<{ doc: EstateSnapshot }>("SELECT doc FROM shipshape_estate WHERE key = 'latest'");
    return res.rows[0]?.doc;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
