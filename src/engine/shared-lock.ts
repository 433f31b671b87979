/**
 * The run lock for several hosts that work on one site: a PostgreSQL session-level advisory lock
 * (`pg_try_advisory_lock`), next to the run history, instead of a home-made protocol. The server
 * holds it for as long as the session lives: a holder that crashes or loses its network gives it
 * back when PostgreSQL notices the session is gone, and nothing is left to clean up.
 *
 * The lock key is two 32-bit numbers: a fixed one for shipshape and a hash of the scope (the site,
 * or `$SHIPSHAPE_LOCK_SCOPE`), so unrelated users of advisory locks in a shared database never
 * collide with ours. The holder names itself in `application_name`, which is how a waiting run can
 * say who holds the lock (pg_locks joined with pg_stat_activity).
 *
 * The file lock (lock.ts) is still taken first: it keeps two runs on one host from sharing a state dir.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Client as PgClient } from 'pg';
import { UserError } from './contract';

/** shipshape's namespace among advisory locks: the first of the two keys. */
export const LOCK_NAMESPACE = 0x5e1f;

export const LOCK_URL_ENV = 'SHIPSHAPE_LOCK_URL';
export const LOCK_SCOPE_ENV = 'SHIPSHAPE_LOCK_SCOPE';

/** Where the shared lock lives: `$SHIPSHAPE_LOCK_URL`, else the history's database; none → file lock only. */
export function sharedLockUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[LOCK_URL_ENV]?.trim() || env.SHIPSHAPE_HISTORY_URL?.trim() || undefined;
}

/** A positive 31-bit number from the scope (pg_locks shows it as an unsigned oid). */
export function scopeKey(scope: string): number {
  return createHash('sha256').update(scope).digest().readUInt32BE(0) & 0x7fffffff;
}

export interface SharedLock {
  scope: string;
  release(): Promise<void>;
}

/** Thrown when another session holds the lock: the message names it, like the file lock's. */
export class SharedLockHeld extends UserError {}

export async function acquireSharedLock(
  url: string,
  scope: string,
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SharedLock> {
  const me = `shipshape ${command} (${hostname()} pid ${process.pid})`.slice(0, 63);
  // Loaded here, not at start: most runs take no shared lock, and pg is a noticeable share of the CLI's start.
  const [{ Client }, { poolConfig, safeUrl }] = await Promise.all([import('pg'), import('../history/pg-store')]);
  const client: PgClient = new Client({ ...poolConfig(url, env), application_name: me });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw new UserError(
      `the shared run lock at ${safeUrl(url)} (${LOCK_URL_ENV} or SHIPSHAPE_HISTORY_URL) cannot be reached: ${(e as Error).message}; nothing was changed`,
    );
  }
  const key = scopeKey(scope);
  try {
    const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_NAMESPACE, key]);
    if (!got.rows[0]!.ok) {
      const who = await client.query<{ application_name: string; client_addr: string | null; since: Date }>(
        `SELECT a.application_name, a.client_addr::text AS client_addr, a.backend_start AS since
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2`,
        [LOCK_NAMESPACE, key],
      );
      const h = who.rows[0];
      const holder = h
        ? `${h.application_name || 'another session'}${h.client_addr ? ` from ${h.client_addr}` : ''}, connected since ${h.since.toISOString()}`
        : 'another session';
      throw new SharedLockHeld(
        `another run holds the shared lock for "${scope}" (${holder}) at ${safeUrl(url)}; wait for it to finish`,
      );
    }
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return {
    scope,
    // Ending the session releases the lock (and is what happens anyway when the process dies).
    release: () => client.end().catch(() => undefined),
  };
}
