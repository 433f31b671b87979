/**
 * vCenter's change feed for `serve`: a private PropertyCollector with one filter over a
 * ContainerView of each watched datacenter's VM folder (VMs with the light property set, folders
 * with name and parent), and a loop of WaitForUpdatesEx calls, each bounded by `maxWaitSeconds`,
 * passing on the version each answer hands out. The watch keeps what the filter reports as a live
 * copy of the light read (`objects`) and tells `onChange` which VMs changed and how. When the version is refused (InvalidCollectorVersion), the session was renewed or
 * the connection failed, it builds collector, views and filter anew and starts again with an empty
 * version: a full resync that reports what differs from the copy it had. Protocol facts and their
 * sources: README.md ("Watching for changes").
 */
import type { VimClient } from './client';
import type { ObjectContent } from './inventory';
import { ManagedObjectNotFoundError, NotAuthenticatedError, VsphereFault } from './soap/faults';
import { child, children, ref, text, toRef, type MoRef, type XNode } from './soap/xml';

export interface WatchChange {
  /** The VM's managed object id. */
  id: string;
  /** enter: new in scope; modify: a watched property changed; leave: deleted or moved out of scope. */
  kind: 'enter' | 'modify' | 'leave';
  /** The watched paths that changed (empty for leave). */
  paths: string[];
  /** The VM as the watch knows it now (before it left, for leave). */
  vm: ObjectContent;
  /** Found by a full resync (InvalidCollectorVersion, reconnect), not reported one by one. */
  resync?: true;
}

export interface VmWatchOptions {
  /** The VM folders to watch (a datacenter's `vm` folder each), with the properties to keep. */
  roots: () => Promise<MoRef[]>;
  vmPaths: string[];
  onChange: (changes: WatchChange[]) => void;
  /** Upper bound of one WaitForUpdatesEx (vCenter answers empty after it). Default 30 s. */
  maxWaitSeconds?: number;
  /** First and longest pause before reconnecting after a failure; default 1 s doubling to 30 s. */
  backoffMs?: { first: number; max: number };
  onError?: (e: Error, what: string) => void;
  /** After each full (re)sync, with the number of VMs it found to differ (0 on the first). */
  onSync?: (info: { resync: boolean; objects: number; differing: number }) => void;
}

/** Properties whose value the watch keeps per object; a folder's name and parent place its VMs. */
const FOLDER_PATHS = ['name', 'parent'];

export class VmWatch {
  /** The filter's objects as last reported: VMs and folders by managed object id. */
  readonly objects = new Map<string, ObjectContent>();
  /** True between a complete (re)sync and the next failure: only then is `objects` current. */
  synced = false;
  readonly stats = { waits: 0, updates: 0, resyncs: 0, versionFaults: 0, rebuilds: 0 };

  private collector: MoRef | undefined;
  private views: MoRef[] = [];
  private version = '';
  private epoch = -1;
  private stopped = false;
  private readonly abort = new AbortController();
  /** Aborts the wait in progress when the client logs in again: that wait's collector is gone. */
  private waitAbort = new AbortController();
  private unsubscribe: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  constructor(
    private readonly c: VimClient,
    private readonly o: VmWatchOptions,
  ) {}

  /** Starts the loop; resolves after the first full sync (or rejects with why it could not start). */
  async start(): Promise<void> {
    this.unsubscribe = this.c.onLogin(() => {
      if (this.c.sessionEpoch !== this.epoch) this.waitAbort.abort(new Error('session renewed'));
    });
    try {
      await this.setup();
      await this.sync(false);
    } catch (e) {
      this.unsubscribe?.();
      await this.teardown();
      throw e;
    }
    this.loop = this.run();
  }

