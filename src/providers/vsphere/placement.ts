/**
 * Site names (shipshape.yaml `vsphere:`) resolved to managed object references once per run:
 * the VM folder (created when missing), resource pool, datastores, port groups and templates.
 * Everything is looked up by inventory path, so a typo names the setting to fix.
 */
import { UserError } from '../../engine/contract';
import type { VsphereConfig } from './config';
import type { VimClient } from './client';
import { findByInventoryPath, requirePath, retrieveObjects } from './inventory';
import { DuplicateNameError } from './soap/faults';
import { child, ref, text, toRef, type MoRef } from './soap/xml';
import type { NetworkTarget } from './specs';

export class Placement {
  private folderRef: Promise<MoRef> | undefined;
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(
    private readonly c: VimClient,
    private readonly v: VsphereConfig,
  ) {}

  get folderPath(): string {
    return this.v.folder ? `${this.v.datacenter}/vm/${this.v.folder}` : `${this.v.datacenter}/vm`;
  }

  private once<T>(key: string, f: () => Promise<T>): Promise<T> {
    if (!this.cache.has(key))
      this.cache.set(
        key,
        f().catch((e) => {
          this.cache.delete(key);
          throw e;
        }),
      );
    return this.cache.get(key) as Promise<T>;
  }

  /** The configured VM folder, or undefined when it does not exist yet (observe creates nothing). */
  findFolder(): Promise<MoRef | undefined> {
    return findByInventoryPath(this.c, this.folderPath);
  }

  /** The configured VM folder, created (with its parents) when missing. */
  folder(): Promise<MoRef> {
    this.folderRef ??= this.ensureFolder().catch((e) => {
      this.folderRef = undefined;
      throw e;
    });
    return this.folderRef;
  }

  private async ensureFolder(): Promise<MoRef> {
    let path = `${this.v.datacenter}/vm`;
    let parent = await requirePath(this.c, path, 'datacenter VM folder', 'vsphere.datacenter');
    for (const part of (this.v.folder || '').split('/').filter(Boolean)) {
      path += `/${part}`;
      let next = await findByInventoryPath(this.c, path);
      if (!next) {
        try {
          next = toRef(
            child(await this.c.call('CreateFolder', ref('_this', parent) + text('name', part)), 'returnval'),
          );
        } catch (e) {
          if (!(e instanceof DuplicateNameError)) throw e; // created concurrently: look it up again
          next = await findByInventoryPath(this.c, path);
        }
        if (!next) throw new Error(`vSphere folder ${path} could not be created`);
      }
      parent = next;
    }
    return parent;
  }

  pool(): Promise<MoRef> {
    const p = `${this.v.datacenter}/host/${this.v.cluster}/Resources${this.v.resourcePool ? `/${this.v.resourcePool}` : ''}`;
    return this.once('pool', () =>
      requirePath(this.c, p, 'resource pool', this.v.resourcePool ? 'vsphere.resourcePool' : 'vsphere.cluster'),
    );
  }

  datastore(name: string): Promise<MoRef> {
    return this.once(`ds:${name}`, () =>
      requirePath(
        this.c,
        `${this.v.datacenter}/datastore/${name}`,
        'datastore',
        "vsphere.datastore or the disk's datastore",
      ),
    );
  }

  /** Template per OS; a value with `/` is a path below the datacenter's vm folder. */
  template(os: string): Promise<MoRef> {
    const name = this.v.templates[os];
    if (!name)
      return Promise.reject(
        new UserError(`no vSphere template for OS "${os}": add vsphere.templates.${os} to shipshape.yaml`),
      );
    return this.once(`tpl:${os}`, () =>
      requirePath(this.c, `${this.v.datacenter}/vm/${name}`, 'template', `vsphere.templates.${os}`),
    );
  }

  network(name: string): Promise<NetworkTarget> {
    return this.once(`net:${name}`, async () => {
      const r = await requirePath(
        this.c,
        `${this.v.datacenter}/network/${name}`,
        'port group',
        'vsphere.portgroup or network.portgroup',
      );
      if (r.type !== 'DistributedVirtualPortgroup') return { kind: 'network', name, ref: r } as NetworkTarget;
      const [pg] = await retrieveObjects(
        this.c,
        [r],
        [{ type: 'DistributedVirtualPortgroup', paths: ['key', 'config.distributedVirtualSwitch'] }],
      );
      const dvs = toRef(pg?.props.get('config.distributedVirtualSwitch'));
      if (!dvs) throw new Error(`vSphere port group ${name} has no distributed switch`);
      const [sw] = await retrieveObjects(this.c, [dvs], [{ type: dvs.type, paths: ['uuid'] }]);
      return {
        kind: 'dvpg',
        name,
        key: pg!.props.get('key')?.text ?? r.value,
        switchUuid: sw?.props.get('uuid')?.text ?? '',
      } as NetworkTarget;
    });
  }
}
