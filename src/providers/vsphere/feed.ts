/**
 * `VsphereProvider.watch`: the change feed (watch.ts) over the datacenters observe reads, whose
 * reported VMs are read again in one call and handed on as observed resources. The provider
 * passes in how it reads and converts VMs, so the feed shares observe's parsing and ownership test.
 */
import type { ProviderContext, ProviderWatch, WatchedChanges } from '../../engine/contract';
import type { VimClient } from './client';
import type { VmFields, VmHandle } from './fields';
import { findByInventoryPath } from './inventory';
import type { ObservedResource } from '../../engine/contract';
import type { MoRef } from './soap/xml';
import { LIGHT_PATHS } from './vm';
import { watchVms } from './watch';

type VmResource = ObservedResource<VmFields, VmHandle>;

export interface FeedSource {
  client: VimClient;
  /** The datacenters observe reads (the site's and those placements name). */
  datacenters: string[];
  /** Reads these VMs whole (one call) and makes resources of them, as observe would; templates left out. */
  read: (refs: MoRef[]) => Promise<VmResource[]>;
  /** The client's request timeout: every wait ends well before it. */
  requestTimeoutMs: number;
}

/** vCenter's advice: a wait no shorter than a few minutes where the HTTP stack allows; ours stays below the request timeout. */
export function maxWaitFor(requestTimeoutMs: number): number {
  return Math.max(1, Math.min(90, Math.floor(requestTimeoutMs / 1000) - 15));
}

export function vmFeed(
  s: FeedSource,
  ctx: ProviderContext,
  onChange: (changes: WatchedChanges<VmFields, VmHandle>) => void,
): Promise<ProviderWatch> {
  return watchVms<VmResource>(s.client, {
    roots: async () =>
      (await Promise.all(s.datacenters.map((dc) => findByInventoryPath(s.client, `${dc}/vm`)))).filter(
        (r): r is MoRef => r !== undefined,
      ),
    vmPaths: [...new Set([...LIGHT_PATHS, 'parent'])],
    refresh: (ids) => s.read(ids.map((value) => ({ type: 'VirtualMachine', value }))),
    idOf: (r) => r.id,
    onChange,
    log: ctx.log,
    maxWaitSeconds: maxWaitFor(s.requestTimeoutMs),
  });
}
