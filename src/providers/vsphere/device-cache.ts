/**
 * What observe learnt from each owned VM's device list, kept in the state dir between runs and
 * keyed by the VM's instanceUuid + `config.changeVersion`. vCenter changes changeVersion with every
 * change of a VM's configuration (VirtualMachineConfigInfo.changeVersion in the vSphere Web
 * Services API reference), and a device list is part of the configuration, so a VM whose
 * changeVersion is the one cached still has the cached disks, MAC, port group and ISO: observe
 * reads device lists only for VMs whose changeVersion moved (or that are not cached yet).
 *
 * The same holds for the rest of the configuration observe uses, `config.instanceUuid`,
 * `config.template`, `config.annotation` and `config.extraConfig` (the marker): they are kept for
 * every VM in scope (owned or not, templates too; only shipshape's own extraConfig keys), by the
 * VM's managed object id and changeVersion, so the light read of a run with nothing changed leaves
 * them out and reads them only for VMs whose changeVersion moved. Managed object ids are not reused
 * within a vCenter, and a VM registered again gets a new one (so it is read again).
 * One exception: a guest sets `guestinfo.*` keys itself (the installed system publishes its host
 * key), which need not be a configuration change vCenter versions, so an owned VM whose install is
 * recorded but whose host key is not yet published is read again every time until it is.
 *
 * Safe to lose: a missing, corrupt or foreign file costs one device read of every owned VM. A VM
 * without a changeVersion (a server that keeps none) is never cached. Acting on a VM never trusts
 * the cache: converge reads the VM's devices itself before it edits them.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { readStateFile, shape, writeFileAtomic } from '../../engine/state-file';
import type { Logger } from '../../engine/contract';
import { HOST_KEY_GUESTINFO } from '../install/provider';
import { INSTALL_MARKER } from './datastore';
import type { DeviceFields } from './fields';

const VERSION = 3;
/**
 * Files of version 1 (device fields only) and 2 (configs by instanceUuid, without it and the
 * template flag) are read as they are: their VMs' configs are read once.
 */
const READABLE = [1, 2, 3];

export interface CachedDevices extends DeviceFields {
  /** The changeVersion these fields were read at. */
  cv: string;
}

/** A VM's identity, template flag, annotation and shipshape's extraConfig keys at one changeVersion. */
export interface CachedConfig {
  cv: string;
  /** config.instanceUuid (the device fields' key). */
  uuid: string;
  /** Present (true) for a template: observe leaves templates out. */
  template?: true;
  annotation: string;
  /** The extraConfig entries observe uses (`shipshape.*`, `guestinfo.shipshape.*`), last value per key. */
  extra: [string, string][];
}

/** The configuration a cache hit gives a VM, as VmInfo holds it. */
export interface VmConfig {
  instanceUuid: string;
  isTemplate: boolean;
  annotation: string;
  extraConfig: Map<string, string>;
}

interface CacheFile {
  version: number;
  /** instanceUuid → the device fields at one changeVersion. */
  vms: Record<string, CachedDevices>;
  /** Managed object id → the configuration at one changeVersion (version 3; version 2 keyed them by instanceUuid). */
  configs?: Record<string, CachedConfig>;
}

/** The extraConfig keys observe reads (markers, install state, the published host key); the rest is not kept. */
export const keptKey = (k: string): boolean => k.startsWith('shipshape.') || k.startsWith('guestinfo.shipshape.');

/** One file per vCenter, datacenter and folder (the scope one observe reads). */
export function deviceCacheFile(stateDir: string, scope: { url: string; datacenter: string; folder: string }): string {
  const id = createHash('sha256').update(`${scope.url}\0${scope.datacenter}\0${scope.folder}`).digest('hex');
  return path.join(stateDir, 'vsphere', `devices-${id.slice(0, 16)}.json`);
}

function check(v: unknown): string | undefined {
  if (!shape.object(v)) return 'not a JSON object';
  if (!READABLE.includes(v.version as number)) return `version ${String(v.version)}, expected ${VERSION}`;
  if (!shape.object(v.vms)) return 'field vms missing or not an object';
  for (const [uuid, e] of Object.entries(v.vms)) {
    if (!shape.object(e) || typeof e.cv !== 'string' || !Array.isArray(e.disks) || typeof e.mac !== 'string')
      return `entry ${uuid} malformed`;
  }
  if (v.configs === undefined || v.version === 2) return undefined; // version 2's configs are not taken
  if (!shape.object(v.configs)) return 'field configs not an object';
  for (const [ref, e] of Object.entries(v.configs)) {
    if (
      !shape.object(e) ||
      typeof e.cv !== 'string' ||
      typeof e.uuid !== 'string' ||
      (e.template !== undefined && e.template !== true) ||
      typeof e.annotation !== 'string' ||
      !Array.isArray(e.extra) ||
      !e.extra.every((x) => Array.isArray(x) && x.length === 2 && x.every((y) => typeof y === 'string'))
    )
      return `config entry ${ref} malformed`;
  }
  return undefined;
}

export class DeviceCache {
  private entries: Map<string, CachedDevices> | undefined;
  private configs = new Map<string, CachedConfig>();
  private dirty = false;

  /** Set by the provider once it has a run's logger. */
  log: Logger | undefined;