  /** Ends the wait in progress (its request is abandoned) and destroys the collector; never throws. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.synced = false;
    this.abort.abort(new Error('watch stopped'));
    if (this.sleeping) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.wake();
    }
    await this.loop;
    this.unsubscribe?.();
    await this.teardown();
  }

  get running(): boolean {
    return !this.stopped;
  }

  private async run(): Promise<void> {
    let backoff = this.o.backoffMs?.first ?? 1000;
    while (!this.stopped) {
      try {
        if (!this.collector) {
          this.stats.rebuilds++;
          await this.setup();
          await this.sync(true);
        }
        await this.waitOnce();
        backoff = this.o.backoffMs?.first ?? 1000;
      } catch (e) {
        if (this.stopped) return;
        this.synced = false;
        const err = e as Error;
        if (this.c.sessionEpoch !== this.epoch) {
          // Logged in again (a run on this client found the session gone): build anew at once.
          this.o.onError?.(err, 'the session was renewed; the watch starts again in the new one');
          await this.reset();
          continue;
        }
        if (e instanceof VsphereFault && e.fault === 'InvalidCollectorVersion') {
          // The server no longer knows our version. An empty version on the same filter would report
          // only what it has not reported yet (vcsim), so a new collector and filter sync from nothing, at once.
          this.stats.versionFaults++;
          this.o.onError?.(err, 'the collector version was refused; full resync');
          await this.reset();
          continue;
        }
        this.o.onError?.(err, 'waiting for vCenter changes');
        await this.reset();
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.o.backoffMs?.max ?? 30_000);
      }
    }
  }

  /** A private collector (concurrent runs and other clients share no filter with us), views, one filter. */
  private async setup(): Promise<void> {
    const sc = await this.c.serviceContent();
    const pc = toRef(
      child(await this.c.call('CreatePropertyCollector', ref('_this', sc.propertyCollector)), 'returnval'),
    );
    if (!pc) throw new Error('vSphere CreatePropertyCollector returned no collector');
    this.collector = pc;
    this.epoch = this.c.sessionEpoch;
    const objectSets: string[] = [];
    for (const root of await this.o.roots()) {
      const cv = await this.c.call(
        'CreateContainerView',
        ref('_this', sc.viewManager) +
          ref('container', root) +
          text('type', 'VirtualMachine') +
          text('type', 'Folder') +
          text('recursive', true),
      );
      const view = toRef(child(cv, 'returnval'));
      if (!view) throw new Error('vSphere CreateContainerView returned no view');
      this.views.push(view);
      objectSets.push(
        `<objectSet>${ref('obj', view)}${text('skip', true)}<selectSet xsi:type="TraversalSpec">${text('name', 'traverseView')}${text('type', 'ContainerView')}${text('path', 'view')}${text('skip', false)}</selectSet></objectSet>`,
      );
    }
    const propSet = (type: string, paths: string[]) =>
      `<propSet>${text('type', type)}${paths.map((p) => text('pathSet', p)).join('')}</propSet>`;
    // partialUpdates false: a change inside a watched property reports the whole property (extraConfig as one array).
    await this.c.call(
      'CreateFilter',
      ref('_this', pc) +
        `<spec>${propSet('VirtualMachine', this.o.vmPaths)}${propSet('Folder', FOLDER_PATHS)}${objectSets.join('')}</spec>` +
        text('partialUpdates', false),
    );
    this.version = '';
  }

  /**
   * WaitForUpdatesEx with an empty version: the whole current state, as `enter` updates (in pages
   * while `truncated`). On a resync, what differs from the copy kept so far is reported.
   */
  private async sync(resync: boolean): Promise<void> {
    const before = new Map(this.objects);
    this.objects.clear();
    this.version = '';
    for (;;) {
      const set = await this.waitForUpdates(0);
      if (!set) break;
      this.apply(set, undefined);
      if (child(set, 'truncated')?.text !== 'true') break;
    }
    const changes: WatchChange[] = [];
    if (resync) {
      this.stats.resyncs++;
      for (const [id, now] of this.objects) {
        if (now.obj.type !== 'VirtualMachine') continue;
        const was = before.get(id);
        const paths = was ? differing(was, now) : [...now.props.keys()];
        if (paths.length) changes.push({ id, kind: was ? 'modify' : 'enter', paths, vm: now, resync: true });
      }
      for (const [id, was] of before)
        if (was.obj.type === 'VirtualMachine' && !this.objects.has(id))
          changes.push({ id, kind: 'leave', paths: [], vm: was, resync: true });
    }
    this.synced = true;
    this.o.onSync?.({ resync, objects: this.objects.size, differing: changes.length });
    if (changes.length) this.o.onChange(changes);
  }

