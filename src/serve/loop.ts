/**
 * The reconcile loop of `shipshape serve`: runs on a cron schedule, when the git ref moves and
 * when local files change (debounced), one run at a time. A trigger during a run is remembered
 * and runs once afterwards (triggers coalesce). stop() lets the run in progress finish within a
 * grace period, then aborts it through its signal so the step in progress can stop safely.
 * A trigger may carry a scope (the systems a backend's change feed named): triggers that coalesce
 * run once with the union of their scopes, and any trigger without one makes the run a full one.
 */
import type { CronSchedule } from './cron';

export interface LoopOptions {
  /** `scope`: only these systems (a change feed's trigger); undefined: a full run. */
  run: (reason: string, signal: AbortSignal, scope?: string[]) => Promise<void>;
  schedule?: CronSchedule;
  /** Polls the source for a new commit; a changed value triggers a run. */
  poll?: { intervalMs: number; current: () => Promise<string> };
  onError?: (e: unknown, reason: string) => void;
  now?: () => Date;
}

export class ReconcileLoop {
  private running: Promise<void> | null = null;
  private pending: string | null = null;
  /** The pending run's systems; null: a full run. */
  private pendingScope: Set<string> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private abort = new AbortController();
  private lastSeen?: string;
  runs = 0;

  constructor(private readonly opts: LoopOptions) {}

  start(): void {
    this.scheduleNext();
    if (this.opts.poll) {
      const t = setInterval(() => void this.checkPoll(), this.opts.poll.intervalMs);
      this.timers.push(t);
    }
  }

  /** Ask for a run; returns when the run it led to (or joined) has finished. */
  trigger(reason: string, scope?: string[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      const widen = this.pending === null ? scope : this.pendingScope && scope;
      this.pendingScope = widen ? new Set([...(this.pendingScope ?? []), ...widen]) : null;
      this.pending = this.pending ? `${this.pending}, ${reason}` : reason;
      return this.running.then(() => this.running ?? undefined);
    }
    this.running = this.execute(reason, scope);
    return this.running;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.pending = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (!this.running) return;
    const grace = new Promise<'timeout'>((r) => {
      const t = setTimeout(() => r('timeout'), graceMs);
      t.unref();
    });
    if ((await Promise.race([this.running.then(() => 'done' as const), grace])) === 'timeout') {
      this.abort.abort(new Error('shutting down'));
      await this.running;
    }
  }

  private async execute(reason: string, scope?: string[]): Promise<void> {
    try {
      this.runs++;
      await this.opts.run(reason, this.abort.signal, scope);
    } catch (e) {
      this.opts.onError?.(e, reason);
    }
    this.running = null;
    if (this.pending && !this.stopped) {
      const next = this.pending;
      const nextScope = this.pendingScope ? [...this.pendingScope].sort() : undefined;
      this.pending = null;
      this.pendingScope = null;
      this.running = this.execute(next, nextScope);
      await this.running;
    }
  }

  private scheduleNext(): void {
    if (!this.opts.schedule || this.stopped) return;
    const now = this.opts.now?.() ?? new Date();
    const at = this.opts.schedule.next(now);
    const t = setTimeout(
      () => {
        void this.trigger(`schedule ${this.opts.schedule!.source}`);
        this.scheduleNext();
      },
      Math.min(at.getTime() - now.getTime(), 2 ** 31 - 1),
    );
    this.timers.push(t);
  }

  private async checkPoll(): Promise<void> {
    if (!this.opts.poll || this.stopped) return;
    try {
      const value = await this.opts.poll.current();
      if (this.lastSeen !== undefined && value !== this.lastSeen)
        void this.trigger(`source moved to ${value.slice(0, 12)}`);
      this.lastSeen = value;
    } catch (e) {
      this.opts.onError?.(e, 'polling the source');
    }
  }
}

/** Debounces bursts of file events into one call after `ms` of quiet. */
export function debounce(fn: () => void, ms: number): { (): void; cancel(): void } {
  let t: NodeJS.Timeout | null = null;
  const d = () => {
    if (t) clearTimeout(t);
    t = setTimeout(() => {
      t = null;
      fn();
    }, ms);
  };
  d.cancel = () => {
    if (t) clearTimeout(t);
    t = null;
  };
  return d;
}
