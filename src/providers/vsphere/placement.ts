/**
 * Site names (the site's `vms:` section, or a system's `placement`) resolved to managed object
 * references once per run: VM folders (created when missing), resource pools, hosts, datastores,
 * port groups and templates.
 * Everything but port groups is looked up by inventory path, so a typo names the setting to fix;
 * port groups by path or bare name over the network folder's contents (networks.ts).
 */
import { UserError } from '../../engine/contract';
import type { VsphereConfig } from './config';
import type { VimClient } from './client';
import { findByInventoryPath, requirePath, retrieveObjects, retrieveView } from './inventory';
import { DuplicateNameError } from './soap/faults';
import { child, ref, text, toRef, type MoRef } from './soap/xml';
import { NETWORK_VIEW, NetworkIndex } from './networks';
import type { NetworkTarget } from './specs';
import { containerOf, folderPathOf, poolPathOf, whereFor, type Where } from './where';

export class Placement {
  private readonly folders = new Map<string, Promise<MoRef>>();
  private readonly cache = new Map<string, Promise<unknown>>();
  private readonly networkIndexes = new Map<string, Promise<NetworkIndex>>();
  private readonly loadedNetworks = new Map<string, NetworkIndex>();
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
    return this.once(`tpl:${os}`, async () => {
      const found = await findByInventoryPath(this.c, `${this.v.datacenter}/vm/${name}`);
      return found ?? Promise.reject(await this.templateNotFound(name, `vms.templates.${os}`));
    });
  }

  /**
   * The error for a template not at `<datacenter>/vm/<name>`, saying which folder holds one of that
   * name: sites keep templates in a folder of their own, and the vSphere Client shows them by name.
   * One read of the datacenter's VM names, made only when the lookup failed.
   */
  private async templateNotFound(name: string, setting: string): Promise<UserError> {
    const at = `${this.v.datacenter}/vm/${name}`;
    const plain = new UserError(`vSphere template "${at}" not found; check ${setting} in shipshape.yaml`);
    const vmFolder = await findByInventoryPath(this.c, `${this.v.datacenter}/vm`);
    if (!vmFolder) return plain;
    const objs = await retrieveView(this.c, vmFolder, [
      { type: 'VirtualMachine', paths: ['name', 'parent'] },
      { type: 'Folder', paths: ['name', 'parent'] },
    ]);
    const byId = new Map(objs.map((o) => [o.obj.value, containerOf(o.obj, o.props)]));
    const last = name.slice(name.lastIndexOf('/') + 1);
    const paths = objs
      .filter((o) => o.obj.type === 'VirtualMachine' && byId.get(o.obj.value)!.name === last)
      .map((o) => {
        const parts: string[] = [];
        for (let n = byId.get(o.obj.value); n && parts.length < 64; n = n.parent && byId.get(n.parent.value))
          parts.unshift(n.name);
        return parts.join('/');
      });
    if (paths.length === 0) return plain;
    return new UserError(
      `vSphere template "${at}" not found; ${paths.length === 1 ? 'it is' : 'templates of that name are'} below the VM folder as ${paths.join(', ')}: set ${setting} to that path`,
    );
  }

  /** A datacenter's port groups as observe read them with its VMs (one view, no round trip of its own). */
  seedNetworks(idx: NetworkIndex): void {
    this.networkIndexes.set(idx.datacenter, Promise.resolve(idx));
    this.loadedNetworks.set(idx.datacenter, idx);
  }

  /** The port groups observe read (or a lookup loaded) for a datacenter; undefined before. */
  networksRead(datacenter = this.site.datacenter): NetworkIndex | undefined {
    return this.loadedNetworks.get(datacenter);
  }

  /** How observe shows a NIC's network (by what its backing names): its path, from the port groups read. */
  networkPath(id: string): string | undefined {
    for (const idx of this.loadedNetworks.values()) {
      const e = idx.byIdOf(id);
      if (e) return idx.spell(e);
    }
    return undefined;
  }

  /** A datacenter's port groups: one view of its network folder, once per run. */
  networks(datacenter = this.site.datacenter): Promise<NetworkIndex> {
    let got = this.networkIndexes.get(datacenter);
    if (!got) {
      got = (async () => {
        const folder = await requirePath(
          this.c,
          `${datacenter}/network`,
          'network folder',
          'vms.datacenter or placement.datacenter',
        );
        const objs = await retrieveView(this.c, folder, [
          ...NETWORK_VIEW,
          { type: 'Folder', paths: ['name', 'parent'] },
        ]);
        const idx = NetworkIndex.fromObjects(datacenter, objs);
        this.loadedNetworks.set(datacenter, idx);
        return idx;
      })();
      got.catch(() => this.networkIndexes.delete(datacenter));
      this.networkIndexes.set(datacenter, got);
    }
    return got;
  }

  /**
   * The port group `value` names (networks.ts), as a NIC backing needs it: a standard port group by
   * its reference and its name as stored (`deviceName`), a distributed one by its key and its
   * switch's uuid (one read of the switch, once per port group and run).
   */
  network(value: string, datacenter = this.site.datacenter): Promise<NetworkTarget> {
    return this.once(`net:${datacenter}\0${value}`, async () => {
      const e = (await this.networks(datacenter)).one(value, 'vms.portgroup or network.portgroup');
      if (e.ref.type === 'OpaqueNetwork')
        throw new UserError(
          `vSphere port group "${value}" is an NSX opaque network, which shipshape does not attach VMs to; choose a port group of a standard or distributed switch in vms.portgroup or network.portgroup`,
        );
      if (e.ref.type !== 'DistributedVirtualPortgroup')
        return { kind: 'network', name: e.name, ref: e.ref, id: e.ref.value };
      const [pg] = await retrieveObjects(
        this.c,
        [e.ref],
        [{ type: 'DistributedVirtualPortgroup', paths: ['key', 'config.distributedVirtualSwitch'] }],
      );
      const dvs = toRef(pg?.props.get('config.distributedVirtualSwitch'));
      if (!dvs) throw new Error(`vSphere port group ${value} has no distributed switch`);
      const [sw] = await retrieveObjects(this.c, [dvs], [{ type: dvs.type, paths: ['uuid'] }]);
      const key = pg!.props.get('key')?.text ?? e.ref.value;
      return { kind: 'dvpg', name: e.name, key, switchUuid: sw?.props.get('uuid')?.text ?? '', id: key };
    });
  }
}