  /** One bounded wait; what it reports goes to `objects` and `onChange`. */
  private async waitOnce(): Promise<void> {
    const changes: WatchChange[] = [];
    for (;;) {
      const set = await this.waitForUpdates(this.o.maxWaitSeconds ?? 30);
      if (!set) break; // maxWaitSeconds passed without a change
      this.apply(set, changes);
      if (child(set, 'truncated')?.text !== 'true') break;
    }
    if (changes.length) {
      this.stats.updates += changes.length;
      this.o.onChange(changes);
    }
  }

  /** The UpdateSet (`returnval`), or undefined when the wait ended without one. */
  private async waitForUpdates(maxWaitSeconds: number): Promise<XNode | undefined> {
    if (this.c.sessionEpoch !== this.epoch) {
      // Logged in again (by us or by a run on the same client): collector, views and filter died with the old session.
      throw new NotAuthenticatedError('NotAuthenticated', 'vSphere session was renewed; the watch starts again');
    }
    this.stats.waits++;
    if (this.waitAbort.signal.aborted) this.waitAbort = new AbortController();
    const r = await this.c.call(
      'WaitForUpdatesEx',
      ref('_this', this.collector) +
        text('version', this.version) +
        `<options>${text('maxWaitSeconds', maxWaitSeconds)}</options>`,
      { signal: AbortSignal.any([this.abort.signal, this.waitAbort.signal]) },
    );
    const set = child(r, 'returnval');
    const version = child(set, 'version')?.text;
    if (version !== undefined) this.version = version;
    return set;
  }

  /** Applies an UpdateSet to `objects`; with `changes`, collects what changed for VMs. */
  private apply(set: XNode, changes: WatchChange[] | undefined): void {
    for (const fs of children(set, 'filterSet')) {
      for (const u of children(fs, 'objectSet')) {
        const obj = toRef(child(u, 'obj'));
        if (!obj) continue;
        const kind = child(u, 'kind')?.text;
        const known = this.objects.get(obj.value);
        if (kind === 'leave') {
          this.objects.delete(obj.value);
          if (known && obj.type === 'VirtualMachine')
            changes?.push({ id: obj.value, kind: 'leave', paths: [], vm: known });
          continue;
        }
        const o: ObjectContent = kind === 'enter' || !known ? { obj, props: new Map() } : known;
        const paths: string[] = [];
        for (const cs of children(u, 'changeSet')) {
          const name = child(cs, 'name')?.text;
          if (name === undefined) continue;
          const op = child(cs, 'op')?.text;
          const val = child(cs, 'val');
          if (op === 'remove' || op === 'indirectRemove' || !val) o.props.delete(name);
          else o.props.set(name, val);
          paths.push(name);
        }
        this.objects.set(obj.value, o);
        if (obj.type === 'VirtualMachine' && (kind === 'enter' || paths.length))
          changes?.push({ id: obj.value, kind: kind === 'enter' ? 'enter' : 'modify', paths, vm: o });
      }
    }
  }

  /** Forgets collector and views (best effort: they may be gone with the session); the loop builds them anew. */
  private async reset(): Promise<void> {
    await this.teardown();
    this.synced = false;
  }

  private async teardown(): Promise<void> {
    const pc = this.collector;
    const views = this.views;
    this.collector = undefined;
    this.views = [];
    // DestroyPropertyCollector destroys its filters too (vSphere API reference, PropertyCollector).
    const quiet = (p: Promise<unknown>) =>
      p.catch((e: unknown) => {
        if (!(e instanceof ManagedObjectNotFoundError) && !(e instanceof NotAuthenticatedError))
          this.o.onError?.(e as Error, 'cleaning up the watch');
      });
    if (pc) await quiet(this.c.call('DestroyPropertyCollector', ref('_this', pc), { noRelogin: true }));
    for (const v of views) await quiet(this.c.call('DestroyView', ref('_this', v), { noRelogin: true }));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      this.sleeping = { timer, wake: resolve };
    });
  }
}

