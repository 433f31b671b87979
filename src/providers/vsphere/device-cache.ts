/**
 * What observe learnt from each owned VM's device list, kept in the state dir between runs and
 * keyed by the VM's instanceUuid + `config.changeVersion`. vCenter changes changeVersion with every
 * change of a VM's configuration (VirtualMachineConfigInfo.changeVersion in the vSphere Web
 * Services API reference), and a device list is part of the configuration, so a VM whose
 * changeVersion is the one cached still has the cached disks, MAC, port group and ISO: observe
 * reads device lists only for VMs whose changeVersion moved (or that are not cached yet).
 *
 * Safe to lose: a missing, corrupt or foreign file costs one device read of every owned VM. A VM
 * without a changeVersion (a server that keeps none) is never cached. Acting on a VM never trusts
 * the cache: converge reads the VM's devices itself before it edits them.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { readStateFile, shape, writeFileAtomic } from '../../engine/state-file';
import type { Logger } from '../../engine/contract';
import type { DeviceFields } from './fields';

const VERSION = 1;

export interface CachedDevices extends DeviceFields {
  /** The changeVersion these fields were read at. */
  cv: string;
}

interface CacheFile {
  version: number;
  /** instanceUuid → the device fields at one changeVersion. */
  vms: Record<string, CachedDevices>;
}

/** One file per vCenter, datacenter and folder (the scope one observe reads). */
export function deviceCacheFile(stateDir: string, scope: { url: string; datacenter: string; folder: string }): string {
  const id = createHash('sha256').update(`${scope.url}\0${scope.datacenter}\0${scope.folder}`).digest('hex');
  return path.join(stateDir, 'vsphere', `devices-${id.slice(0, 16)}.json`);
}

function check(v: unknown): string | undefined {
  if (!shape.object(v)) return 'not a JSON object';
  if (v.version !== VERSION) return `version ${String(v.version)}, expected ${VERSION}`;
  if (!shape.object(v.vms)) return 'field vms missing or not an object';
  for (const [uuid, e] of Object.entries(v.vms)) {
    if (!shape.object(e) || typeof e.cv !== 'string' || !Array.isArray(e.disks) || typeof e.mac !== 'string')
      return `entry ${uuid} malformed`;
  }
  return undefined;
}

export class DeviceCache {
  private entries: Map<string, CachedDevices> | undefined;
  private dirty = false;

  /** Set by the provider once it has a run's logger. */
  log: Logger | undefined;

  constructor(readonly file: string) {}

  private load(): Map<string, CachedDevices> {
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
    return this.entries;
  }

  /** The cached fields of this VM, when its changeVersion is the one they were read at. */
  get(instanceUuid: string, changeVersion: string): DeviceFields | undefined {
    if (!instanceUuid || !changeVersion) return undefined;
    const e = this.load().get(instanceUuid);
    if (e?.cv !== changeVersion) return undefined;
    const { cv: _cv, ...fields } = e;
    return fields;
  }

  set(instanceUuid: string, changeVersion: string, fields: DeviceFields): void {
    if (!instanceUuid || !changeVersion) return;
    this.load().set(instanceUuid, { cv: changeVersion, ...fields });
    this.dirty = true;
  }

  /** Forgets VMs no longer in scope (deleted, or not ours any more). */
  keepOnly(instanceUuids: Set<string>): void {
    for (const k of this.load().keys())
      if (!instanceUuids.has(k)) {
        this.entries!.delete(k);
        this.dirty = true;
      }
  }

  /** Writes when something changed; a failed write only costs device reads next time. */
  save(): void {
    if (!this.dirty || !this.entries) return;
    try {
      const body: CacheFile = { version: VERSION, vms: Object.fromEntries(this.entries) };
      writeFileAtomic(this.file, JSON.stringify(body), 0o600);
      this.dirty = false;
    } catch (e) {
      this.log?.warn({ file: this.file }, `vsphere: could not write the device cache (${(e as Error).message})`);
    }
  }
}
