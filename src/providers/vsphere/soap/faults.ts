/**
 * vSphere faults as typed errors. A SOAP fault (HTTP 500) and a failed task (`info.error`) both
 * carry a vim25 fault object; we classify by its xsi:type, never by faultstring (vcsim's is
 * usually empty and vCenter's is localised). Each error names the fault and the object it hit.
 */
import { UserError } from '../../../engine/contract';
import { child, children, type MoRef, type XNode, toRef } from './xml';

export class VsphereFault extends UserError {
  constructor(
    /** The vim25 fault type, e.g. `InvalidPowerState`. */
    readonly fault: string,
    message: string,
    /** The managed object the fault names, when it names one. */
    readonly object?: MoRef,
    /** Fault-specific fields (`name` for DuplicateName, `existingState` for InvalidPowerState …). */
    readonly detail: Record<string, string> = {},
  ) {
    super(
      message,
      fault === 'InvalidLogin' || fault === 'NoPermission'
        ? 'unauthorized'
        : fault === 'DuplicateName'
          ? 'collides'
          : 'failed',
    );
  }
}

export class InvalidLoginError extends VsphereFault {}
export class NotAuthenticatedError extends VsphereFault {}
export class ManagedObjectNotFoundError extends VsphereFault {}
export class DuplicateNameError extends VsphereFault {}
export class InvalidPowerStateError extends VsphereFault {}
export class InsufficientResourcesError extends VsphereFault {}
export class FileNotFoundError extends VsphereFault {}
/** Another task holds the object: nothing was done, so the same call may be made again once it ended. */
export class TaskInProgressError extends VsphereFault {}

const CLASSES: Record<string, new (...a: ConstructorParameters<typeof VsphereFault>) => VsphereFault> = {
  InvalidLogin: InvalidLoginError,
  NotAuthenticated: NotAuthenticatedError,
  ManagedObjectNotFound: ManagedObjectNotFoundError,
  DuplicateName: DuplicateNameError,
  InvalidPowerState: InvalidPowerStateError,
  InsufficientResourcesFault: InsufficientResourcesError,
  InsufficientCpuResourcesFault: InsufficientResourcesError,
  InsufficientMemoryResourcesFault: InsufficientResourcesError,
  InsufficientHostCapacityFault: InsufficientResourcesError,
  NotEnoughLicenses: InsufficientResourcesError,
  FileNotFound: FileNotFoundError,
  CannotAccessFile: FileNotFoundError,
  TaskInProgress: TaskInProgressError,
};

/**
 * What to do about the faults an operator meets, so the one line says it: vCenter's text names
 * neither the setting nor the fix. `d` is the fault's fields, `o` the object it names.
 */
const ADVICE: Record<string, (d: Record<string, string>, o: MoRef | undefined) => string> = {
  InvalidLogin: () => 'check the vSphere user name and password the site config refers to',
  NotAuthenticated: () => 'the session expired or was closed; run again',
  ManagedObjectNotFound: (_d, o) =>
    o?.type === 'VirtualMachine'
      ? 'the VM was removed from vCenter after shipshape read it; run again: the next plan sees it gone'
      : 'the object was deleted or never existed; check the names in shipshape.yaml',
  DuplicateName: () => 'another object already has this name; rename or remove it',
  InvalidPowerState: () => 'the VM is in the wrong power state for this operation',
  FileNotFound: () => 'check the datastore path',
  // pyVmomi issue #513 shows vCenter's fault: object 'vim.Folder:group-d1', privilegeId 'System.View'.
  NoPermission: (d, o) =>
    `the vSphere user lacks the privilege ${d.privilegeId || '(not named)'}${o ? ` on ${refText(o)}` : ''}: grant a role with it on that object (or a parent, propagated) to the user the site config names`,
  InsufficientResourcesFault: () => INSUFFICIENT,
  InsufficientCpuResourcesFault: () => INSUFFICIENT,
  InsufficientMemoryResourcesFault: () => INSUFFICIENT,
  InsufficientHostCapacityFault: () => INSUFFICIENT,
  NoDiskSpace: (d) =>
    `${d.datastore ? `datastore ${d.datastore}` : 'the datastore'} is full: free space there or choose another (vms.datastore or placement.datastore)`,
  InvalidDatastore: () =>
    'the datastore is missing or not reachable from the host: check vms.datastore or placement.datastore',
  InvalidDatastorePath: () =>
    'the datastore is missing or not reachable from the host: check vms.datastore or placement.datastore',
  FileAlreadyExists: () =>
    "the datastore already holds the VM's files (often a VM removed from the inventory but not deleted from disk): delete or rename that folder in the datastore browser, then run again",
  TaskInProgress: () =>
    'another task is running on this object (someone else, or vCenter itself); shipshape waited and tried again: run again once that task has finished',
  InvalidState: () =>
    "vCenter refuses this in the object's current state (a host in maintenance mode, a VM being migrated or waiting on a question): check it in vCenter, then run again",
};
const INSUFFICIENT =
  'the cluster, pool or host lacks the capacity (admission control): free capacity, lower cpu/memoryMiB, or place the VM elsewhere; running again will not help until then';

function refText(r: MoRef | undefined): string {
  return r ? `${r.type}:${r.value}` : '';
}

/** Builds the typed error for a vim25 fault element (the child of `detail`, or a task's `fault`). */
export function faultFromNode(faultNode: XNode | undefined, context: string, faultstring = ''): VsphereFault {
  const type = faultNode?.xsiType ?? faultNode?.name.replace(/Fault$/, '') ?? 'UnknownFault';
  const detail: Record<string, string> = {};
  let object: MoRef | undefined;
  for (const c of children(faultNode)) {
    const r = toRef(c);
    if (r && r.value && !object) object = r;
    else if (!r && c.children.length === 0 && c.text !== '') detail[c.name] = c.text;
  }
  const parts = [`${context}: ${type}`];
  if (object) parts.push(`on ${refText(object)}`);
  const facts = Object.entries(detail).map(([k, v]) => `${k}=${v}`);
  if (facts.length) parts.push(`(${facts.join(', ')})`);
  if (faultstring && !faultstring.startsWith('*types.')) parts.push(`- ${faultstring}`);
  const advice = ADVICE[type];
  if (advice) parts.push(`; ${advice(detail, object)}`);
  const Cls = CLASSES[type] ?? VsphereFault;
  return new Cls(type, parts.join(' ').replace(' ;', ';'), object, detail);
}

/** The fault in a SOAP Body, or undefined when the body is not a fault. */
export function faultFromBody(body: XNode, context: string): VsphereFault | undefined {
  const f = child(body, 'Fault');
  if (!f) return undefined;
  const detailEl = children(child(f, 'detail'))[0];
  return faultFromNode(detailEl, context, child(f, 'faultstring')?.text ?? '');
}

/** A task's `info.error` (LocalizedMethodFault) as a typed error. */
export function faultFromTaskError(errorVal: XNode, context: string): VsphereFault {
  return faultFromNode(child(errorVal, 'fault'), context, child(errorVal, 'localizedMessage')?.text ?? '');
}
