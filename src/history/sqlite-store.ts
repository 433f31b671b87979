/**
 * The embedded history store: SQLite (better-sqlite3) in the state dir, `history.db`. WAL mode and a busy
 * timeout let `serve`, a CLI run and `shipshape ui` on one host use the file at the same time; every
 * write is one transaction, so a killed process leaves either the whole record or its "running" row.
 * The schema keeps the queryable columns as columns and the full record as JSON (`doc`), so a
 * newer shipshape can add fields without a migration.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EstateSnapshot, HistoryQuery, RunRecord, RunSummary } from './types';
import { redactColumns, redactJson, redactRecord } from './redact';
import { runFilter, settled, summarise, type HistoryStore } from './store';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  trigger TEXT NOT NULL,
  commit_sha TEXT,
  author TEXT,
  user_name TEXT NOT NULL,
  host TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  status TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE TABLE IF NOT EXISTS run_systems (
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  system TEXT NOT NULL,
  PRIMARY KEY (run_id, system)
);
CREATE INDEX IF NOT EXISTS run_systems_system ON run_systems (system);
CREATE TABLE IF NOT EXISTS estate (
  key TEXT PRIMARY KEY,
  run_id INTEGER NOT NULL,
  doc TEXT NOT NULL
);
`;

export function historyFile(stateDir: string): string {
  return join(stateDir, 'history.db');
}

/** better-sqlite3 is synchronous; the methods are async only to share the interface with PostgreSQL. */
export class SqliteHistoryStore implements HistoryStore {
  readonly location: string;
  private readonly db: Database.Database;

  constructor(file: string, opts: { readonly?: boolean } = {}) {
    this.location = file;
    if (!opts.readonly) mkdirSync(join(file, '..'), { recursive: true });
    this.db = new Database(file, { readonly: !!opts.readonly, fileMustExist: !!opts.readonly, timeout: 10_000 });
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('foreign_keys = ON');
      this.db.exec(SCHEMA);
    }
  }

  /** Inserts the "running" row and returns its id. */
  async begin(record: Omit<RunRecord, 'id'>): Promise<number> {
    // Nothing reaches the database unredacted: a --repo URL's token, a secret echoed in an error.
    const r = redactRecord(record);
    const info = this.db
      .prepare(
        'INSERT INTO runs (kind, trigger, commit_sha, author, user_name, host, started_at, ended_at, status, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        r.kind,
        r.trigger,
        r.commit ?? null,
        r.author ?? null,
        r.user,
        r.host,
        r.startedAt,
        r.endedAt ?? null,
        r.status,
        '{}',
      );
    const id = Number(info.lastInsertRowid);
    await this.update({ ...r, id });
    return id;
  }

  /** Replaces the record (and its system index) in one transaction. */
  async update(record: RunRecord): Promise<void> {
    // The columns are redacted one by one; the record's JSON as one text (a plan's is large).
    const r = redactColumns(record);
    const doc = redactJson(record);
    this.db.transaction(() => {
      this.db
        .prepare(
          'UPDATE runs SET kind = ?, trigger = ?, commit_sha = ?, author = ?, ended_at = ?, status = ?, doc = ? WHERE id = ?',
        )
        .run(r.kind, r.trigger, r.commit ?? null, r.author ?? null, r.endedAt ?? null, r.status, doc, r.id);
      this.db.prepare('DELETE FROM run_systems WHERE run_id = ?').run(r.id);
      const ins = this.db.prepare('INSERT OR IGNORE INTO run_systems (run_id, system) VALUES (?, ?)');
      for (const s of r.systems) ins.run(r.id, s);
    })();
  }

  async get(id: number): Promise<RunRecord | undefined> {
    const row = this.db.prepare('SELECT doc FROM runs WHERE id = ?').get(id) as { doc: string } | undefined;
    return row ? settled(JSON.parse(row.doc) as RunRecord) : undefined;
  }

  /** Newest first. */
  async list(q: HistoryQuery = {}): Promise<RunSummary[]> {
    const { where, args } = runFilter(q, 'run_systems', () => '?');
    const sql = `SELECT doc FROM runs ${where} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, q.limit ?? 1000) as { doc: string }[];
    return rows.map((r) => settled(summarise(JSON.parse(r.doc) as RunRecord)));
  }

  /** The last finished run of a kind before `beforeId` (notifications compare against it). */
  async previous(kind: RunRecord['kind'], beforeId: number): Promise<RunRecord | undefined> {
    const row = this.db
      .prepare("SELECT doc FROM runs WHERE kind = ? AND id < ? AND status != 'running' ORDER BY id DESC LIMIT 1")
      .get(kind, beforeId) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as RunRecord) : undefined;
  }

  /** A value that changes whenever a run starts or ends: the status page polls it to push updates. */
  async version(): Promise<string> {
    const row = this.db.prepare('SELECT MAX(id) AS id, COUNT(ended_at) AS ended FROM runs').get() as {
      id: number | null;
      ended: number;
    };
    return `${row.id ?? 0}/${row.ended}`;
  }

  /** Deletes runs that started before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    return this.db.prepare('DELETE FROM runs WHERE started_at < ?').run(before.toISOString()).changes;
  }

  async saveEstate(e: EstateSnapshot): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO estate (key, run_id, doc) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, doc = excluded.doc',
      )
      .run('latest', e.runId, redactJson(e));
  }

  async estate(): Promise<EstateSnapshot | undefined> {
    const row = this.db.prepare("SELECT doc FROM estate WHERE key = 'latest'").get() as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as EstateSnapshot) : undefined;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
