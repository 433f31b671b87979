/**
 * The comparable fields of kind `vm` and the pure desired()/diff() halves of the provider.
 * Only fields shipshape owns are compared: placement (host, DRS-chosen pool) and guest-reported
 * values never appear in a diff.
 */
import type { FieldChange, Fields, Resolved } from '../../engine/contract';
import { inManualRange } from '../../manifest/mac';
import { formatSource, type DesiredSystem } from '../../manifest/types';
import type { VsphereConfig } from './config';
import type { MoRef } from './soap/xml';
import type { PortgroupCheck } from './networks';
import { whereFor, type Where } from './where';
import { markerOf, type VmDevices, type VmInfo } from './vm';

export interface VmDiskFields {
  sizeGiB: number;
  datastore: string;
}

export interface VmFields extends Fields {
  name: string;
  /** OS catalog entry the VM was cloned for (recorded in the marker); a different OS means a new VM. */
  os: string;
  cpu: number;
  memoryMiB: number;
  disks: VmDiskFields[];
  /** Static MAC of the first NIC (lower case): DHCP reservations are written before the VM exists. */
  mac: string;
  portgroup: string;
  power: string;
  annotation: string;
  /**
   * Datacenter, cluster, resource pool, folder (desired: and the host, when the manifest pins one);
   * absent when not read. The host a VM runs on is in the handle, not here: DRS moves VMs between
   * hosts, and that is no change of the world a saved plan should be refused for.
   */
  placement?: Where;
}

/** What the provider needs to act on an observed VM; not compared, not shown in plans. */
export interface VmHandle {
  ref: MoRef;
  instanceUuid: string;
  /** When the VM was last powered on (VmInfo.bootTime). */
  bootTime?: string;
  /** The ISO the first CD-ROM is backed by, if any. */
  cdromIso?: string;
  /** The device fields are known (only for VMs we own: read now, or unchanged since the cached read). */
  hasDevices: boolean;
  /** The VM's folder below the datacenter's VM folder (`` for that folder itself). */
  folder?: string;
  /** The VM's install marker, OS and published host key (extraConfig), for the install step. */
  install?: { marker: string; os: string; hostKey?: string };
  /** The host the VM runs on (compared only with a pinned `placement.host`). */
  host?: string;
  /** What the first NIC's backing names (DeviceFields.portgroupId): the manifest's port group is compared with it. */
  portgroupId?: string;
}

const KIB_PER_GIB = 1024 * 1024;

export function annotationFor(system: DesiredSystem): string {
  return `Managed by shipshape: system ${system.name}, declared in ${system.file}. Change the manifest, not this VM.`;
}

export function desiredVm(
  system: DesiredSystem,
  _resolved: Resolved,
  v: Pick<VsphereConfig, 'datastore' | 'portgroup' | 'datacenter' | 'cluster' | 'resourcePool' | 'folder'>,
): VmFields | null {
  if (system.state !== 'present') return null;
  const ds = system.placement?.datastore ?? v.datastore;
  return {
    name: system.name,
    os: system.os,
    cpu: system.cpu,
    memoryMiB: system.memoryMiB,
    disks: system.disks.map((d) => ({ sizeGiB: d.sizeGiB, datastore: d.datastore ?? ds })),
    mac: system.network.mac.toLowerCase(),
    portgroup: system.network.portgroup ?? v.portgroup,
    power: 'poweredOn',
    annotation: annotationFor(system),
    placement: whereFor(system, v),
  };
}

/** What observe keeps of a VM's device list: all its fields need (the device cache stores this). */
export interface DeviceFields {
  disks: VmDiskFields[];
  mac: string;
  portgroup: string;
  /**
   * What the first NIC's backing names ('' without a NIC): a distributed port group's key or a
   * network's managed object id. Observe shows it by its path (networks.ts), read afresh every run:
   * a port group renamed or moved changes no VM's changeVersion.
   */
  portgroupId: string;
  /** The ISO the first CD-ROM is backed by, if any. */
  iso?: string;
}

