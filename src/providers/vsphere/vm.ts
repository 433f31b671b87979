/**
 * A VM as read from vSphere: the light properties every VM in scope gets, the device list only
 * for VMs we own, and shipshape's ownership marker.
 *
 * Marker choice: extraConfig keys (`shipshape.owner`, `shipshape.system`, `shipshape.os`,
 * `shipshape.commit`), not a custom attribute. extraConfig lives in the .vmx, so it travels with
 * the VM through clone, vMotion and re-registration; it needs no vCenter-wide custom field
 * definition (which needs Global.ManageCustomFields and can collide with another tool's field);
 * and it can be set inside the CloneVM_Task spec itself, so a clone is never born unmarked.
 * vcsim appends extraConfig values instead of replacing them, so we read the LAST entry per key
 * and treat an empty value as absent (what vCenter's replace/delete semantics give anyway).
 */
import type { MoRef, XNode } from './soap/xml';
import { child, childText, children, toRef } from './soap/xml';
import type { ObjectContent, PropertyRequest } from './inventory';
import { LOCATION_PATHS, type VmLocation, type Where } from './where';

export const MARKER_OWNER = 'shipshape.owner';
export const MARKER_SYSTEM = 'shipshape.system';
export const MARKER_OS = 'shipshape.os';
export const MARKER_COMMIT = 'shipshape.commit';
/** The site's seal over the marker (src/ownership): binds it to this VM's managed object id. */
export const MARKER_SEAL = 'shipshape.seal';
export const OWNER_VALUE = 'shipshape';

/**
 * What observe reads of every VM in every run. Not its location: that comes from the containers'
 * member lists read in the same view (where.ts, `Memberships`), and moves change no changeVersion.
 */
export const RUN_PATHS = [
  'name',
  'runtime.powerState',
  'config.hardware.numCPU',
  'config.hardware.memoryMB',
  'config.changeVersion',
  // Which boot of the machine this is (specialisation keeps role records per boot). The summary's copy:
  // the same VirtualMachineRuntimeInfo as `runtime`, and the one vcsim updates on power-on. A power
  // cycle changes no configuration, so this is read every run.
  'summary.runtime.bootTime',
];
/**
 * Configuration observe keeps between runs (device-cache.ts), by the VM's managed object id and
 * changeVersion: all of it is VirtualMachineConfigInfo, which changes changeVersion when it changes,
 * so it is read again only when changeVersion moved.
 */
export const CONFIG_PATHS = ['config.instanceUuid', 'config.template', 'config.annotation', 'config.extraConfig'];
/** Everything light of one VM: what reads by reference (create, claims, the change feed) ask. */
export const LIGHT_PATHS = [...RUN_PATHS, ...CONFIG_PATHS, ...LOCATION_PATHS];
export const HEAVY_PATHS = ['config.hardware.device'];

/** Network names come back in the device read by following VirtualMachine.network. */
export const NETWORK_REQUESTS: PropertyRequest[] = [
  { type: 'Network', paths: ['name'] },
  { type: 'DistributedVirtualPortgroup', paths: ['name'] },
  // A NIC on an opaque network names its summary's opaqueNetworkId, not the reference (nicNetwork).
  { type: 'OpaqueNetwork', paths: ['name', 'summary'] },
];

export interface VmDisk {
  key: number;
  sizeKiB: number;
  /** Datastore name, from the `[name] path` file name. */
  datastore: string;
  controllerKey: number;
  unitNumber: number;
  node: XNode;
}

export interface VmNic {
  key: number;
  mac: string;
  /** Port group or network name ('' when unknown). */
  network: string;
  /** What the backing names: a distributed port group's key, or the network's managed object id. */
  networkId?: string;
  node: XNode;
}

export interface VmCdrom {
  key: number;
  /** ISO path when backed by an ISO file. */
  iso?: string;
  node: XNode;
}

export interface VmDevices {
  disks: VmDisk[];
  nics: VmNic[];
  cdroms: VmCdrom[];
  /** Keys in use per controller, to place new disks. */
  unitsByController: Map<number, number[]>;
  /** The controller the first disk sits on (new disks go there). */
  diskController?: number;
}

export interface VmInfo {
  ref: MoRef;
  name: string;
  powerState: string;
  numCPU: number;
  memoryMB: number;
  annotation: string;
  instanceUuid: string;
  /** vCenter changes it with every change of the VM's configuration ('' when the server keeps none). */
  changeVersion: string;
  /** When the VM was last powered on (cleared while it is off). */
  bootTime?: string;
  isTemplate: boolean;
  /** Last value per extraConfig key, empty values dropped. */
  extraConfig: Map<string, string>;
  devices?: VmDevices;
  /** Folder, pool and host references (light read). */
  location: VmLocation;
  /** The placement as names (observe resolves `location` with one inventory read); undefined when unknown. */
  placement?: Where;
}

export interface Marker {
  system: string;
  os: string;
  commit: string;
}

export function markerOf(vm: Pick<VmInfo, 'extraConfig'>): Marker | undefined {
  if (vm.extraConfig.get(MARKER_OWNER) !== OWNER_VALUE) return undefined;
  const system = vm.extraConfig.get(MARKER_SYSTEM);
  if (!system) return undefined;
  return { system, os: vm.extraConfig.get(MARKER_OS) ?? '', commit: vm.extraConfig.get(MARKER_COMMIT) ?? '' };
}

/** The extraConfig entries that mark a VM as shipshape's for `system`. */
export function markerEntries(system: string, os: string, commit?: string): [string, string][] {
  const m: [string, string][] = [
    [MARKER_OWNER, OWNER_VALUE],
    [MARKER_SYSTEM, system],
    [MARKER_OS, os],
  ];
  if (commit) m.push([MARKER_COMMIT, commit]);
  return m;
}

