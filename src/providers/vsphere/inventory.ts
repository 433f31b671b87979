/**
 * Batched reads and task waiting on top of VimClient: one ContainerView + RetrievePropertiesEx for
 * a whole scope (following `token` with ContinueRetrievePropertiesEx, and CancelRetrievePropertiesEx
 * when a reader stops early), multi-object reads by reference, inventory paths, and polling a task
 * to the end with backoff, progress and a timeout that cancels the task where vCenter allows it.
 */
import { UserError } from '../../engine/contract';
import type { VimClient } from './client';
import { faultFromTaskError, NotAuthenticatedError, TaskInProgressError, VsphereFault } from './soap/faults';
import { child, children, escapeXml, ref, text, type MoRef, type XNode, toRef } from './soap/xml';
import { taskWatch } from './task-watch';

/** One object of a RetrieveResult: its reference and its properties by path (raw `val` nodes). */
export interface ObjectContent {
  obj: MoRef;
  props: Map<string, XNode>;
}

export interface PropertyRequest {
  type: string;
  paths: string[];
}

/** Page size asked of vCenter (maxObjects); vcsim 0.24.2 ignores it and returns everything at once. */
export const DEFAULT_PAGE_SIZE = 500;

function propSets(reqs: PropertyRequest[]): string {
  return reqs
    .map((r) => `<propSet>${text('type', r.type)}${r.paths.map((p) => text('pathSet', p)).join('')}</propSet>`)
    .join('');
}

/** Parses a RetrieveResult (`returnval`) into objects plus the paging token. */
export function parseRetrieveResult(rv: XNode | undefined): { objects: ObjectContent[]; token?: string } {
  const objects: ObjectContent[] = [];
  for (const o of children(rv, 'objects')) {
    const obj = toRef(child(o, 'obj'));
    if (!obj) continue;
    const props = new Map<string, XNode>();
    for (const p of children(o, 'propSet')) {
      const name = child(p, 'name')?.text;
      const val = child(p, 'val');
      if (name !== undefined && val) props.set(name, val);
    }
    objects.push({ obj, props });
  }
  const token = child(rv, 'token')?.text;
  return token ? { objects, token } : { objects };
}

/**
 * RetrievePropertiesEx with `specSet` XML, then ContinueRetrievePropertiesEx while a token comes
 * back, one page at a time. A reader that stops early (break, an error while handling a page)
 * cancels the rest with CancelRetrievePropertiesEx, so vCenter frees the result it holds.
 */
export async function* retrievePages(
  c: VimClient,
  specSet: string,
  pageSize = DEFAULT_PAGE_SIZE,
): AsyncGenerator<ObjectContent[]> {
  const pc = (await c.serviceContent()).propertyCollector;
  const first = await c.call(
    'RetrievePropertiesEx',
    ref('_this', pc) + `<specSet>${specSet}</specSet><options>${text('maxObjects', pageSize)}</options>`,
  );
  let page = parseRetrieveResult(child(first, 'returnval'));
  try {
    yield page.objects;
    while (page.token) {
      const next = await c.call('ContinueRetrievePropertiesEx', ref('_this', pc) + text('token', page.token));
      page = parseRetrieveResult(child(next, 'returnval'));
      yield page.objects;
    }
  } finally {
    if (page.token) {
      const token = page.token;
      // Best effort: a token of a session that is gone is gone with it.
      await c
        .call('CancelRetrievePropertiesEx', ref('_this', pc) + text('token', token), { noRelogin: true })
        .catch(() => undefined);
    }
  }
}

/** Every page of a retrieval, concatenated (read again once if the session was renewed mid-way). */
export async function retrieveAll(
  c: VimClient,
  specSet: string,
  pageSize = DEFAULT_PAGE_SIZE,
): Promise<ObjectContent[]> {
  return againAfterRenewal(c, 'a paged read', async () => {
    const all: ObjectContent[] = [];
    for await (const page of retrievePages(c, specSet, pageSize)) for (const o of page) all.push(o);
    return all;
  });
}

/**
 * Runs a read; when it failed with a vSphere fault after the client logged in again meanwhile (the
 * session expired: its views and paging tokens are gone), runs it once more from the start.
 */
async function againAfterRenewal<T>(c: VimClient, what: string, read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const epoch = c.sessionEpoch;
    try {
      return await read();
    } catch (e) {
      const renewed = c.sessionEpoch > Math.max(epoch, 1); // the first Login is not a renewal
      if (attempt > 1 || !renewed || !(e instanceof VsphereFault) || e instanceof NotAuthenticatedError) throw e;
      c.log?.info({ read: what }, 'vsphere: session was renewed during a paged read; reading again from the start');
    }
  }
}

/**
 * Every object of `type` below `container`, with `paths`, through one ContainerView; `onPage`
 * sees each page as it arrives (observe reduces pages to fields at once). The view and the paging
 * token belong to the session: when the session expired mid-read and the client logged in again,
 * the read starts over once with a new view.
 */