/** A device list reduced to what observe compares (the raw devices stay with converge's own read). */
export function deviceFields(d: VmDevices): DeviceFields {
  const out: DeviceFields = {
    disks: d.disks.map((x) => ({
      sizeGiB: Math.round((x.sizeKiB / KIB_PER_GIB) * 1000) / 1000,
      datastore: x.datastore,
    })),
    mac: d.nics[0]?.mac ?? '',
    portgroup: d.nics[0]?.network ?? '',
    portgroupId: d.nics[0]?.networkId ?? '',
  };
  const iso = d.cdroms[0]?.iso;
  if (iso) out.iso = iso;
  return out;
}

/** The VM's fields; `devices` from its own device list when read, else from the cache (or none). */
export function observedFields(vm: VmInfo, devices?: DeviceFields): VmFields {
  const d = devices ?? (vm.devices ? deviceFields(vm.devices) : undefined);
  return {
    name: vm.name,
    os: markerOf(vm)?.os ?? '',
    cpu: vm.numCPU,
    memoryMiB: vm.memoryMB,
    disks: d?.disks ?? [],
    mac: d?.mac ?? '',
    portgroup: d?.portgroup ?? '',
    power: vm.powerState,
    annotation: vm.annotation,
    ...(vm.placement ? { placement: withoutHost(vm.placement) } : {}),
  };
}

function withoutHost(w: Where): Where {
  const { host: _host, ...rest } = w;
  return rest;
}

/**
 * `host`: where the VM runs now (the handle's), compared only when the manifest pins a host.
 * `portgroup`: the manifest's port group against the VM's network (networks.ts: a path or a bare
 * name names it, or a value naming none or several is refused); undefined, or without it, the names
 * are compared as they are.
 */
export function diffVm(
  system: DesiredSystem,
  want: VmFields,
  have: VmFields,
  host?: string,
  portgroup?: (value: string) => PortgroupCheck | undefined,
): FieldChange[] {
  const out: FieldChange[] = [];
  const src = (p: string): { source?: string } =>
    system.sources[p] ? { source: formatSource(system.sources[p]) } : {};
  const running = have.power === 'poweredOn';
  if (have.os && have.os !== want.os) {
    out.push({ path: 'os', from: have.os, to: want.os, ...src('os'), forcesReplace: true });
  }
  for (const k of ['cpu', 'memoryMiB'] as const) {
    if (have[k] !== want[k])
      out.push({ path: k, from: have[k], to: want[k], ...src(k), ...(running ? powerOff(system, k) : {}) });
  }
  want.disks.forEach((w, i) => {
    const h = have.disks[i];
    if (!h) {
      out.push({ path: `disks[${i}]`, from: null, to: w, ...src(`disks[${i}].sizeGiB`) });
      return;
    }
    const wantKiB = w.sizeGiB * KIB_PER_GIB;
    const haveKiB = Math.round(h.sizeGiB * KIB_PER_GIB);
    if (haveKiB > wantKiB + 1) {
      out.push({
        path: `disks[${i}].sizeGiB`,
        from: h.sizeGiB,
        to: w.sizeGiB,
        ...src(`disks[${i}].sizeGiB`),
        refusal: 'disk-shrink',
        refused: `disk ${i} is ${h.sizeGiB} GiB and cannot shrink to ${w.sizeGiB} GiB: vSphere only grows disks; keep the size, or move the data to a new disk by hand`,
      });
    } else if (haveKiB < wantKiB - 1) {
      out.push({ path: `disks[${i}].sizeGiB`, from: h.sizeGiB, to: w.sizeGiB, ...src(`disks[${i}].sizeGiB`) });
    }
    if (h.datastore && h.datastore !== w.datastore) {
      out.push({
        path: `disks[${i}].datastore`,
        from: h.datastore,
        to: w.datastore,
        ...src(`disks[${i}].datastore`),
        refusal: 'disk-move',
        refused: `disk ${i} is on datastore ${h.datastore}; shipshape does not move disks (Storage vMotion): migrate it in vCenter, or set datastore: ${h.datastore}`,
      });
    }
  });
  for (let i = want.disks.length; i < have.disks.length; i++) {
    out.push({
      path: `disks[${i}]`,
      from: have.disks[i],
      to: null,
      refusal: 'disk-remove',
      refused: `the VM has a disk ${i} (${have.disks[i]!.sizeGiB} GiB) the manifest does not list; shipshape never removes disks: add it to the manifest or detach it by hand`,
    });
  }
  // A new MAC under a running guest changes its identity mid-flight (DHCP reservation, persistent
  // interface names): like CPU and memory, shipshape changes it only with the VM powered off.
  if (have.mac !== want.mac)
    out.push({
      path: 'mac',
      from: have.mac,
      to: want.mac,
      ...src('network.mac'),
      ...(inManualRange(want.mac) ? (running && have.mac ? powerOff(system, 'mac') : {}) : macRange(system, want.mac)),
    });
  const pg = portgroup?.(want.portgroup);
  if (pg ? !pg.same : have.portgroup !== want.portgroup)
    out.push({
      path: 'portgroup',
      from: have.portgroup,
      to: want.portgroup,
      ...src('network.portgroup'),
      ...(pg && !pg.same && pg.refused ? { refused: pg.refused, refusal: 'portgroup-name' as const } : {}),
    });
  if (have.annotation !== want.annotation) out.push({ path: 'annotation', from: have.annotation, to: want.annotation });
  if (want.placement && have.placement)
    out.push(
      ...placementChanges(system, want.placement, { ...have.placement, ...(host !== undefined ? { host } : {}) }),
    );
  if (have.power !== want.power) out.push({ path: 'power', from: have.power, to: want.power });
  return out;
}