  constructor(readonly file: string) {}

  private loaded(): Map<string, CachedDevices> {
    if (this.entries) return this.entries;
    let r;
    try {
      r = readStateFile<CacheFile>(this.file, check);
    } catch (e) {
      this.log?.warn(
        { file: this.file },
        `vsphere: device cache unreadable (${(e as Error).message}); reading every device list`,
      );
      r = { status: 'missing' as const };
    }
    if (r.status === 'corrupt')
      this.log?.warn(
        { file: this.file, movedTo: r.movedTo },
        `vsphere: device cache was corrupt (${r.reason}); moved aside, reading every device list once`,
      );
    this.entries = new Map(r.status === 'ok' ? Object.entries(r.value.vms) : []);
    this.configs = new Map(
      r.status === 'ok' && r.value.version === VERSION ? Object.entries(r.value.configs ?? {}) : [],
    );
    return this.entries;
  }

  /**
   * True when configs are likely cached: the light read may then leave them out. Decided from the
   * file's first bytes (this version's files begin with their version), so the file itself is read
   * only after the view's answer is parsed: parsing with the cache's objects already in memory cost
   * more garbage collection than reading the file (measured). A file that turns out unreadable costs
   * a read of every VM's configuration by reference once.
   */
  hasConfigs(): boolean {
    if (this.entries) return this.configs.size > 0;
    try {
      const fd = openSync(this.file, 'r');
      try {
        const head = Buffer.alloc(16);
        const n = readSync(fd, head, 0, head.length, 0);
        return head.subarray(0, n).toString('latin1').startsWith(`{"version":${VERSION},`);
      } finally {
        closeSync(fd);
      }
    } catch {
      return false;
    }
  }

  /**
   * The VM's configuration when its changeVersion is the cached one, unless it waits for its guest
   * to publish the host key (see above).
   */
  config(ref: string, changeVersion: string): VmConfig | undefined {
    if (!changeVersion) return undefined;
    this.loaded();
    const e = this.configs.get(ref);
    if (e?.cv !== changeVersion) return undefined;
    const extraConfig = new Map(e.extra);
    if (extraConfig.has(INSTALL_MARKER) && !extraConfig.has(HOST_KEY_GUESTINFO)) return undefined;
    return { instanceUuid: e.uuid, isTemplate: e.template === true, annotation: e.annotation, extraConfig };
  }

  setConfig(ref: string, changeVersion: string, vm: VmConfig): void {
    if (!vm.instanceUuid || !changeVersion) return;
    this.loaded();
    const extra = vm.isTemplate ? [] : [...vm.extraConfig].filter(([k]) => keptKey(k));
    const annotation = vm.isTemplate ? '' : vm.annotation;
    const before = this.configs.get(ref);
    if (
      before?.cv === changeVersion &&
      before.uuid === vm.instanceUuid &&
      (before.template === true) === vm.isTemplate &&
      before.annotation === annotation &&
      JSON.stringify(before.extra) === JSON.stringify(extra)
    )
      return;
    this.configs.set(ref, {
      cv: changeVersion,
      uuid: vm.instanceUuid,
      ...(vm.isTemplate ? { template: true as const } : {}),
      annotation,
      extra,
    });
    this.dirty = true;
  }

  /** The cached fields of this VM, when its changeVersion is the one they were read at. */
  get(instanceUuid: string, changeVersion: string): DeviceFields | undefined {
    if (!instanceUuid || !changeVersion) return undefined;
    const e = this.loaded().get(instanceUuid);
    // Entries written before the port group's id was kept are read again once (its path comes from the id).
    if (e?.cv !== changeVersion || typeof e.portgroupId !== 'string') return undefined;
    return {
      disks: e.disks,
      mac: e.mac,
      portgroup: e.portgroup,
      portgroupId: e.portgroupId,
      ...(e.iso !== undefined ? { iso: e.iso } : {}),
    };
  }

  set(instanceUuid: string, changeVersion: string, fields: DeviceFields): void {
    if (!instanceUuid || !changeVersion) return;
    this.loaded().set(instanceUuid, { cv: changeVersion, ...fields });
    this.dirty = true;
  }

  /**
   * Forgets device fields of VMs not ours any more (by instanceUuid), and the configuration of VMs
   * and templates no longer in scope (deleted; by managed object id).
   */
  keepOnly(owned: Set<string>, inScope: Set<string>): void {
    for (const k of this.loaded().keys())
      if (!owned.has(k)) {
        this.entries!.delete(k);
        this.dirty = true;
      }
    for (const k of this.configs.keys())
      if (!inScope.has(k)) {
        this.configs.delete(k);
        this.dirty = true;
      }
  }

  /** Writes when something changed; a failed write only costs device reads next time. */
  save(): void {
    if (!this.dirty || !this.entries) return;
    try {
      const body: CacheFile = {
        version: VERSION,
        vms: Object.fromEntries(this.entries),
        configs: Object.fromEntries(this.configs),
      };
      writeFileAtomic(this.file, JSON.stringify(body), 0o600);
      this.dirty = false;
    } catch (e) {
      this.log?.warn({ file: this.file }, `vsphere: could not write the device cache (${(e as Error).message})`);
    }
  }
}