export async function retrieveView<T = ObjectContent>(
  c: VimClient,
  container: MoRef,
  reqs: PropertyRequest[],
  pageSize?: number,
  onPage?: (page: ObjectContent[]) => T[],
): Promise<T[]> {
  return againAfterRenewal(c, `a view of ${container.value}`, () => readView(c, container, reqs, pageSize, onPage));
}

async function readView<T>(
  c: VimClient,
  container: MoRef,
  reqs: PropertyRequest[],
  pageSize?: number,
  onPage?: (page: ObjectContent[]) => T[],
): Promise<T[]> {
  const sc = await c.serviceContent();
  const types = [...new Set(reqs.map((r) => r.type))];
  const cv = await c.call(
    'CreateContainerView',
    ref('_this', sc.viewManager) +
      ref('container', container) +
      types.map((t) => text('type', t)).join('') +
      text('recursive', true),
  );
  const view = toRef(child(cv, 'returnval'));
  if (!view) throw new Error('vSphere CreateContainerView returned no view');
  try {
    const objectSet = `<objectSet>${ref('obj', view)}${text('skip', true)}<selectSet xsi:type="TraversalSpec">${text('name', 'traverseView')}${text('type', 'ContainerView')}${text('path', 'view')}${text('skip', false)}</selectSet></objectSet>`;
    const out: T[] = [];
    for await (const page of retrievePages(c, propSets(reqs) + objectSet, pageSize)) {
      for (const x of onPage ? onPage(page) : (page as unknown as T[])) out.push(x);
    }
    return out;
  } finally {
    await c.call('DestroyView', ref('_this', view)).catch(() => undefined); // Logout destroys it too
  }
}

/**
 * The given objects in one call. `follow` adds a traversal from each object along a property
 * (e.g. VirtualMachine.network) so related objects' names come back in the same round trip.
 */
export async function retrieveObjects(
  c: VimClient,
  objs: MoRef[],
  reqs: PropertyRequest[],
  follow?: { type: string; path: string },
): Promise<ObjectContent[]> {
  if (objs.length === 0) return [];
  const sel = follow
    ? `<selectSet xsi:type="TraversalSpec">${text('type', follow.type)}${text('path', follow.path)}${text('skip', false)}</selectSet>`
    : '';
  const objectSets = objs.map((o) => `<objectSet>${ref('obj', o)}${text('skip', false)}${sel}</objectSet>`).join('');
  return retrieveAll(c, propSets(reqs) + objectSets);
}

export async function findByInventoryPath(c: VimClient, path: string): Promise<MoRef | undefined> {
  const sc = await c.serviceContent();
  const r = await c.call('FindByInventoryPath', ref('_this', sc.searchIndex) + text('inventoryPath', path));
  return toRef(child(r, 'returnval'));
}

export async function requirePath(c: VimClient, path: string, what: string, setting: string): Promise<MoRef> {
  const r = await findByInventoryPath(c, path);
  if (!r) throw new UserError(`vSphere ${what} "${path}" not found; check ${setting} in shipshape.yaml`);
  return r;
}

export interface TaskOptions {
  timeoutMs: number;
  /** Says what the task was doing, for errors: e.g. `clone web-01 from tpl-debian12`. */
  what: string;
  signal?: AbortSignal;
  /** Called when the task's state or progress changed (apply shows it in its progress lines). */
  onProgress?: (p: { state: string; progress?: number }) => void;
  /** Shortest and longest pause between polls (taskPollDelay); default 100 ms and 2 s. */
  pollMs?: { first: number; max: number };
}

/**
 * The pause before the next poll of a task that has run `elapsedMs`: a fifth of its age, at least
 * `first`, at most `max`. So a task's end is noticed at most a fifth of its run time late (a 300 ms
 * reconfigure within about 100 ms, a 10 s clone within 2 s), while the polls of a long task still
 * thin out. A pause that grew by half per poll from the start noticed a 1.6 s task half a second
 * late. Every poll is one read shared by all tasks in flight on the session (task-watch.ts).
 */
export function taskPollDelay(
  elapsedMs: number,
  o: { first: number; max: number } = { first: 100, max: 2000 },
): number {
  return Math.min(o.max, Math.max(o.first, Math.round(elapsedMs / 5)));
}

export class TaskTimeoutError extends UserError {
  constructor(
    message: string,
    readonly cancelled: boolean,
  ) {
    super(message);
  }
}

const TASK_PATHS = ['info.state', 'info.error', 'info.result', 'info.progress', 'info.cancelable'];

/**
 * Polls a task until success or error, with backoff (every poll shared with the session's other
 * task waits, task-watch.ts); returns `info.result`. Task errors become
 * typed faults. At the timeout a cancelable task (clone, create) is cancelled and the error says
 * so; any other task is left running and the error says it may still finish.
 */
