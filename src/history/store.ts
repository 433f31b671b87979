/**
 * Where the run history lives. Two stores with one interface:
 * - SQLite in the state dir (`history.db`), the embedded default: one host, nothing to run;
 * - PostgreSQL, when `$SHIPSHAPE_HISTORY_URL` names a database: several hosts (a `serve` per site,
 *   CI runners, a laptop running `shipshape ui`) write and read one history that survives any of them.
 * Both keep the queryable columns as columns and the full (redacted) record as JSON.
 */
import { existsSync } from 'node:fs';
import { UserError } from '../engine/contract';
import { holderGone } from '../engine/lock';
import type { EstateSnapshot, HistoryQuery, RunRecord, RunSummary } from './types';

export interface HistoryStore {
  /** What to tell a person where the history is (a file path, or the database URL without its password). */
  readonly location: string;
  /** Inserts the "running" row and returns its id. */
  begin(record: Omit<RunRecord, 'id'>): Promise<number>;
  /** Replaces the record (and its system index) in one transaction. */
  update(record: RunRecord): Promise<void>;
  get(id: number): Promise<RunRecord | undefined>;
  /** Newest first. */
  list(q?: HistoryQuery): Promise<RunSummary[]>;
  /** The last finished run of a kind before `beforeId` (notifications compare against it). */
  previous(kind: RunRecord['kind'], beforeId: number): Promise<RunRecord | undefined>;
  /** A value that changes whenever a run starts or ends: the status page polls it to push updates. */
  version(): Promise<string>;
  /** Deletes runs that started before `before`; returns how many. */
  prune(before: Date): Promise<number>;
  saveEstate(e: EstateSnapshot): Promise<void>;
  estate(): Promise<EstateSnapshot | undefined>;
  close(): Promise<void>;
}

/** The environment variable that moves the history to PostgreSQL. */
export const HISTORY_URL_ENV = 'SHIPSHAPE_HISTORY_URL';

export interface OpenOptions {
  /** Commands that only read (history, show, ui) must not create an empty SQLite file. */
  mustExist?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Opens the store this host is configured for. Throws a UserError that says what to do. */
export async function openHistory(stateDir: string, opts: OpenOptions = {}): Promise<HistoryStore> {
  const env = opts.env ?? process.env;
  const url = env[HISTORY_URL_ENV]?.trim();
  if (url) {
    // Loaded only when used: a site without PostgreSQL never loads the driver.
    const { PgHistoryStore } = await import('./pg-store');
    return PgHistoryStore.connect(url, env);
  }
  const { SqliteHistoryStore, historyFile } = await import('./sqlite-store');
  const file = historyFile(stateDir);
  if (opts.mustExist && !existsSync(file))
    throw new UserError(
      `no run history in ${file} yet: it is written by plan, apply, drift and serve (use --state-dir if they ran with another one, or set ${HISTORY_URL_ENV} if the history is in PostgreSQL)`,
    );
  return new SqliteHistoryStore(file);
}

/**
 * A record still `running` whose process on this host is gone (killed, or the host restarted) never ends by
 * itself: it is read as the error it was, saying so, instead of a run that seems to go on for ever.
 */
export function settled<T extends RunSummary>(r: T): T {
  if (r.status !== 'running' || r.pid === undefined) return r;
  const gone = holderGone({ host: r.host, pid: r.pid, ...(r.procStart ? { procStart: r.procStart } : {}) });
  if (!gone) return r;
  return {
    ...r,
    status: 'error',
    error: `the run did not finish: its process on ${r.host} ended during the run (${gone}; killed, or the host restarted)`,
  };
}

export function summarise(r: RunRecord): RunSummary {
  const { plan: _p, outcomes: _o, drift: _d, ...rest } = r;
  return rest;
}

/**
 * The WHERE clause of a history query and its arguments, one meaning for both stores: `param(n)` writes
 * the n-th placeholder in the store's SQL (`?` in SQLite, `$n` in PostgreSQL), `runSystems` names the
 * table of each run's systems. Empty when the query filters nothing.
 */
export function runFilter(
  q: HistoryQuery,
  runSystems: string,
  param: (n: number) => string,
): { where: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (clause: (p: string) => string, value: unknown) => {
    args.push(value);
    where.push(clause(param(args.length)));
  };
  if (q.system) add((p) => `id IN (SELECT run_id FROM ${runSystems} WHERE system = ${p})`, q.system);
  if (q.kind) add((p) => `kind = ${p}`, q.kind);
  if (q.since) add((p) => `started_at >= ${p}`, q.since.toISOString());
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}
