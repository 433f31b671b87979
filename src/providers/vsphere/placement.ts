/**
 * Site names (the site's `vms:` section, or a system's `placement`) resolved to managed object
 * references once per run: VM folders (created when missing), resource pools, hosts, datastores,
 * port groups and templates.
 * Everything is looked up by inventory path, so a typo names the setting to fix.
 */
import { UserError } from '../../engine/contract';
import { Refusal } from '../../engine/refusals';
import { setAt } from '../../manifest/site-keys';
import type { VsphereConfig } from './config';
import type { VimClient } from './client';
import { findByInventoryPath, requirePath, retrieveObjects, retrieveView } from './inventory';
import { DuplicateNameError } from './soap/faults';
import { child, ref, text, toRef, type MoRef } from './soap/xml';
import type { NetworkTarget } from './specs';
import { containerOf, folderPathOf, poolPathOf, whereFor, type Where } from './where';

export class Placement {
  private readonly folders = new Map<string, Promise<MoRef>>();
  private readonly cache = new Map<string, Promise<unknown>>();
  /** The site's own placement (its `vms:` section); systems with `placement` differ from it. */
  readonly site: Where;

  constructor(
    private readonly c: VimClient,
    private readonly v: VsphereConfig,
    /** The repo root: a refusal names where the site file sets the missing name (file:line:col). */
    private readonly root?: string,
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
      return found ?? Promise.reject(await this.templateNotFound(name, os));
    });
  }

  /**
   * The refusal for a template not at `<datacenter>/vm/<name>`, saying which folder holds one of that
   * name: sites keep templates in a folder of their own, and the vSphere Client shows them by name.
   * One read of the datacenter's VM names, made only when the lookup failed.
   */
  private async templateNotFound(name: string, os: string): Promise<Refusal> {
    const vmFolder = await findByInventoryPath(this.c, `${this.v.datacenter}/vm`);
    const sources = new CloneSources();
    if (vmFolder) {
      const objs = await retrieveView(this.c, vmFolder, [
        { type: 'VirtualMachine', paths: ['name', 'parent'] },
        { type: 'Folder', paths: ['name', 'parent'] },
      ]);
      const byId = new Map(objs.map((o) => [o.obj.value, containerOf(o.obj, o.props)]));
      for (const o of objs.filter((x) => x.obj.type === 'VirtualMachine')) {
        const parts: string[] = [];
        for (let n = byId.get(o.obj.value); n && parts.length < 64; n = n.parent && byId.get(n.parent.value))
          parts.unshift(n.name);
        sources.add(parts.pop()!, parts.join('/'));
      }
    }
    return new Refusal('template-missing', templateMissing(this.v, os, sources.named(name), this.root));
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

/**
 * The VMs and templates of the site's datacenter as clone sources, by their path below its VM folder
 * (`tpl-debian12`, `templates/tpl-debian12`): what `Placement.template` would find, known from the
 * observation's one inventory read, so the plan foresees a template that is not there. Only a sure
 * miss is one: a VM listed by no folder (inside a vApp) has a path the read does not give, so a
 * template of its name is not ruled out; and paths are compared without case (apply's lookup decides
 * a path that differs only in case).
 */
export class CloneSources {
  private readonly paths = new Set<string>();
  private readonly byName = new Map<string, string[]>();
  private readonly unplaced = new Set<string>();

  /** `folder`: the path of the folder listing it below the VM folder ('' for the VM folder), undefined when unknown. */
  add(name: string, folder: string | undefined): void {
    if (folder === undefined) {
      this.unplaced.add(name.toLowerCase());
      return;
    }
    const path = folder ? `${folder}/${name}` : name;
    this.paths.add(path.toLowerCase());
    const key = name.toLowerCase();
    this.byName.set(key, [...(this.byName.get(key) ?? []), path]);
  }

  /** False only when the read shows no VM or template at `path` (a path as vms.templates writes it). */
  mayHave(path: string): boolean {
    const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
    return this.paths.has(path.toLowerCase()) || this.unplaced.has(name);
  }

  /** The paths of the VMs and templates named as the last part of `path`, sorted. */
  named(path: string): string[] {
    return [...(this.byName.get(path.slice(path.lastIndexOf('/') + 1).toLowerCase()) ?? [])].sort();
  }
}

/**
 * What a create refuses when the OS's template is not in vCenter (the plan says it from the
 * observation, apply from its own lookup): what is missing, where the site file sets it, what to do.
 */
export function templateMissing(
  v: Pick<VsphereConfig, 'datacenter' | 'templates'>,
  os: string,
  elsewhere: string[],
  root: string | undefined,
): string {
  const name = v.templates[os] ?? '';
  const setting = `vms.templates.${os}`;
  const at = `${v.datacenter}/vm/${name}`;
  const pos = setAt(root, setting);
  const head = `vSphere template "${at}" not found (${setting}${pos ? `, set at ${pos}` : ''})`;
  if (elsewhere.length === 0)
    return `${head}: make or import that template in vCenter, or set ${setting} to the path below ${v.datacenter}/vm of one that exists`;
  return `${head}; ${elsewhere.length === 1 ? 'it is' : 'templates of that name are'} below the VM folder as ${elsewhere.join(', ')}: set ${setting} to that path`;
}
