/** Small concurrency helpers: a bounded parallel map, a gate, and retry with backoff for transient errors only. */
import { TransientError } from './contract';

/** Runs `fn` over `items` with at most `limit` in flight; never rejects (results carry errors). */
export async function mapPool<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i] as T) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** At most `limit` calls of the returned function run at once; the others wait their turn, first come first served. */
export function gate(limit: number): <R>(fn: () => Promise<R>) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    // A freed slot is handed straight to the longest waiter, so a newcomer never overtakes it.
    if (running >= Math.max(1, limit)) await new Promise<void>((r) => waiting.push(r));
    else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
}

export function isTransient(e: unknown): boolean {
  return (
    e instanceof TransientError ||
    (typeof e === 'object' && e !== null && (e as { transient?: unknown }).transient === true)
  );
}

/** Retries `fn` on transient errors with exponential backoff (and jitter); other errors pass straight through. */
export async function withRetry<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (e: unknown, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e) || attempt >= policy.attempts) throw e;
      onRetry?.(e, attempt);
      const delay = policy.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * Runs `fn` once per item, an item only after every item it depends on (`dependsOn`, by `name`) has
 * finished, at most `limit` at a time. Names outside `items` are no constraint. The graph must be
 * acyclic (the loader rejects cycles); a cycle that got here anyway runs in name order rather than hang.
 */
export async function inDependencyOrder<T extends { name: string; dependsOn?: string[] }>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const byName = new Map(items.map((i) => [i.name, i]));
  const finished = new Map<string, Promise<void>>();
  let running = 0;
  const waiting: (() => void)[] = [];
  const slot = async () => {
    while (running >= Math.max(1, limit)) await new Promise<void>((r) => waiting.push(r));
    running++;
  };
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  const visit = (item: T, path: Set<string>): Promise<void> => {
    let p = finished.get(item.name);
    if (p) return p;
    const deps = (item.dependsOn ?? [])
      .filter((d) => d !== item.name && !path.has(d))
      .map((d) => byName.get(d))
      .filter((d): d is T => d !== undefined);
    p = Promise.all(deps.map((d) => visit(d, new Set([...path, item.name])))).then(async () => {
      await slot();
      try {
        await fn(item);
      } finally {
        release();
      }
    });
    finished.set(item.name, p);
    return p;
  };
  await Promise.all(items.map((i) => visit(i, new Set())));
}
