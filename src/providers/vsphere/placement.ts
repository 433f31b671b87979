/**
 * Site names (the site's `vms:` section, or a system's `placement`) resolved to managed object
 * references once per run: VM folders (created when missing), resource pools, hosts, datastores,
 * port groups and templates.
 * Everything is looked up by inventory path, so a typo names the setting to fix.
 */
import { UserError } from '../../engine/contract';
import type { VsphereConfig } from './config';
import type { VimClient } from './client';
import { findByInventoryPath, requirePath, retrieveObjects } from './inventory';
import { DuplicateNameError } from './soap/faults';
import { child, ref, text, toRef, type MoRef } from './soap/xml';
import type { NetworkTarget } from './specs';
import { folderPathOf, poolPathOf, whereFor, type Where } from './where';

export class Placement {
  private readonly folders = new Map<string, Promise<MoRef>>();
  private readonly cache = new Map<string, Promise<unknown>>();
  /** The site's own placement (its `vms:` section); systems with `placement` differ from it. */
  readonly site: Where;

  constructor(
    private readonly c: VimClient,
    private readonly v: VsphereConfig,
  ) {
    this.site = whereFor({}, v);
  }

  get folderPath(): string {
    return folderPathOf(this.site);
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

  /** The VM folder, or undefined when it does not exist yet (observe creates nothing). */
  findFolder(w: Where = this.site): Promise<MoRef | undefined> {
    return findByInventoryPath(this.c, folderPathOf(w));
  }

  /** The VM folder, created (with its parents) when missing. */
  folder(w: Where = this.site): Promise<MoRef> {
    const key = folderPathOf(w);
    if (!this.folders.has(key))
      this.folders.set(
        key,
        this.ensureFolder(w).catch((e) => {
          this.folders.delete(key);
          throw e;
        }),
      );
    return this.folders.get(key)!;
  }

  private async ensureFolder(w: Where): Promise<MoRef> {
    let path = `${w.datacenter}/vm`;
    let parent = await requirePath(this.c, path, 'datacenter VM folder', 'vms.datacenter or placement.datacenter');
    for (const part of (w.folder || '').split('/').filter(Boolean)) {
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

  pool(w: Where = this.site): Promise<MoRef> {
    const p = poolPathOf(w);
    return this.once(`pool:${p}`, () =>
      requirePath(
        this.c,
        p,
        'resource pool',
        w.resourcePool ? 'vms.resourcePool or placement.resourcePool' : 'vms.cluster or placement.cluster',
      ),
    );
  }

  /** A host of the placement's cluster, by name (`placement.host`). */
  host(w: Where): Promise<MoRef> {
    const p = `${w.datacenter}/host/${w.cluster}/${w.host}`;
    return this.once(`host:${p}`, () => requirePath(this.c, p, 'host', 'placement.host (a host of the cluster)'));
  }

  datastore(name: string, datacenter = this.site.datacenter): Promise<MoRef> {
    return this.once(`ds:${datacenter}/${name}`, () =>
      requirePath(
        this.c,
        `${datacenter}/datastore/${name}`,
        'datastore',
        "vms.datastore, placement.datastore or the disk's datastore",
      ),
    );
  }

  /** Template per OS; a value with `/` is a path below the datacenter's vm folder. */
  template(os: string): Promise<MoRef> {
    const name = this.v.templates[os];
    if (!name)
      return Promise.reject(
        new UserError(`no vSphere template for OS "${os}": add vms.templates.${os} to shipshape.yaml`),
      );
    return this.once(`tpl:${os}`, () =>
      requirePath(this.c, `${this.v.datacenter}/vm/${name}`, 'template', `vms.templates.${os}`),
    );
  }

  network(name: string): Promise<NetworkTarget> {
    return this.once(`net:${name}`, async () => {
      const r = await requirePath(
        this.c,
        `${this.v.datacenter}/network/${name}`,
        'port group',
        'vms.portgroup or network.portgroup',
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
