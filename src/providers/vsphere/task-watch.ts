/**
 * Task polls shared per session. Apply runs many creates at once, each waiting for its own tasks
 * (clone, reconfigure, power on, …); polled one by one, that is one RetrievePropertiesEx per task
 * per poll, and each task's end is noticed only at its own next backoff step. Here every poll reads
 * the state of *all* tasks being waited for on the session in one RetrievePropertiesEx (one object
 * set per task), polls asked for within a few milliseconds of each other share that call, and a
 * waiter whose task the shared read saw finished is woken at once instead of sleeping out its
 * backoff. Round trips per poll stay one whatever the number of tasks in flight.
 *
 * A batched read that fails as a whole (a task vCenter has forgotten makes the whole call fault
 * with ManagedObjectNotFound) falls back to one read per asking waiter, so each gets its own
 * outcome, exactly as before batching.
 */
import type { VimClient } from './client';
import type { ObjectContent } from './inventory';
import type { MoRef } from './soap/xml';

/** Reads the tasks' properties in one call (inventory.ts's retrieveObjects). */
type ReadTasks = (tasks: MoRef[]) => Promise<ObjectContent[]>;

/** How long a poll waits for others to join its call: small against any task's length. */
const GATHER_MS = 15;

interface Sleeper {
  wake: (t: ObjectContent) => void;
}

class TaskWatch {
  /** Tasks being waited for: task id → how many waiters. */
  private readonly watched = new Map<string, number>();
  private readonly sleepers = new Map<string, Set<Sleeper>>();
  private batch: { ids: Set<string>; done: Promise<Map<string, ObjectContent> | Error> } | undefined;

  constructor(
    private readonly readTasks: ReadTasks,
    private readonly finished: (t: ObjectContent) => boolean,
  ) {}

  watch(task: MoRef): () => void {
    this.watched.set(task.value, (this.watched.get(task.value) ?? 0) + 1);
    return () => {
      const n = (this.watched.get(task.value) ?? 1) - 1;
      if (n > 0) this.watched.set(task.value, n);
      else this.watched.delete(task.value);
    };
  }

  /** The task's state from a read that starts after this call (shared with every watched task). */
  async read(task: MoRef): Promise<ObjectContent | undefined> {
    if (!this.batch) {
      const ids = new Set<string>([task.value]);
      const done = new Promise<Map<string, ObjectContent> | Error>((resolve) =>
        setTimeout(() => {
          this.batch = undefined;
          for (const id of this.watched.keys()) ids.add(id);
          const refs = [...ids].map((value) => ({ type: 'Task', value }));
          this.readTasks(refs).then(
            (got) => resolve(this.deliver(got)),
            (e: unknown) => resolve(e instanceof Error ? e : new Error(String(e))),
          );
        }, GATHER_MS),
      );
      this.batch = { ids, done };
    }
    this.batch.ids.add(task.value);
    const got = await this.batch.done;
    if (got instanceof Error) {
      // One bad task (forgotten by vCenter) fails the whole call: each asker reads its own again.
      const [t] = await this.readTasks([task]);
      return t;
    }
    return got.get(task.value);
  }

  /** Sleeps `ms`, or less when a shared read sees the task finished (then that read's content). */
  sleep(task: MoRef, ms: number): Promise<ObjectContent | undefined> {
    return new Promise((resolve) => {
      const set = this.sleepers.get(task.value) ?? new Set<Sleeper>();
      this.sleepers.set(task.value, set);
      const me: Sleeper = {
        wake: (t) => {
          clearTimeout(timer);
          set.delete(me);
          resolve(t);
        },
      };
      const timer = setTimeout(() => {
        set.delete(me);
        resolve(undefined);
      }, ms);
      set.add(me);
    });
  }

  private deliver(got: ObjectContent[]): Map<string, ObjectContent> {
    const by = new Map(got.map((t) => [t.obj.value, t]));
    for (const [id, t] of by) {
      if (!this.finished(t)) continue;
      for (const s of [...(this.sleepers.get(id) ?? [])]) s.wake(t);
    }
    return by;
  }
}

const watches = new WeakMap<VimClient, TaskWatch>();

/** The session's shared task watch (one per client: task ids are per vCenter). */
export function taskWatch(
  c: VimClient,
  readTasks: ReadTasks,
  finished: (t: ObjectContent) => boolean,
): Pick<TaskWatch, 'watch' | 'read' | 'sleep'> {
  let w = watches.get(c);
  if (!w) watches.set(c, (w = new TaskWatch(readTasks, finished)));
  return w;
}
