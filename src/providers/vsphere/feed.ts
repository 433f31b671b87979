/**
 * `VsphereProvider.watch`: the change feed (watch.ts) over the datacenters observe reads, whose
 * reported VMs are read again in one call and handed on as observed resources, parsed and judged
 * (ownership, placement names, device fields) exactly as observe does.
 */
import type { ProviderContext, ProviderWatch, WatchedChanges } from '../../engine/contract';
import type { VmFields, VmHandle } from './fields';
import { findByInventoryPath } from './inventory';
import { readVms, toResource } from './observe';
import type { VmResource, VmSession } from './session';
import type { MoRef } from './soap/xml';
import { HEAVY_PATHS, LIGHT_PATHS } from './vm';
import { inventoryNames, whereFor } from './where';
import { watchVms } from './watch';

/** vCenter's advice: a wait no shorter than a few minutes where the HTTP stack allows; ours stays below the request timeout. */
export function maxWaitFor(requestTimeoutMs: number): number {
  return Math.max(1, Math.min(90, Math.floor(requestTimeoutMs / 1000) - 15));
}

export async function vmFeed(
  vs: VmSession,
  ctx: ProviderContext,
  onChange: (changes: WatchedChanges<VmFields, VmHandle>) => void,
): Promise<ProviderWatch> {
  const { c, p } = await vs.connect(ctx);
  const wheres = [p.site, ...(vs.o.systems ?? []).map((s) => whereFor(s, vs.o.config))];
  const datacenters = [...new Set(wheres.map((w) => w.datacenter))];
  return watchVms<VmResource>(c, {
    roots: async () =>
      (await Promise.all(datacenters.map((dc) => findByInventoryPath(c, `${dc}/vm`)))).filter(
        (r): r is MoRef => r !== undefined,
      ),
    vmPaths: [...new Set([...LIGHT_PATHS, 'parent'])],
    refresh: async (ids) => {
      const refs = ids.map((value) => ({ type: 'VirtualMachine', value }));
      const vms = [...(await readVms(c, refs, [...LIGHT_PATHS, ...HEAVY_PATHS])).values()].filter(
        (vm) => !vm.isTemplate,
      );
      // Placement names: from the last observe's inventory read, else one read now (only when a VM is ours).
      const where =
        vs.where ??
        (vms.some((vm) => vs.ours(vm)) ? await inventoryNames(c, (await c.serviceContent()).rootFolder) : undefined);
      for (const vm of vms) {
        const w = where?.(vm.location);
        if (w) vm.placement = w;
      }
      return vms.map((vm) => toResource(vs, vm));
    },
    idOf: (r) => r.id,
    onChange,
    log: ctx.log,
    maxWaitSeconds: maxWaitFor(vs.o.requestTimeoutMs ?? 120_000),
  });
}
