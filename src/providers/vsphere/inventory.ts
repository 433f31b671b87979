/**
 * Batched reads and task waiting on top of VimClient: one ContainerView + RetrievePropertiesEx for
 * a whole scope (following `token` with ContinueRetrievePropertiesEx), multi-object reads by
 * reference, inventory paths, and polling a task to the end with a timeout.
 */
import { UserError } from '../../engine/contract';
import type { VimClient } from './client';
import { faultFromTaskError, type VsphereFault } from './soap/faults';
import { child, children, escapeXml, ref, text, type MoRef, type XNode, toRef } from './soap/xml';

/** One object of a RetrieveResult: its reference and its properties by path (raw `val` nodes). */
export interface ObjectContent {
  obj: MoRef;
  props: Map<string, XNode>;
}

export interface PropertyRequest {
  type: string;
  paths: string[];
}

/** Page size asked of vCenter; vcsim 0.24.2 ignores it and returns everything at once. */
export const DEFAULT_PAGE_SIZE = 500;

function propSets(reqs: PropertyRequest[]): string {
  return reqs.map((r) => `<propSet>${text('type', r.type)}${r.paths.map((p) => text('pathSet', p)).join('')}</propSet>`).join('');
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

/** RetrievePropertiesEx with `specSet` XML, then ContinueRetrievePropertiesEx while a token comes back. */
export async function retrieveAll(c: VimClient, specSet: string, pageSize = DEFAULT_PAGE_SIZE): Promise<ObjectContent[]> {
  const pc = (await c.serviceContent()).propertyCollector;
  const first = await c.call('RetrievePropertiesEx', ref('_this', pc) + `<specSet>${specSet}</specSet><options>${text('maxObjects', pageSize)}</options>`);
  let page = parseRetrieveResult(child(first, 'returnval'));
  const all = page.objects;
  while (page.token) {
    const next = await c.call('ContinueRetrievePropertiesEx', ref('_this', pc) + text('token', page.token));
    page = parseRetrieveResult(child(next, 'returnval'));
    for (const o of page.objects) all.push(o);
  }
  return all;
}

/** Every object of `type` below `container`, with `paths`, through one ContainerView. */
export async function retrieveView(c: VimClient, container: MoRef, reqs: PropertyRequest[], pageSize?: number): Promise<ObjectContent[]> {
  const sc = await c.serviceContent();
  const types = [...new Set(reqs.map((r) => r.type))];
  const cv = await c.call('CreateContainerView', ref('_this', sc.viewManager) + ref('container', container) + types.map((t) => text('type', t)).join('') + text('recursive', true));
  const view = toRef(child(cv, 'returnval'));
  if (!view) throw new Error('vSphere CreateContainerView returned no view');
  try {
    const objectSet = `<objectSet>${ref('obj', view)}${text('skip', true)}<selectSet xsi:type="TraversalSpec">${text('name', 'traverseView')}${text('type', 'ContainerView')}${text('path', 'view')}${text('skip', false)}</selectSet></objectSet>`;
    return await retrieveAll(c, propSets(reqs) + objectSet, pageSize);
  } finally {
    await c.call('DestroyView', ref('_this', view)).catch(() => undefined); // Logout destroys it too
  }
}

/**
 * The given objects in one call. `follow` adds a traversal from each object along a property
 * (e.g. VirtualMachine.network) so related objects' names come back in the same round trip.
 */
export async function retrieveObjects(c: VimClient, objs: MoRef[], reqs: PropertyRequest[], follow?: { type: string; path: string }): Promise<ObjectContent[]> {
  if (objs.length === 0) return [];
  const sel = follow ? `<selectSet xsi:type="TraversalSpec">${text('type', follow.type)}${text('path', follow.path)}${text('skip', false)}</selectSet>` : '';
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
}

export class TaskTimeoutError extends UserError {}

/** Polls a task until success or error; returns `info.result`. Task errors become typed faults. */
export async function waitForTask(c: VimClient, task: MoRef, o: TaskOptions): Promise<XNode | undefined> {
  const deadline = Date.now() + o.timeoutMs;
  let delay = 100;
  for (;;) {
    const [t] = await retrieveObjects(c, [task], [{ type: 'Task', paths: ['info.state', 'info.error', 'info.result'] }]);
    const state = t?.props.get('info.state')?.text;
    if (state === 'success') return t!.props.get('info.result');
    if (state === 'error') throw faultFromTaskError(t!.props.get('info.error')!, `vSphere task ${task.value} (${o.what}) failed`) as VsphereFault;
    if (Date.now() >= deadline) {
      throw new TaskTimeoutError(`vSphere task ${task.value} (${o.what}) still ${state ?? 'unknown'} after ${Math.round(o.timeoutMs / 1000)} s; it may still finish: check it in vCenter, then run again (raise vsphere.taskTimeoutSeconds if it is just slow)`);
    }
    if (o.signal?.aborted) throw new UserError(`waiting for vSphere task ${task.value} (${o.what}) cancelled`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 2000);
  }
}

/** Starts a `*_Task` method and waits for it. */
export async function runTask(c: VimClient, method: string, inner: string, o: TaskOptions): Promise<XNode | undefined> {
  const task = toRef(child(await c.call(method, inner), 'returnval'));
  if (!task) throw new Error(`vSphere ${method} returned no task`);
  return waitForTask(c, task, o);
}

export { escapeXml };
