/** Small concurrency helpers: a bounded parallel map and retry with backoff for transient errors only. */
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
