/**
 * create: idempotent per system (this site's marker, the name and the engine's create journal
 * decide), a clone with the marker in its spec, placed where the manifest says, converged and
 * powered on; and `adoptCreated`, which finds what an interrupted create made.
 */
import { UserError, type CreateIntent, type ProviderContext, type Resolved } from '../../engine/contract';
import type { DesiredSystem } from '../../manifest/types';
import type { VimClient } from './client';
import type { VsphereConfig } from './config';
import { converge } from './converge';
import { macRange, observedFields, type VmFields } from './fields';
import { inManualRange } from '../../manifest/mac';
import { Refusal } from '../../engine/refusals';
import { runTask, TaskTimeoutError, waitForTask } from './inventory';
import { exists, listFolder, readVm, toResource } from './observe';
import { ManagedObjectNotFoundError, VsphereFault } from './soap/faults';
import { child, ref, toRef, type MoRef } from './soap/xml';
import { cloneBody, cloneWant, reconfigSpec, relocateSpec } from './specs';
import { poolPathOf, whereFor } from './where';
import { MARKER_OWNER, MARKER_SYSTEM, markerEntries, markerOf, OWNER_VALUE, type VmInfo } from './vm';
import type { VmResource, VmSession } from './session';

export async function create(
  vs: VmSession,
  system: DesiredSystem,
  desired: VmFields,
  resolved: Resolved,
  ctx: ProviderContext,
  intent?: CreateIntent,
): Promise<VmResource> {
  if (!inManualRange(desired.mac))
    throw new Refusal('mac-range', `system ${system.name}: ${macRange(system, desired.mac).refused}`);
  try {
    return await createOnce(vs, system, desired, resolved, ctx, intent);
  } catch (e) {
    // This run's view said the VM existed, but it was deleted meanwhile: look again, once.
    if (!(e instanceof ManagedObjectNotFoundError) || !vs.seen) throw e;
    vs.seen = undefined;
    return createOnce(vs, system, desired, resolved, ctx, intent);
  }
}