export function lastPerKey(val: XNode | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const o of children(val)) {
    const k = childText(o, 'key');
    if (k === undefined) continue;
    const v = childText(o, 'value') ?? '';
    if (v === '') m.delete(k);
    else m.set(k, v);
  }
  return m;
}

const num = (s: string | undefined): number => (s === undefined ? NaN : Number(s));

export function parseVm(o: ObjectContent, networkNames: Map<string, string>): VmInfo {
  const p = (k: string): string | undefined => o.props.get(k)?.text;
  const vm: VmInfo = {
    ref: o.obj,
    name: p('name') ?? '',
    powerState: p('runtime.powerState') ?? 'unknown',
    numCPU: num(p('config.hardware.numCPU')),
    memoryMB: num(p('config.hardware.memoryMB')),
    annotation: p('config.annotation') ?? '',
    instanceUuid: p('config.instanceUuid') ?? '',
    changeVersion: p('config.changeVersion') ?? '',
    isTemplate: p('config.template') === 'true',
    extraConfig: lastPerKey(o.props.get('config.extraConfig')),
    location: {},
  };
  const boot = p('summary.runtime.bootTime');
  if (boot) vm.bootTime = boot;
  const parent = toRef(o.props.get('parent'));
  const pool = toRef(o.props.get('resourcePool'));
  const host = toRef(o.props.get('runtime.host'));
  if (parent) vm.location.parent = parent;
  if (pool) vm.location.pool = pool;
  if (host) vm.location.host = host;
  const dev = o.props.get('config.hardware.device');
  if (dev) vm.devices = parseDevices(dev, networkNames);
  return vm;
}

const DS_NAME = /^\[([^\]]*)\]/;

/**
 * A NIC's network: a distributed port group by its key (VirtualEthernetCardDistributedVirtualPortBackingInfo
 * `port.portgroupKey`; vCenter's keys are the port groups' managed object ids, which `names` is
 * keyed by), a standard one by its `network` reference (VirtualEthernetCardNetworkBackingInfo), an
 * NSX opaque network by its `opaqueNetworkId`.
 */
function nicNetwork(backing: XNode | undefined, names: Map<string, string>): { network: string; networkId?: string } {
  if (!backing) return { network: '' };
  const pgKey = childText(child(backing, 'port'), 'portgroupKey');
  if (pgKey !== undefined) return { network: names.get(pgKey) ?? pgKey, networkId: pgKey };
  // An NSX opaque network (VirtualEthernetCardOpaqueNetworkBackingInfo): neither a port nor a network
  // reference, its `opaqueNetworkId` (the OpaqueNetwork's summary names the same, networks.ts).
  const opaque = childText(backing, 'opaqueNetworkId');
  if (opaque !== undefined) return { network: names.get(opaque) ?? opaque, networkId: opaque };
  const net = toRef(child(backing, 'network'));
  const name = (net && names.get(net.value)) ?? childText(backing, 'deviceName') ?? '';
  return net ? { network: name, networkId: net.value } : { network: name };
}

export function parseDevices(dev: XNode, networkNames: Map<string, string>): VmDevices {
  const d: VmDevices = { disks: [], nics: [], cdroms: [], unitsByController: new Map() };
  for (const n of children(dev)) {
    const key = num(childText(n, 'key'));
    const ctl = childText(n, 'controllerKey');
    const unit = childText(n, 'unitNumber');
    if (ctl !== undefined && unit !== undefined) {
      const list = d.unitsByController.get(Number(ctl)) ?? [];
      list.push(Number(unit));
      d.unitsByController.set(Number(ctl), list);
    }
    const backing = child(n, 'backing');
    const t = n.xsiType ?? '';
    if (t === 'VirtualDisk') {
      const fileName = childText(backing, 'fileName') ?? '';
      const bytes = childText(n, 'capacityInBytes');
      const sizeKiB = bytes !== undefined ? Number(bytes) / 1024 : num(childText(n, 'capacityInKB'));
      d.disks.push({
        key,
        sizeKiB,
        datastore: DS_NAME.exec(fileName)?.[1] ?? '',
        controllerKey: Number(ctl),
        unitNumber: Number(unit),
        node: n,
      });
      if (d.diskController === undefined) d.diskController = Number(ctl);
    } else if (childText(n, 'macAddress') !== undefined || /Ethernet|E1000|Vmxnet|Pcnet|Sriov|Vlance/i.test(t)) {
      d.nics.push({
        key,
        mac: (childText(n, 'macAddress') ?? '').toLowerCase(),
        ...nicNetwork(backing, networkNames),
        node: n,
      });
    } else if (t === 'VirtualCdrom') {
      const iso = backing?.xsiType === 'VirtualCdromIsoBackingInfo' ? childText(backing, 'fileName') : undefined;
      d.cdroms.push(iso !== undefined ? { key, iso, node: n } : { key, node: n });
    }
  }
  return d;
}

/** Network moref value → name, from the objects a device read returned alongside the VMs. */
export function networkNamesOf(objs: ObjectContent[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const o of objs) {
    if (o.obj.type === 'VirtualMachine') continue;
    const name = o.props.get('name')?.text;
    if (name !== undefined) m.set(o.obj.value, name);
    // A NIC on an opaque network names it by its opaqueNetworkId (nicNetwork).
    const opaque = childText(o.props.get('summary'), 'opaqueNetworkId');
    if (name !== undefined && o.obj.type === 'OpaqueNetwork' && opaque !== undefined) m.set(opaque, name);
  }
  return m;
}
