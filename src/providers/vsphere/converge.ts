/**
 * update: converge a VM on its manifest (re-read, reconfigure what differs, repeat), powering off
 * only when the manifest allows it, and relocate it when its placement changed.
 */
import { UserError, type FieldChange, type ProviderContext, type Resolved } from '../../engine/contract';
import { Refusal } from '../../engine/refusals';
import { formatSource, type DesiredSystem } from '../../manifest/types';
import { diffVm, observedFields, type VmFields } from './fields';
import { runTask } from './inventory';
import { checkPortgroup, portgroupSetting } from './networks';
import { readVm, toResource } from './observe';
import { powerOff, powerOn } from './power';
import { FileNotFoundError } from './soap/faults';
import { ref, type MoRef } from './soap/xml';
import { reconfigSpec, relocateSpec, wantFor } from './specs';
import { folderPathOf, poolPathOf, whereFor } from './where';
import { MARKER_SYSTEM, markerOf, type VmInfo } from './vm';
import type { VmResource, VmSession } from './session';

const MAX_CONVERGE = 3;

/** Re-read, reconfigure what differs, repeat until it matches (vcsim drops CPU/memory from clone specs), then power on. */
export async function converge(
  vs: VmSession,
  vmRef: MoRef,
  system: DesiredSystem,
  desired: VmFields,
  ctx: ProviderContext,
  o: { allowPowerOff: boolean; iso?: string; leaveOff?: boolean; read?: VmInfo },
): Promise<VmInfo> {
  const { c, p, v } = await vs.connect(ctx);
  const what = `${system.name} (${vmRef.value})`;
  let vm = o.read ?? (await readVm(c, vmRef));
  let isoDone = !o.iso || vm.devices?.cdroms[0]?.iso === o.iso;
  const nets = await p.networks(desired.placement?.datacenter);
  for (let round = 1; ; round++) {
    const nic = vm.devices?.nics[0]?.networkId;
    const changes = diffVm(system, desired, observedFields(vm), undefined, (value) =>
      checkPortgroup(nets, value, nic, portgroupSetting(system, ctx.site)),
    ).filter((ch) => ch.path !== 'power' && ch.path !== 'os');
    // Powering off is this loop's own decision below (with the VM's current state): not a refusal here.
    const refused = changes.filter((ch) => ch.refused && ch.refusal !== 'power-policy');
    if (refused.length) throw refusalOf(system, refused);
    const m = markerOf(vm);
    if (m?.os && m.os !== desired.os) {
      throw new UserError(
        `system ${system.name}: VM ${vmRef.value} was cloned for OS ${m.os}, the manifest wants ${desired.os}; that takes a new VM (a replace), not a reconfiguration. If the old VM was kept (vmOnDelete: poweroff-keep), rename it or remove its ${MARKER_SYSTEM} extraConfig, then apply again`,
      );
    }
    const needMarker = m?.system !== system.name || m.os !== desired.os || vs.ours(vm) === undefined;
    if (!changes.length && !needMarker && isoDone) break;
    if (round > MAX_CONVERGE)
      throw new Error(
        `vSphere VM ${what} did not converge after ${MAX_CONVERGE} reconfigurations; still differs in ${changes.map((ch) => ch.path).join(', ')}`,
      );
    const hw = changes.filter((ch) => ch.path === 'cpu' || ch.path === 'memoryMiB' || ch.path === 'mac');
    if (hw.length && vm.powerState !== 'poweredOff') {
      if (!o.allowPowerOff) {
        const src = system.sources['lifecycle.powerPolicy'];
        const now = src ? ` (${system.lifecycle.powerPolicy} at ${formatSource(src)})` : '';
        throw new Refusal(
          'power-policy',
          `system ${system.name}: changing ${hw.map((h) => `${h.path} ${h.from}→${h.to}`).join(', ')} needs the VM powered off; set lifecycle.powerPolicy: allow-poweroff in ${system.file} or its profile${now} to let apply do it, or power it off yourself and apply again`,
        );
      }
      ctx.log.info(
        { system: system.name, fields: hw.map((h) => h.path) },
        'vsphere: powering off for a CPU/memory/MAC change (powerPolicy allow-poweroff)',
      );
      // The plan said "needs power-off": the apply's progress says when it happens (and the power-on after it).
      ctx.progress?.(
        system.name,
        'vm',
        `powering off for ${hw.map((h) => h.path).join(', ')} (powerPolicy allow-poweroff)`,
      );
      await powerOff(c, vmRef, {
        guestTimeoutMs: vs.o.guestShutdownTimeoutMs ?? 120_000,
        taskTimeoutMs: vs.taskMs(v),
        what,
      });
    }
    const marker =
      needMarker || changes.length
        ? vs.markerFor(system, vmRef, ctx.commit).filter(([k, val]) => vm.extraConfig.get(k) !== val)
        : [];
    const want = await wantFor(changes, desired, p, marker, isoDone ? undefined : o.iso, system);
    isoDone = true;
    const spec = reconfigSpec(vm.devices, want);
    try {
      if (spec)
        await runTask(c, 'ReconfigVM_Task', ref('_this', vmRef) + spec, {
          timeoutMs: vs.taskMs(v),
          what: `reconfigure ${what}`,
          onProgress: vs.progress(ctx, system.name, 'reconfigure'),
        });
    } catch (e) {
      // Disk edits send each disk's backing back as read. A FileNotFound for one of its files means
      // the device list we read is stale (see README: concurrent clones and disk paths): read it
      // again and redo the round; a disk that is really gone fails the same way at MAX_CONVERGE.
      if (!(e instanceof FileNotFoundError) || round >= MAX_CONVERGE) throw e;
      ctx.log.warn(
        { system: system.name, vm: vmRef.value },
        `vsphere: reconfigure of ${what} named a disk file that is not there (${e.message}); reading the VM again`,
      );
      isoDone = !o.iso || vm.devices?.cdroms[0]?.iso === o.iso;
    }
    vm = await readVm(c, vmRef);
  }
  if (desired.power === 'poweredOn' && vm.powerState !== 'poweredOn' && !o.leaveOff) {
    ctx.progress?.(system.name, 'vm', 'powering on');
    await powerOn(c, vmRef, { taskTimeoutMs: vs.taskMs(v), what });
    vm = await readVm(c, vmRef);
  }
  return vm;
}