export async function createOnce(
  vs: VmSession,
  system: DesiredSystem,
  desired: VmFields,
  resolved: Resolved,
  ctx: ProviderContext,
  intent?: CreateIntent,
): Promise<VmResource> {
  const { c, p, v } = await vs.connect(ctx);
  const found = (vs.seen ?? (await listFolder(vs, c, p))).filter(
    (vm) => vm.name === system.name || markerOf(vm)?.system === system.name,
  );
  const mine = found.filter((vm) => vs.ours(vm)?.system === system.name);
  if (mine.length > 1) {
    throw new UserError(
      `system ${system.name}: ${mine.length} VMs in ${p.folderPath} carry its marker (${mine.map((m) => `${m.name}/${m.ref.value}`).join(', ')}); remove all but one by hand, then apply again`,
    );
  }
  if (mine.length === 1) {
    ctx.log.info(
      { system: system.name, vm: mine[0]!.ref.value },
      'vsphere: VM already exists (earlier run); converging instead of cloning',
    );
    return finishCreate(vs, mine[0]!.ref, system, desired, resolved, ctx);
  }
  // What an interrupted create of this system noted in the engine's journal: its clone task and VM.
  const entry = intent?.interrupted?.detail;
  const sameName = found.filter((vm) => vm.name === system.name);
  if (sameName.length) {
    const ours =
      entry &&
      sameName.length === 1 &&
      (sameName[0]!.ref.value === entry.vm ||
        (entry.task && (await taskResult(vs, c, entry.task, v))?.value === sameName[0]!.ref.value));
    if (ours) {
      ctx.log.info(
        { system: system.name, vm: sameName[0]!.ref.value },
        'vsphere: found the clone an interrupted run started; marking and converging it',
      );
      return finishCreate(vs, sameName[0]!.ref, system, desired, resolved, ctx);
    }
    const interrupted = entry
      ? ` An interrupted create of this system (journal ${intent!.path}) may have made it, but the journal cannot prove it.`
      : '';
    throw new UserError(
      `system ${system.name}: a VM named ${system.name} already exists ${sameName.map((s) => `${vs.outside.get(s.ref.value) ?? `in ${p.folderPath}`} (${s.ref.value})`).join('; ')} without shipshape's marker; shipshape never creates a second one.${interrupted} Adopt it (\`shipshape adopt ${system.name}\`), rename the system, or remove that VM`,
      'collides',
    );
  }
  if (entry?.task || entry?.vm) {
    const made = entry.vm ? { type: 'VirtualMachine', value: entry.vm } : await taskResult(vs, c, entry.task!, v);
    const still = made && (await exists(c, made));
    if (still) {
      throw new UserError(
        `system ${system.name}: an interrupted create (journal ${intent!.path}) made VM ${made.value}, which is no longer named ${system.name} in ${p.folderPath}: it was moved or renamed. Find it in vCenter and delete it, or move it back and name it ${system.name}; then apply again`,
      );
    }
    // The journal points at nothing (the clone failed, or its VM was destroyed since): clone anew.
    if (made)
      ctx.log.warn(
        { system: system.name, vm: made.value },
        `vsphere: an interrupted create of ${system.name} made ${made.value}, which no longer exists; cloning anew`,
      );
  }
  const w = whereFor(system, v);
  const [template, folder, pool, datastore, host] = await Promise.all([
    p.template(desired.os),
    p.folder(w, system),
    p.pool(w, system),
    p.datastore(desired.disks[0]?.datastore ?? v.datastore, w.datacenter, system, 0),
    w.host !== undefined ? p.host(w, system) : undefined,
  ]);
  // The clone gets its final configuration where vCenter takes it in the clone spec (NIC, CPU,
  // memory, marker), so the reconfigure after it has only the seal and disk changes left.
  const tpl = await templateInfo(c, template);
  const marker = markerEntries(system.name, system.os, ctx.commit);
  const body = cloneBody({
    template,
    folder,
    name: system.name,
    datastore,
    pool,
    ...(host ? { host } : {}),
    ...(tpl.devices ? { devices: tpl.devices } : {}),
    config: await cloneWant(desired, templateNic(tpl), p, marker, system),
  });
  const task = toRef(child(await c.call('CloneVM_Task', body), 'returnval'));
  if (!task) throw new Error('vSphere CloneVM_Task returned no task');
  intent?.note({ task: task.value });
  const onProgress = vs.progress(ctx, system.name, `clone ${task.value}`);
  const vm = toRef(
    await cloneOutcome(
      system,
      waitForTask(c, task, {
        timeoutMs: vs.taskMs(v),
        what: `clone ${system.name} from template ${v.templates[desired.os]}`,
        onProgress,
      }),
    ),
  );
  if (!vm) throw new Error(`vSphere clone task ${task.value} returned no VM`);
  intent?.note({ vm: vm.value });
  // Some setups (vcsim among them) leave a clone on the template's host whatever the spec's location
  // said: compare the references and move it before it is powered on. The read is the whole VM, which
  // converge starts from when no move was needed (one read of the new VM instead of two).
  const first = await readVm(c, vm);
  const at = first.location;
  const moved = !!at && (at.pool?.value !== pool.value || (!!host && at.host?.value !== host.value));
  if (moved)
    await runTask(c, 'RelocateVM_Task', ref('_this', vm) + relocateSpec(pool, host), {
      timeoutMs: vs.taskMs(v),
      what: `place ${system.name} (${vm.value}) in ${poolPathOf(w)}${w.host ? ` on ${w.host}` : ''}`,
    });
  // A fresh clone the install step will boot stays off until then (it powers it on, instead of a reset).
  return finishCreate(vs, vm, system, desired, resolved, ctx, resolved.bootsVm === true, moved ? undefined : first);
}

export async function finishCreate(
  vs: VmSession,
  vm: MoRef,
  system: DesiredSystem,
  desired: VmFields,
  resolved: Resolved,
  ctx: ProviderContext,
  leaveOff = false,
  /** The VM as just read by the caller, nothing done to it since: converge starts from it instead of reading it again. */
  read?: VmInfo,
): Promise<VmResource> {
  const iso = typeof resolved.installIso === 'string' ? resolved.installIso : undefined;
  const got = await converge(vs, vm, system, desired, ctx, {
    allowPowerOff: false,
    leaveOff,
    ...(iso ? { iso } : {}),
    ...(read ? { read } : {}),
  });
  vs.remember(got);
  return toResource(vs, got);
}

/**
 * Waits for the clone. A clone that failed (a fault in the task's info.error) or that was
 * cancelled at its timeout made no VM: the engine's journal entry is cleared (adoptCreated finds
 * nothing), and the next plan shows the create again.
 */
