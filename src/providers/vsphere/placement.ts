/**
 * Site names (the site's `vms:` section, or a system's `placement`) resolved to managed object
 * references once per run: VM folders (created when missing), resource pools, hosts, datastores,
 * port groups and templates.
 * Everything but port groups is looked up by inventory path, so a typo names the setting to fix;
 * port groups by path or bare name over the network folder's contents (networks.ts).
 */
import { UserError } from '../../engine/contract';
import { Refusal } from '../../engine/refusals';
import { setAt, type SitePlace } from '../../manifest/site-keys';
import type { VsphereConfig } from './config';
import type { VimClient } from './client';
import { findByInventoryPath, requirePath, retrieveObjects, retrieveView } from './inventory';
import { DuplicateNameError } from './soap/faults';
import { child, ref, text, toRef, type MoRef } from './soap/xml';
import { NETWORK_VIEW, NetworkIndex, portgroupSetting } from './networks';
import type { NetworkTarget } from './specs';
import {
  containerOf,
  datacenterAdvice,
  datacenterPaths,
  folderPathOf,
  poolPathOf,
  whereFor,
  type Container,
  type Where,
} from './where';
import { formatSource, type DesiredSystem } from '../../manifest/types';

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
    /** The repo root and site file: a refusal names where the site file sets the missing name (file:line:col). */
    readonly root?: SitePlace,
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

  /** The VM folder, created (with its parents) when missing; `system`: whose placement, for the refusal of a missing datacenter. */
  folder(w: Where = this.site, system?: DesiredSystem): Promise<MoRef> {
    const key = folderPathOf(w);
    if (!this.folders.has(key))
      this.folders.set(
        key,
        this.ensureFolder(w, system).catch((e) => {
          this.folders.delete(key);
          throw e;
        }),
      );
    return this.folders.get(key)!;
  }

  private async ensureFolder(w: Where, system?: DesiredSystem): Promise<MoRef> {
    let path = `${w.datacenter}/vm`;
    const vmFolder = await this.find(path);
    if (!vmFolder) await this.noDatacenter(w.datacenter, system);
    let parent =
      vmFolder ?? (await requirePath(this.c, path, 'datacenter VM folder', 'vms.datacenter or placement.datacenter'));
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

  /** A reference by inventory path, looked up once per run; undefined (not kept: asked again) when there is none. */
  private find(path: string): Promise<MoRef | undefined> {
    return this.once(`path:${path}`, async () => {
      const r = await findByInventoryPath(this.c, path);
      if (!r) this.cache.delete(`path:${path}`);
      return r;
    });
  }

  /**
   * Throws the refusal for a datacenter vCenter lacks (placement-missing, saying what to write: one
   * read of every datacenter's path, made only then); returns when it is there. Asked after a lookup
   * below the datacenter failed, so the refusal names the datacenter rather than what is below it.
   */
  private async noDatacenter(datacenter: string, system?: DesiredSystem): Promise<void> {
    const dc = await this.find(datacenter);
    if (dc?.type === 'Datacenter') return;
    const paths = await this.once('datacenters', () => datacenterPaths(this.c));
    throw new Refusal(
      'placement-missing',
      placementMissing(missingDatacenter(datacenter, paths, this.v, system), this.root),
    );
  }

  /** `system`: whose create or update asks, so the refusal says where the name is set (its manifest or the site). */
  async pool(w: Where = this.site, system?: DesiredSystem): Promise<MoRef> {
    const found = await this.find(poolPathOf(w));
    if (found) return found;
    await this.noDatacenter(w.datacenter, system);
    const cluster = await this.find(clusterPathOf(w));
    throw new Refusal('placement-missing', placementMissing(missingPool(w, !!cluster, this.v, system), this.root));
  }

  /** A host of the placement's cluster, by name (`placement.host`). */
  async host(w: Where, system?: DesiredSystem): Promise<MoRef> {
    const found = await this.find(hostPathOf(w));
    if (found) return found;
    await this.noDatacenter(w.datacenter, system);
    throw new Refusal('placement-missing', placementMissing(missingHost(w, this.v, system), this.root));
  }

  /**
   * `disk`: the disk whose datastore it is (its own, the placement's or the site's), or `iso` for the
   * boot ISO's (uploaded to vms.datastore), for the refusal.
   */
  async datastore(
    name: string,
    datacenter = this.site.datacenter,
    system?: DesiredSystem,
    disk?: number | 'iso',
  ): Promise<MoRef> {
    const found = await this.find(datastorePathOf(datacenter, name));
    if (found) return found;
    await this.noDatacenter(datacenter, system);
    throw new Refusal(
      'placement-missing',
      placementMissing(missingDatastore(datacenter, name, this.v, system, disk), this.root),
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
   * switch's uuid (one read of the switch, once per port group and run). One that names none or
   * several, or an NSX opaque network, is refused (`portgroup-name`) with the sentence the plan gives, naming where `system`
   * sets it (asked without one, an update's reconfigure already checked it: either key may).
   */
  async network(value: string, datacenter = this.site.datacenter, system?: DesiredSystem): Promise<NetworkTarget> {
    // Outside once(): the refusal names the asking system's key, not the first asker's.
    const e = (await this.networks(datacenter)).one(
      value,
      system ? portgroupSetting(system, this.root) : 'vms.portgroup or network.portgroup',
    );
    return this.once(`net:${datacenter}\0${value}`, async () => {
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
  root: SitePlace | undefined,
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

export const clusterPathOf = (w: Pick<Where, 'datacenter' | 'cluster'>): string => `${w.datacenter}/host/${w.cluster}`;
export const hostPathOf = (w: Pick<Where, 'datacenter' | 'cluster' | 'host'>): string =>
  `${w.datacenter}/host/${w.cluster}/${w.host}`;
export const datastorePathOf = (datacenter: string, name: string): string => `${datacenter}/datastore/${name}`;

/** A placement name vCenter lacks: what it is, its inventory path, and the key that names it. */
export interface Missing {
  what: string;
  path: string;
  /** The manifest key (`placement.cluster`, `disks[1].datastore`) or site key (`vms.cluster`) that names it. */
  setting: string;
  /** The system's file:line:col when its manifest (or profile) names it; the site's key is looked up from `setting`. */
  at?: string;
  /** What to do, with its leading separator, instead of "fix the name, or make it in vCenter" (a datacenter is not made for a VM). */
  advice?: string;
}

/** Where the system's manifest sets `path` (or the nearest enclosing key it records), as file:line:col. */
function sourceAt(system: DesiredSystem, path: string): string | undefined {
  for (let p = path; p; p = p.replace(/(\.[^.]*|\[\d+\])$/, '')) {
    const s = system.sources[p];
    if (s) return formatSource(s);
    if (!/[.[]/.test(p)) break;
  }
  return undefined;
}

/** The system's `placement.<key>` when its manifest sets it, else the site's `vms.<key>`. */
function settingOf(
  system: DesiredSystem | undefined,
  key: 'datacenter' | 'cluster' | 'resourcePool' | 'host' | 'datastore',
): Pick<Missing, 'setting' | 'at'> {
  // Asked without the system (an update's reconfigure): either may name it.
  if (!system) return { setting: `placement.${key} or vms.${key}` };
  if (system.placement?.[key] !== undefined) {
    const at = sourceAt(system, `placement.${key}`);
    return { setting: `placement.${key}`, ...(at ? { at } : {}) };
  }
  return { setting: `vms.${key}` };
}

export function missingPool(w: Where, clusterExists: boolean, v: VsphereConfig, system?: DesiredSystem): Missing {
  if (!clusterExists) {
    // A system that names only its own datacenter starts at the site's cluster name there.
    return { what: 'cluster', path: clusterPathOf(w), ...settingOf(system, 'cluster') };
  }
  if (!w.resourcePool) {
    // The cluster's own root pool: something of that name is there, but no pool below it (a host
    // folder, or a host of a cluster). No pool key chose this path: the cluster setting did.
    const s = settingOf(system, 'cluster');
    return {
      what: 'resource pool',
      path: poolPathOf(w),
      ...s,
      advice: `: ${clusterPathOf(w)} is not a cluster or a standalone host (a host folder?): set ${s.setting} to the path of a cluster below ${w.datacenter}/host`,
    };
  }
  const own = system?.placement?.resourcePool !== undefined || !v.resourcePool;
  return {
    what: 'resource pool',
    path: poolPathOf(w),
    ...(own ? settingOf(system, 'resourcePool') : { setting: 'vms.resourcePool' }),
  };
}

/** A datacenter vCenter lacks; `paths`: every datacenter's inventory path, to say which to write. */
export function missingDatacenter(name: string, paths: string[], _v: VsphereConfig, system?: DesiredSystem): Missing {
  const set = settingOf(system, 'datacenter');
  return { what: 'datacenter', path: name, ...set, advice: datacenterAdvice(name, paths, set.setting) };
}

export function missingHost(w: Where, _v: VsphereConfig, system?: DesiredSystem): Missing {
  return { what: 'host', path: hostPathOf(w), ...settingOf(system, 'host') };
}

export function missingDatastore(
  datacenter: string,
  name: string,
  _v: VsphereConfig,
  system?: DesiredSystem,
  disk?: number | 'iso',
): Missing {
  const path = datastorePathOf(datacenter, name);
  // The boot ISO is uploaded to the site's datastore (datastore.ts), whatever the system's disks say.
  if (disk === 'iso') return { what: 'datastore', path, setting: 'vms.datastore' };
  if (!system)
    return { what: 'datastore', path, setting: "the disk's datastore, placement.datastore or vms.datastore" };
  const own = disk !== undefined ? system.disks[disk]?.datastore : undefined;
  const at = own !== undefined ? sourceAt(system, `disks[${disk}]`) : undefined;
  return {
    what: 'datastore',
    path,
    ...(own !== undefined
      ? { setting: `disks[${disk}].datastore`, ...(at ? { at } : {}) }
      : settingOf(system, 'datastore')),
  };
}

/** What a create or a move refuses when a name of its placement is not in vCenter (plan and apply say the same). */
export function placementMissing(m: Missing, root: SitePlace | undefined): string {
  const at = m.at ?? (m.setting.startsWith('vms.') ? setAt(root, m.setting) : '');
  return `vSphere ${m.what} "${m.path}" not found (${m.setting}${at ? `, set at ${at}` : ''})${m.advice ?? `: fix the name, or make the ${m.what} in vCenter`}`;
}

/**
 * Types observe's view read adds for placement, names and parents only (its containers are read
 * already). Port groups are not among them: the same read returns them with NETWORK_VIEW, and a
 * missing one is networks.ts's `portgroup-name`.
 */
export const PLACED_TYPES = ['Datastore'];

/**
 * The inventory paths (`DC0/host/DC0_C0/Resources`, `DC0/datastore/LocalDS_0`) of every container and
 * datastore of the datacenters observe read, from their names and parents: what the placement lookups
 * (`SearchIndex.FindByInventoryPath`) would find. Only a sure miss is one: paths are compared without
 * case, and a datacenter whose read left an object's parent out rules nothing out.
 */
export class InventoryPaths {
  private readonly paths = new Set<string>();
  private readonly complete = new Set<string>();
  /** Datacenters a placement names that vCenter lacks, with every datacenter's path (what to write instead). */
  private readonly absent = new Map<string, string[]>();

  /** `paths`: the inventory paths of every datacenter vCenter has (datacenterPaths). */
  noDatacenter(datacenter: string, paths: string[]): void {
    this.absent.set(datacenter, paths);
  }

  /** Every datacenter's path when `datacenter` is one observe looked up and vCenter lacks; undefined otherwise. */
  datacenterMissing(datacenter: string): string[] | undefined {
    return this.absent.get(datacenter);
  }

  add(datacenter: string, root: MoRef, objects: Container[]): void {
    const byId = new Map(objects.map((o) => [`${o.ref.type}:${o.ref.value}`, o]));
    let whole = true;
    for (const o of objects) {
      const parts = [o.name];
      let r = o.parent;
      for (let n = 0; r && n < 64; n++) {
        if (r.type === 'Datacenter' && r.value === root.value) break;
        const up = byId.get(`${r.type}:${r.value}`);
        if (!up) break;
        parts.unshift(up.name);
        r = up.parent;
      }
      if (!r || r.type !== 'Datacenter' || r.value !== root.value) {
        whole = false;
        continue;
      }
      this.paths.add(`${datacenter}/${parts.join('/')}`.toLowerCase());
    }
    if (whole) this.complete.add(datacenter);
  }

  /** False only when the datacenter was read whole and nothing is at `path` (`<datacenter>/…`). */
  mayHave(datacenter: string, path: string): boolean {
    return !this.complete.has(datacenter) || this.paths.has(path.toLowerCase());
  }
}