/** The paths whose value differs between two copies of an object (compared as their XML text). */
function differing(a: ObjectContent, b: ObjectContent): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.props.keys(), ...b.props.keys()])) {
    const x = a.props.get(k);
    const y = b.props.get(k);
    if (!x || !y || flat(x) !== flat(y)) out.push(k);
  }
  return out;
}

function flat(n: XNode): string {
  return `${n.xsiType ?? ''}<${n.text}>${n.children.map((c) => `${c.name}:${flat(c)}`).join(',')}`;
}

export interface VmFeedOptions<R> {
  /** The VM id of a resource `refresh` made. */
  idOf: (r: R) => string;
  roots: () => Promise<MoRef[]>;
  vmPaths: string[];
  /** Reads the changed VMs again (one batched read, whatever changed) and makes resources of them. */
  refresh: (ids: string[]) => Promise<R[]>;
  onChange: (changes: { changed: R[]; gone: string[]; resync: boolean }) => void;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  maxWaitSeconds?: number;
  /** Changes arriving within this long are read together (default 100 ms). */
  gatherMs?: number;
}

/**
 * The provider's feed: a VmWatch whose reported VMs are read again, together, before they are
 * passed on (vcsim reports only `config.changeVersion` for a reconfigure; vCenter reports each
 * changed property, but the device list is not watched either way). One read at a time.
 */
export async function watchVms<R>(
  c: VimClient,
  o: VmFeedOptions<R>,
): Promise<{ stop(): Promise<void>; reread(ids: string[]): Promise<void>; stats: Record<string, number> }> {
  const queued = new Map<string, WatchChange>();
  const idOf = o.idOf;
  let timer: NodeJS.Timeout | undefined;
  let reading: Promise<void> = Promise.resolve();
  let stopped = false;
  const stats = { reads: 0, changed: 0, gone: 0 };
  const flush = () => {
    timer = undefined;
    const batch = [...queued.values()];
    queued.clear();
    reading = reading.then(async () => {
      if (stopped || !batch.length) return;
      const gone = batch.filter((ch) => ch.kind === 'leave').map((ch) => ch.id);
      const ids = batch.filter((ch) => ch.kind !== 'leave').map((ch) => ch.id);
      try {
        stats.reads++;
        const changed = ids.length ? await o.refresh(ids) : [];
        stats.changed += changed.length;
        stats.gone += gone.length;
        if (!stopped) o.onChange({ changed, gone, resync: batch.some((ch) => ch.resync) });
      } catch (e) {
        // The scheduled run is the safety net; the next change of these VMs is read again anyway.
        if (!stopped) o.log?.warn({ err: (e as Error).message, vms: ids }, 'vsphere: reading changed VMs failed');
      }
    });
  };
  const watch = new VmWatch(c, {
    roots: o.roots,
    vmPaths: o.vmPaths,
    ...(o.maxWaitSeconds !== undefined ? { maxWaitSeconds: o.maxWaitSeconds } : {}),
    onChange: (changes) => {
      for (const ch of changes) queued.set(ch.id, ch);
      timer ??= setTimeout(flush, o.gatherMs ?? 100);
    },
    onError: (e, what) => o.log?.warn({ err: e.message }, `vsphere change feed: ${what}`),
    onSync: (s) =>
      s.resync && o.log?.info({ objects: s.objects, differing: s.differing }, 'vsphere change feed: full resync'),
  });
  await watch.start();
  return {
    get stats() {
      return { ...watch.stats, reads: stats.reads, changed: stats.changed, gone: stats.gone };
    },
    /** The given VMs read again now, in the queue of reads, and reported as changed (or gone). */
    reread(ids: string[]) {
      const read = reading.then(async () => {
        if (stopped || !ids.length) return;
        stats.reads++;
        const changed = await o.refresh(ids);
        const found = new Set(changed.map((r) => idOf(r)));
        if (!stopped) o.onChange({ changed, gone: ids.filter((id) => !found.has(id)), resync: false });
      });
      reading = read.catch(() => undefined);
      return read;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await watch.stop();
      await reading;
    },
  };
}
