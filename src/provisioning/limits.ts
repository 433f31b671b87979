/**
 * Bounds on what one network neighbour can make the provisioning server do: a token bucket per
 * source address (requests beyond it get 429 before any disk is touched) and a cap on open
 * connections, in total and per address. Memory stays bounded: buckets that refilled are dropped.
 */
import type { Server, Socket } from 'net';

export interface RateLimit {
  /** Requests an address may make at once. */
  burst: number;
  /** Requests per second an address earns back. */
  perSecond: number;
}

export const DEFAULT_RATE: RateLimit = { burst: 30, perSecond: 5 };

export class AddressRateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly limit: RateLimit = DEFAULT_RATE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request from the address's bucket; false when it is empty. */
  take(address: string): boolean {
    const t = this.now();
    const b = this.buckets.get(address) ?? { tokens: this.limit.burst, at: t };
    b.tokens = Math.min(this.limit.burst, b.tokens + ((t - b.at) / 1000) * this.limit.perSecond);
    b.at = t;
    if (this.buckets.size > 10_000) this.sweep(t);
    if (b.tokens < 1) {
      this.buckets.set(address, b);
      return false;
    }
    b.tokens -= 1;
    this.buckets.set(address, b);
    return true;
  }

  private sweep(t: number): void {
    for (const [k, b] of this.buckets)
      if (b.tokens + ((t - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(k);
  }
}

/** At most `total` open connections (Node's maxConnections) and `perAddress` from one address; extra sockets are closed at once. */
export function capConnections(server: Server, total: number, perAddress: number): void {
  server.maxConnections = total;
  const open = new Map<string, number>();
  server.on('connection', (s: Socket) => {
    const a = s.remoteAddress ?? '?';
    const n = (open.get(a) ?? 0) + 1;
    if (n > perAddress) {
      s.destroy();
      return;
    }
    open.set(a, n);
    s.once('close', () => {
      const left = (open.get(a) ?? 1) - 1;
      if (left <= 0) open.delete(a);
      else open.set(a, left);
    });
  });
}