export async function waitForTask(c: VimClient, task: MoRef, o: TaskOptions): Promise<XNode | undefined> {
  const started = Date.now();
  const deadline = started + o.timeoutMs;
  let last = '';
  // Polls share one read per session with every other task being waited for (task-watch.ts).
  const watch = taskWatch(c, (tasks) => retrieveObjects(c, tasks, [{ type: 'Task', paths: TASK_PATHS }]), taskFinished);
  const unwatch = watch.watch(task);
  try {
    let seen: ObjectContent | undefined;
    for (;;) {
      const t = seen ?? (await watch.read(task));
      const state = t?.props.get('info.state')?.text;
      const pct = t?.props.get('info.progress')?.text;
      const progress = pct !== undefined && pct !== '' ? Number(pct) : undefined;
      if (state === 'success') return t!.props.get('info.result');
      if (state === 'error')
        throw faultFromTaskError(
          t!.props.get('info.error')!,
          `vSphere task ${task.value} (${o.what}) failed`,
        ) as VsphereFault;
      const now = `${state}/${progress ?? ''}`;
      if (now !== last) {
        last = now;
        o.onProgress?.({ state: state ?? 'unknown', ...(progress !== undefined ? { progress } : {}) });
      }
      if (Date.now() >= deadline) {
        throw await timedOut(
          c,
          task,
          o,
          state ?? 'unknown',
          progress,
          t?.props.get('info.cancelable')?.text === 'true',
        );
      }
      if (o.signal?.aborted) throw new UserError(`waiting for vSphere task ${task.value} (${o.what}) cancelled`);
      // Woken early with the content when a shared read saw this task finish.
      const pause = taskPollDelay(Date.now() - started, o.pollMs);
      seen = await watch.sleep(task, Math.min(pause, Math.max(deadline - Date.now(), 0) + 10));
    }
  } finally {
    unwatch();
  }
}

const taskFinished = (t: ObjectContent): boolean => {
  const s = t.props.get('info.state')?.text;
  return s === 'success' || s === 'error';
};

async function timedOut(
  c: VimClient,
  task: MoRef,
  o: TaskOptions,
  state: string,
  progress: number | undefined,
  cancelable: boolean,
): Promise<TaskTimeoutError> {
  const secs = Math.round(o.timeoutMs / 1000);
  const where = `${state}${progress !== undefined ? ` at ${progress}%` : ''}`;
  const raise = 'raise vms.taskTimeoutSeconds if it is just slow';
  if (!cancelable) {
    return new TaskTimeoutError(
      `vSphere task ${task.value} (${o.what}) still ${where} after ${secs} s; vCenter cannot cancel this kind of task, so it is still running and may finish: check it in vCenter, then run again (${raise})`,
      false,
    );
  }
  try {
    await c.call('CancelTask', ref('_this', task));
  } catch (e) {
    if (!(e instanceof VsphereFault)) throw e;
    // InvalidState: it finished meanwhile; report what it ended as.
  }
  // Cancel is asynchronous in vCenter: wait a little for the task to settle.
  for (let i = 0; i < 20; i++) {
    const [t] = await retrieveObjects(c, [task], [{ type: 'Task', paths: TASK_PATHS }]);
    const s = t?.props.get('info.state')?.text;
    if (s === 'success')
      return new TaskTimeoutError(
        `vSphere task ${task.value} (${o.what}) finished just as its ${secs} s ran out; run again to pick up its result`,
        false,
      );
    if (s === 'error') {
      const f = faultFromTaskError(t!.props.get('info.error')!, '');
      if (f.fault === 'RequestCanceled') {
        return new TaskTimeoutError(
          `vSphere task ${task.value} (${o.what}) was ${where} after ${secs} s; shipshape cancelled it and vCenter rolled it back, so nothing of it is left (${raise})`,
          true,
        );
      }
      return new TaskTimeoutError(
        `vSphere task ${task.value} (${o.what}) failed after ${secs} s: ${f.message.replace(/^: /, '')}`,
        false,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return new TaskTimeoutError(
    `vSphere task ${task.value} (${o.what}) was ${where} after ${secs} s; shipshape asked vCenter to cancel it, but it has not stopped yet: check it in vCenter before running again (${raise})`,
    false,
  );
}

/** Starts a `*_Task` method and waits for it. */
/** Pauses before calling again after TaskInProgress: the other task usually ends within seconds. */
export const BUSY_RETRY_MS = [500, 1000, 2000, 4000];

/**
 * Calls a `*_Task` method and waits for its task. A `TaskInProgress` (another task holds the
 * object: someone's reconfigure, vCenter's own snapshot or DRS move; "Another task is already in
 * progress.", vmware/govmomi#953) means vCenter did nothing, so the same call is made again after
 * a pause, a few times, before the fault is the answer. No other fault is repeated.
 */
export async function runTask(c: VimClient, method: string, inner: string, o: TaskOptions): Promise<XNode | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      const task = toRef(child(await c.call(method, inner), 'returnval'));
      if (!task) throw new Error(`vSphere ${method} returned no task`);
      return await waitForTask(c, task, o);
    } catch (e) {
      const pause = BUSY_RETRY_MS[attempt];
      if (!(e instanceof TaskInProgressError) || pause === undefined || o.signal?.aborted) throw e;
      c.log?.info(
        { method, what: o.what },
        `vsphere: ${o.what}: another task is running on it; trying again in ${pause} ms`,
      );
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

export { escapeXml };
