/**
 * The operations that decide on ownership as the VM is now: `shipshape adopt` (marker written,
 * nothing else changed), `shipshape ownership seal`, and delete (only a VM carrying this site's
 * marker for that system).
 */
import { UserError, type ProviderContext, type Resolved } from '../../engine/contract';
import { Refusal } from '../../engine/refusals';
import type { DesiredSystem } from '../../manifest/types';
import { INSTALL_MARKER } from './datastore';
import { annotationFor } from './fields';
import { runTask } from './inventory';
import { listFolder, readVm, readVms, toResource } from './observe';
import { powerOff } from './power';
import { retire } from './retire';
import { ManagedObjectNotFoundError } from './soap/faults';
import { ref } from './soap/xml';
import { extraConfig, reconfigSpec } from './specs';
import { LIGHT_PATHS, MARKER_SEAL, markerOf, type VmInfo } from './vm';
import { ADOPTED, type VmResource, type VmSession } from './session';

/**
 * `shipshape adopt`: writes the marker (sealed on a site with `ownership:`), shipshape's
 * annotation and the install marker `adopted` (the install step never installs a VM someone
 * else built) onto a VM the plan matched by name. Nothing else changes: CPU, memory, disks, MAC
 * and power stay as they are, and the VM stays in its folder (a move would change who may see it).
 */
export async function adopt(
  vs: VmSession,
  system: DesiredSystem,
  observed: VmResource,
  _resolved: Resolved,
  ctx: ProviderContext,
): Promise<VmResource> {
  const { c, v } = await vs.connect(ctx);
  const vmRef = observed.handle?.ref ?? { type: 'VirtualMachine', value: observed.id };
  const vm = await readVm(c, vmRef);
  const m = markerOf(vm);
  if (vs.ours(vm)?.system === system.name) return toResource(vs, vm);
  if (vm.name !== system.name && m?.system !== system.name)
    throw new UserError(`system ${system.name}: VM ${vmRef.value} is now named ${vm.name}; plan again`, 'failed');
  const entries: [string, string][] = [...vs.markerFor(system, vmRef, ctx.commit), [INSTALL_MARKER, ADOPTED]];
  await runTask(
    c,
    'ReconfigVM_Task',
    ref('_this', vmRef) +
      reconfigSpec(vm.devices, {
        growDisks: [],
        addDisks: [],
        annotation: annotationFor(system),
        extraConfig: entries,
      }),
    { timeoutMs: vs.taskMs(v), what: `adopt ${system.name} (${vmRef.value})` },
  );
  ctx.log.info(
    { system: system.name, vm: vmRef.value },
    'vsphere: adopted the VM (marker written, nothing else changed)',
  );
  const got = await readVm(c, vmRef);
  vs.remember(got);
  return toResource(vs, got);
}

/**
 * `shipshape ownership seal`: seals the VMs whose (unsealed) marker names one of `systems`, once,
 * when a site starts using `ownership:`. A system claimed by two VMs is left alone and reported.
 */
export async function sealMarkers(
  vs: VmSession,
  ctx: ProviderContext,
  systems: Set<string>,
): Promise<{ sealed: string[]; skipped: string[] }> {
  const { c, p, v } = await vs.connect(ctx);
  if (!vs.sealer)
    throw new UserError('shipshape.yaml has no ownership: section (siteId, key); there is nothing to seal with');
  const vms = await listFolder(vs, c, p);
  const claims = new Map<string, VmInfo[]>();
  for (const vm of vms) {
    const m = markerOf(vm);
    if (m && systems.has(m.system)) claims.set(m.system, [...(claims.get(m.system) ?? []), vm]);
  }
  const sealed: string[] = [];
  const skipped: string[] = [];
  for (const [system, list] of claims) {
    if (list.length > 1) {
      skipped.push(
        `${system}: ${list.length} VMs claim it (${list.map((x) => `${x.name}/${x.ref.value}`).join(', ')}); remove the extra markers by hand, then seal again`,
      );
      continue;
    }
    const vm = list[0]!;
    if (vs.ours(vm)) continue;
    const seal = vs.sealer.seal({ kind: 'vm', system, resourceId: vm.ref.value });
    await runTask(c, 'ReconfigVM_Task', ref('_this', vm.ref) + `<spec>${extraConfig([[MARKER_SEAL, seal]])}</spec>`, {
      timeoutMs: vs.taskMs(v),
      what: `seal the marker of ${vm.name}`,
    });
    sealed.push(`vm ${system}: ${vm.name} (${vm.ref.value})`);
  }
  return { sealed, skipped };
}

export async function deleteVm(
  vs: VmSession,
  system: DesiredSystem,
  observed: VmResource,
  ctx: ProviderContext,
): Promise<void> {
  const { c, v } = await vs.connect(ctx);
  const vmRef = observed.handle?.ref ?? { type: 'VirtualMachine', value: observed.id };
  let vm: VmInfo;
  try {
    vm = (await readVms(c, [vmRef], LIGHT_PATHS)).get(vmRef.value)!;
  } catch (e) {
    if (e instanceof ManagedObjectNotFoundError) return; // already gone
    throw e;
  }
  // Decide on what the VM carries now, not on what the plan saw.
  if (!vm || vs.ours(vm)?.system !== system.name) {
    throw new Refusal(
      'not-owned',
      `system ${system.name}: refusing to delete VM ${vm?.name ?? '?'} (${vmRef.value}): it does not carry shipshape's marker for this system${vs.sealer ? ' sealed by this site' : ''}`,
    );
  }
  const what = `${system.name} (${vmRef.value})`;
  await powerOff(c, vmRef, {
    guestTimeoutMs: vs.o.guestShutdownTimeoutMs ?? 120_000,
    taskTimeoutMs: vs.taskMs(v),
    what,
  });
  if (system.lifecycle.vmOnDelete === 'poweroff-keep') {
    await retire(c, vmRef, vm, system.name, vs.taskMs(v), ctx);
    vs.seen = vs.seen?.filter((s) => s.ref.value !== vmRef.value);
    return;
  }
  await runTask(c, 'Destroy_Task', ref('_this', vmRef), { timeoutMs: vs.taskMs(v), what: `destroy ${what}` });
  // A replace creates right after this delete: it must not find the destroyed VM in this run's view.
  vs.seen = vs.seen?.filter((s) => s.ref.value !== vmRef.value);
}