export async function cloneOutcome<T>(system: DesiredSystem, wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (e) {
    if (e instanceof VsphereFault || (e instanceof TaskTimeoutError && e.cancelled)) {
      throw new UserError(`system ${system.name}: ${e.message}; no VM was created, the next run clones again`);
    }
    throw e;
  }
}

/**
 * After a failed or interrupted create: the VM it made (from the journal's VM or clone task, or
 * by this system's marker), marked as this system's so the next plan shows it (an update for
 * what the create did not finish, or a delete for a retired system). Undefined: it made none.
 */
export async function adoptCreated(
  vs: VmSession,
  system: DesiredSystem,
  detail: Record<string, string>,
  ctx: ProviderContext,
): Promise<VmResource | undefined> {
  const { c, p, v } = await vs.connect(ctx);
  let made: MoRef | undefined = detail.vm
    ? { type: 'VirtualMachine', value: detail.vm }
    : detail.task
      ? await taskResult(vs, c, detail.task, v)
      : undefined;
  if (!made) {
    const vms = await listFolder(vs, c, p);
    // Only a marker sealed by this site counts here: a hand-written one must not make someone's VM ours.
    made = vms.find((vm) => vs.ours(vm)?.system === system.name)?.ref;
    const unmarked = vms.filter((vm) => vm.name === system.name && !markerOf(vm));
    if (!made && unmarked.length) {
      // Killed before the clone task was noted: that VM may be the clone, or someone else's.
      throw new UserError(
        `system ${system.name}: a VM named ${system.name} (${unmarked.map((u) => u.ref.value).join(', ')}) is in ${p.folderPath} without shipshape's marker; an interrupted create of this system may have made it, but the journal cannot prove it. If it is the clone, adopt it by setting extraConfig ${MARKER_OWNER}=${OWNER_VALUE} and ${MARKER_SYSTEM}=${system.name}; otherwise rename or remove it`,
      );
    }
  }
  if (!made || !(await exists(c, made))) return undefined;
  let vm = await readVm(c, made);
  const m = markerOf(vm);
  if (m && m.system !== system.name)
    throw new UserError(
      `system ${system.name}: the VM its interrupted create made (${made.value}) carries the marker of system ${m.system}; check it in vCenter`,
    );
  if (!m || !vs.ours(vm)) {
    // The journal (or this site's seal) vouches for this VM: mark and seal it.
    const spec = reconfigSpec(vm.devices, {
      growDisks: [],
      addDisks: [],
      extraConfig: vs.markerFor(system, vm.ref, ctx.commit),
    });
    await runTask(c, 'ReconfigVM_Task', ref('_this', vm.ref) + spec, {
      timeoutMs: vs.taskMs(v),
      what: `mark ${system.name} (${vm.ref.value})`,
    });
    vm = await readVm(c, vm.ref);
  }
  vs.remember(vm);
  return toResource(vs, vm);
}

/** The VM a clone task produced; undefined when the task failed or vCenter no longer knows it. */
export async function taskResult(
  vs: VmSession,
  c: VimClient,
  task: string,
  v: VsphereConfig,
): Promise<MoRef | undefined> {
  try {
    return toRef(
      await waitForTask(
        c,
        { type: 'Task', value: task },
        { timeoutMs: vs.taskMs(v), what: 'clone from an interrupted run' },
      ),
    );
  } catch (e) {
    if (e instanceof VsphereFault) return undefined; // failed, or vCenter forgot the task: it made no VM
    throw e; // timeouts and transport errors: stop, do not guess
  }
}

/** The template's first NIC: its MAC and what its backing names (a clone changes it only where the manifest differs). */
function templateNic(tpl: VmInfo): { mac: string; portgroupId: string } {
  const nic = tpl.devices?.nics[0];
  return { mac: observedFields(tpl).mac, portgroupId: nic?.networkId ?? '' };
}

/** Templates read whole once per session (a run): their devices are what a clone spec's NIC edit names. */
const templatesRead = new WeakMap<VimClient, Map<string, Promise<VmInfo>>>();

function templateInfo(c: VimClient, template: MoRef): Promise<VmInfo> {
  let read = templatesRead.get(c);
  if (!read) templatesRead.set(c, (read = new Map()));
  let got = read.get(template.value);
  if (!got) {
    got = readVm(c, template);
    got.catch(() => read.delete(template.value));
    read.set(template.value, got);
  }
  return got;
}