export async function update(
  vs: VmSession,
  system: DesiredSystem,
  desired: VmFields,
  observed: VmResource,
  changes: FieldChange[],
  _resolved: Resolved,
  ctx: ProviderContext,
): Promise<VmResource> {
  if (!observed.owned)
    throw new Refusal(
      'not-owned',
      `system ${system.name}: VM ${observed.id} does not carry shipshape's marker; not changing it`,
    );
  // Power-off is decided in converge on the VM as it is now (it may have been stopped since the plan).
  const refused = changes.filter((ch) => ch.refused && ch.refusal !== 'power-policy');
  if (refused.length) throw refusalOf(system, refused);
  const h = observed.handle!;
  const moves = changes.filter((ch) => ch.path.startsWith('placement.'));
  if (moves.length) await relocate(vs, h.ref, system, moves, ctx);
  return toResource(
    vs,
    await converge(vs, h.ref, system, desired, ctx, {
      allowPowerOff: system.lifecycle.powerPolicy === 'allow-poweroff',
    }),
  );
}

/**
 * Moves the VM to its declared placement: RelocateVM_Task to the cluster's (or named) pool and the
 * pinned host, live where vCenter can (vMotion; otherwise the task fails with vCenter's reason), and
 * MoveIntoFolder_Task for the folder. Another datacenter is a replace, never done here.
 */
export async function relocate(
  vs: VmSession,
  vm: MoRef,
  system: DesiredSystem,
  moves: FieldChange[],
  ctx: ProviderContext,
): Promise<void> {
  const { c, p, v } = await vs.connect(ctx);
  const w = whereFor(system, v);
  const what = `${system.name} (${vm.value})`;
  if (moves.some((m) => m.path === 'placement.datacenter'))
    throw new UserError(`system ${system.name}: moving to datacenter ${w.datacenter} takes a new VM (a replace)`);
  if (moves.some((m) => m.path !== 'placement.folder')) {
    const [pool, host] = await Promise.all([p.pool(w, system), w.host !== undefined ? p.host(w, system) : undefined]);
    ctx.log.info({ system: system.name, vm: vm.value, to: poolPathOf(w) }, 'vsphere: relocating (vMotion)');
    await runTask(c, 'RelocateVM_Task', ref('_this', vm) + relocateSpec(pool, host), {
      timeoutMs: vs.taskMs(v),
      what: `relocate ${what} to ${poolPathOf(w)}${w.host ? ` on ${w.host}` : ''}`,
      onProgress: vs.progress(ctx, system.name, 'relocate'),
    });
  }
  if (moves.some((m) => m.path === 'placement.folder')) {
    const folder = await p.folder(w, system);
    await runTask(c, 'MoveIntoFolder_Task', ref('_this', folder) + ref('list', vm), {
      timeoutMs: vs.taskMs(v),
      what: `move ${what} into folder ${folderPathOf(w)}`,
    });
  }
}

/** Apply's refusal for refused field changes: the first one's id, every reason in the message. */
function refusalOf(system: DesiredSystem, refused: FieldChange[]): Error {
  const message = `system ${system.name}: ${refused.map((r) => r.refused).join('; ')}`;
  const id = refused.find((r) => r.refusal)?.refusal;
  return id ? new Refusal(id, message) : new UserError(message);
}
