/**
 * `--wait-lock [DURATION]`: instead of failing when another run holds the run lock, wait for it
 * (polling once a second) up to DURATION, then fail as before. The lock itself is src/engine/lock.ts;
 * where several hosts work on one site, the shared lock in PostgreSQL (src/engine/shared-lock.ts)
 * is taken after it, with the same waiting.
 */
import { UserError } from '../engine/contract';
import { acquireLock, type HeldLock } from '../engine/lock';
import { acquireSharedLock, LOCK_SCOPE_ENV, sharedLockUrl, SharedLockHeld } from '../engine/shared-lock';

export const DEFAULT_WAIT = '10m';

/** `90`, `90s`, `5m`, `1h` → milliseconds. */
export function parseDuration(v: string, option = '--wait-lock'): number {
  const m = /^(\d+)\s*(s|m|h)?$/.exec(v.trim());
  if (!m) throw new UserError(`${option} "${v}": write a duration like 90s, 5m or 1h`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
}

export async function acquireLockWaiting(
  stateDir: string,
  command: string,
  waitMs: number,
  say: (line: string) => void,
  pollMs = 1000,
  env: NodeJS.ProcessEnv = process.env,
  /** The site this run works on (repos with sites/): the shared lock's scope unless $SHIPSHAPE_LOCK_SCOPE says. */
  site?: string,
  /** A shard of it (`--shard`): the scope becomes `<scope>/<shard>`, so two shards of one site never wait for each other. */
  shard?: string,
): Promise<HeldLock> {
  const until = Date.now() + waitMs;
  const local = await waiting(() => Promise.resolve(acquireLock(stateDir, command)), until, waitMs, say, pollMs);
  const url = sharedLockUrl(env);
  if (!url) return local;
  const scope = lockScope(env, site, shard);
  try {
    const shared = await waiting(() => acquireSharedLock(url, scope, command, env), until, waitMs, say, pollMs);
    return {
      ...local,
      release() {
        void shared.release();
        local.release();
      },
    };
  } catch (e) {
    local.release();
    throw e;
  }
}

/** The shared lock's scope: `$SHIPSHAPE_LOCK_SCOPE`, else the site (`default` for a repo with one site); `/<shard>` appended. */
export function lockScope(env: NodeJS.ProcessEnv, site?: string, shard?: string): string {
  const base = env[LOCK_SCOPE_ENV]?.trim() || site || 'default';
  return shard === undefined ? base : `${base}/${shard}`;
}

/** A held lock's error for a command that could have waited (apply without --wait-lock): it says how. */
export function suggestWaiting(e: unknown): unknown {
  if (!(e instanceof UserError) || !/holds the (shared )?lock .*; wait for it to finish$/.test(e.message)) return e;
  return new UserError(
    `${e.message}, or run again with --wait-lock [DURATION] to wait for it (default ${DEFAULT_WAIT})`,
  );
}

async function waiting<T>(
  take: () => Promise<T>,
  until: number,
  waitMs: number,
  say: (line: string) => void,
  pollMs: number,
): Promise<T> {
  let told = false;
  for (;;) {
    try {
      return await take();
    } catch (e) {
      const held = e instanceof SharedLockHeld || (e instanceof UserError && /holds the lock/.test(e.message));
      if (!held || Date.now() >= until)
        throw held && waitMs > 0
          ? new UserError(`${e.message} (waited ${Math.round(waitMs / 1000)}s with --wait-lock)`)
          : e;
      if (!told)
        say(
          `${e.message.replace(/; wait for it to finish$/, '')}: waiting up to ${Math.round((until - Date.now()) / 1000)}s (--wait-lock)`,
        );
      told = true;
      await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, until - Date.now()))));
    }
  }
}