/** A MAC shipshape cannot set: vCenter takes manual MACs only in VMware's manual range. */
export function macRange(system: DesiredSystem, mac: string): Pick<FieldChange, 'refused' | 'refusal'> {
  return {
    refusal: 'mac-range',
    refused: `network.mac ${mac} is outside VMware's manual range 00:50:56:00:00:00–00:50:56:3f:ff:ff, which vCenter takes for a MAC set by hand: a VM that has this MAC keeps it, but shipshape cannot give it to a VM; choose one in that range in ${system.file}, or leave network.mac out (one is derived from the name)`,
  };
}

/**
 * A change that needs the running VM powered off: allowed under `powerPolicy: allow-poweroff`,
 * refused (apply would stop on it) under `never`, so the plan says so before anyone merges.
 */
function powerOff(system: DesiredSystem, path: string): Pick<FieldChange, 'needsPowerOff' | 'refused' | 'refusal'> {
  if (system.lifecycle.powerPolicy === 'allow-poweroff') return { needsPowerOff: true };
  const at = system.sources['lifecycle.powerPolicy'];
  const now = at ? ` (never at ${formatSource(at)})` : '';
  return {
    needsPowerOff: true,
    refusal: 'power-policy',
    refused: `changing ${path} needs the running VM powered off, and lifecycle.powerPolicy is never${now}: set lifecycle.powerPolicy: allow-poweroff in ${system.file} or its profile to let apply do it, or power the VM off yourself and apply again`,
  };
}

/**
 * Placement changes. Cluster, resource pool and host move a running VM live (RelocateVM_Task: vMotion;
 * vCenter refuses with its reason where it cannot, e.g. CPU-incompatible hosts), the folder by
 * MoveIntoFolder_Task; another datacenter takes a new VM (forcesReplace).
 */
export function placementChanges(system: DesiredSystem, want: Where, have: Where): FieldChange[] {
  const out: FieldChange[] = [];
  const src = (k: string): { source?: string } =>
    system.sources[`placement.${k}`] ? { source: formatSource(system.sources[`placement.${k}`]) } : {};
  if (want.datacenter !== have.datacenter) {
    out.push({
      path: 'placement.datacenter',
      from: have.datacenter,
      to: want.datacenter,
      ...src('datacenter'),
      forcesReplace: true,
    });
    return out; // the new VM is placed as a whole
  }
  for (const k of ['cluster', 'resourcePool', 'folder'] as const)
    if (want[k] !== have[k]) out.push({ path: `placement.${k}`, from: have[k], to: want[k], ...src(k) });
  if (want.host !== undefined && want.host !== have.host)
    out.push({ path: 'placement.host', from: have.host ?? null, to: want.host, ...src('host') });
  return out;
}
