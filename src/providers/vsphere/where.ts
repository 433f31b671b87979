/**
 * Where a VM lives: datacenter, cluster (or a pinned host), resource pool and VM folder. Desired from
 * the system's `placement` over the site's `vms:` defaults (pure); observed by one read of the
 * inventory's names and parents, so a VM's placement comes back as the names a manifest writes.
 */
import type { DesiredSystem } from '../../manifest/types';
import type { VsphereConfig } from './config';
import type { VimClient } from './client';
import { UserError } from '../../engine/contract';
import { retrieveView } from './inventory';
import { children, toRef, type MoRef, type XNode } from './soap/xml';

export interface Where {
  datacenter: string;
  cluster: string;
  /** Pool path below the cluster's root pool (`Resources`); '' for the root pool itself. */
  resourcePool: string;
  /** Folder path below the datacenter's vm folder; '' for the vm folder itself. */
  folder: string;
  /** A host of the cluster; compared only when the manifest pins one. */
  host?: string;
}

export function whereFor(
  system: Pick<DesiredSystem, 'placement'>,
  v: Pick<VsphereConfig, 'datacenter' | 'cluster' | 'resourcePool' | 'folder'>,
): Where {
  const p = system.placement ?? {};
  // A system that names its own cluster or datacenter starts at that cluster's root pool: the site's
  // pool is a pool of the site's cluster.
  const ownCluster = p.cluster !== undefined || p.datacenter !== undefined;
  const w: Where = {
    datacenter: p.datacenter ?? v.datacenter,
    cluster: p.cluster ?? v.cluster,
    resourcePool: p.resourcePool ?? (ownCluster ? '' : (v.resourcePool ?? '')),
    folder: p.folder ?? v.folder,
  };
  if (p.host !== undefined) w.host = p.host;
  return w;
}

export function folderPathOf(w: Pick<Where, 'datacenter' | 'folder'>): string {
  return w.folder ? `${w.datacenter}/vm/${w.folder}` : `${w.datacenter}/vm`;
}

export function poolPathOf(w: Pick<Where, 'datacenter' | 'cluster' | 'resourcePool'>): string {
  return `${w.datacenter}/host/${w.cluster}/Resources${w.resourcePool ? `/${w.resourcePool}` : ''}`;
}

/** The references a VM's placement is read from (VirtualMachine `parent`, `resourcePool`, `runtime.host`). */
export interface VmLocation {
  parent?: MoRef;
  pool?: MoRef;
  host?: MoRef;
}

export const LOCATION_PATHS = ['parent', 'resourcePool', 'runtime.host'];

/** The inventory's containers a VM's placement names come from (each read with `name` and `parent`). */
export const CONTAINER_TYPES = [
  'Folder',
  'Datacenter',
  'ClusterComputeResource',
  'ComputeResource',
  'ResourcePool',
  'HostSystem',
];

/**
 * The containers' lists of what they hold, the inverse of a VM's `parent`, `resourcePool` and
 * `runtime.host`: `Folder.childEntity`, `ResourcePool.vm` (a vApp is a ResourcePool) and
 * `HostSystem.vm` (vSphere Web Services API reference). Observe reads them with the containers'
 * names instead of three properties of every VM: one list entry per VM instead of three properties.
 */
export const MEMBER_PATHS: Record<string, string> = { Folder: 'childEntity', ResourcePool: 'vm', HostSystem: 'vm' };

type Slot = keyof VmLocation;
const SLOT_OF: Record<string, Slot> = {
  Folder: 'parent',
  ResourcePool: 'pool',
  VirtualApp: 'pool',
  HostSystem: 'host',
};

/**
 * Each VM's location from the containers' member lists of one view read. A VM listed by no folder,
 * pool or host, or by two (a read in pages can see a VM that moved between pages in both lists or
 * in neither), has no complete location here: observe reads those VMs' location properties
 * themselves. Templates belong to no resource pool (`VirtualMachine.resourcePool` is unset for a
 * template, vSphere Web Services API reference; govmomi's simulator clears it in MarkAsTemplate).
 */
export class Memberships {
  /** `withHosts`: hosts' lists were read (only when a system pins a host: the host is compared only then). */
  constructor(private readonly withHosts = true) {}

  /** Per slot: VM → the one container listing it, or null when two do. */
  private readonly of: Record<Slot, Map<string, MoRef | null>> = {
    parent: new Map(),
    pool: new Map(),
    host: new Map(),
  };

  /** Notes what a container of the read lists (containers without a member list are ignored). */
  add(container: MoRef, props: Map<string, XNode>): void {
    const slot = SLOT_OF[container.type];
    const path = slot && MEMBER_PATHS[container.type === 'VirtualApp' ? 'ResourcePool' : container.type];
    if (!slot || !path) return;
    const m = this.of[slot];
    for (const n of children(props.get(path))) {
      if (n.attrs.type !== 'VirtualMachine') continue;
      m.set(n.text, m.has(n.text) ? null : container);
    }
  }

  /** The one folder listing the VM (a template's too), undefined when none or two do (a vApp's VM is in none). */
  folderOf(vm: string): MoRef | undefined {
    return this.of.parent.get(vm) ?? undefined;
  }

  /** Whether a pool lists the VM (none does for a template; two only while it moved during the read). */
  inPool(vm: string): boolean {
    return this.of.pool.has(vm);
  }

  /** The VM's folder, pool and host (when read) when each lists it exactly once; undefined otherwise. */
  locationOf(vm: string): VmLocation | undefined {
    const parent = this.of.parent.get(vm);
    const pool = this.of.pool.get(vm);
    if (!parent || !pool) return undefined;
    if (!this.withHosts) return { parent, pool };
    const host = this.of.host.get(vm);
    return host ? { parent, pool, host } : undefined;
  }
}

/** One container of the inventory: its name and its parent. */
export interface Container {
  ref: MoRef;
  name: string;
  parent?: MoRef;
}

/**
 * Reads the names and parents of the inventory's containers in one view (a constant number of round
 * trips, whatever the number of VMs) and returns a function from a VM's location to its placement.
 */
export async function inventoryNames(c: VimClient, root: MoRef): Promise<(l: VmLocation) => Where | undefined> {
  const objs = await retrieveView(
    c,
    root,
    CONTAINER_TYPES.map((type) => ({ type, paths: ['name', 'parent'] })),
  );
  return placementsFrom(objs.map((o) => containerOf(o.obj, o.props)));
}

/** A container as a read returned it. */
export function containerOf(ref: MoRef, props: Map<string, XNode>): Container {
  const parent = toRef(props.get('parent'));
  return { ref, name: props.get('name')?.text ?? '', ...(parent ? { parent } : {}) };
}

/**
 * A datacenter's name as its inventory path: a datacenter may sit in folders below the root folder
 * (`Europe/DC1`; `SearchIndex.FindByInventoryPath`, vSphere Web Services API reference, takes
 * "My Folder/My Datacenter/vm/…"), and the manifest names it that way. `chain` is the datacenter,
 * then its parents as far as they were read; the root folder (no parent) is not part of the path.
 */
function datacenterPath(chain: Container[]): string {
  const names = [chain[0]!.name];
  for (const n of chain.slice(1)) if (n.ref.type === 'Folder' && n.parent) names.unshift(n.name);
  return names.join('/');
}

/** From a VM's location (folder, pool, host) to its placement as names, over the containers given. */
export function placementsFrom(containers: Iterable<Container>): (l: VmLocation) => Where | undefined {
  const byId = new Map<string, Container>();
  for (const n of containers) byId.set(`${n.ref.type}:${n.ref.value}`, n);
  const chain = (start: MoRef | undefined) => {
    const out: Container[] = [];
    for (let r = start; r && out.length < 64;) {
      const n = byId.get(`${r.type}:${r.value}`);
      if (!n) break;
      out.push(n);
      r = n.parent;
    }
    return out;
  };
  // VMs share few locations: each is resolved once.
  const seen = new Map<string, Where | undefined>();
  return (l) => {
    const key = `${l.parent?.value}\0${l.pool?.value}\0${l.host?.value}`;
    if (!seen.has(key)) seen.set(key, resolve(l));
    const w = seen.get(key);
    return w && { ...w };
  };
  function resolve(l: VmLocation): Where | undefined {
    const folders = chain(l.parent);
    const dcAt = folders.findIndex((n) => n.ref.type === 'Datacenter');
    const pools = chain(l.pool);
    const clAt = pools.findIndex((n) => n.ref.type === 'ClusterComputeResource' || n.ref.type === 'ComputeResource');
    if (dcAt < 1 || clAt < 1) return undefined;
    const w: Where = {
      datacenter: datacenterPath(folders.slice(dcAt)),
      cluster: pools[clAt]!.name,
      // Below the cluster: its root pool (`Resources`, not written in manifests), then the pools down to the VM's.
      resourcePool: pools
        .slice(0, clAt - 1)
        .map((n) => n.name)
        .reverse()
        .join('/'),
      // Below the datacenter: its vm folder, then the folders down to the VM's.
      folder: folders
        .slice(0, dcAt - 1)
        .map((n) => n.name)
        .reverse()
        .join('/'),
    };
    const host = l.host && byId.get(`HostSystem:${l.host.value}`);
    if (host) w.host = host.name;
    return w;
  }
}

/**
 * Every datacenter's inventory path (`DC0`, `Europe/DC1`), sorted: one view read of the root folder,
 * made only when a datacenter a site or placement names was not found (to say what to write).
 */
export async function datacenterPaths(c: VimClient): Promise<string[]> {
  const sc = await c.serviceContent();
  const objs = await retrieveView(c, sc.rootFolder, [
    { type: 'Datacenter', paths: ['name', 'parent'] },
    { type: 'Folder', paths: ['name', 'parent'] },
  ]);
  const byId = new Map(objs.map((o) => [o.obj.value, containerOf(o.obj, o.props)]));
  return objs
    .filter((o) => o.obj.type === 'Datacenter')
    .map((o) => {
      const chain: Container[] = [];
      for (let n = byId.get(o.obj.value); n && chain.length < 64; n = n.parent && byId.get(n.parent.value))
        chain.push(n);
      return datacenterPath(chain);
    })
    .sort();
}

/**
 * What to write for a datacenter `name` that is not at that inventory path, from `paths` (all of
 * them): vCenter lets datacenters sit in folders of the root folder, and FindByInventoryPath needs
 * the folders in the path ("My Folder/My Datacenter/vm/…", `SearchIndex.FindByInventoryPath`, vSphere
 * Web Services API reference), while the vSphere Client shows the datacenter by its name alone. The
 * text starts with its own separator (`: it is in a folder; …` or `; set … to one of: …`).
 */
export function datacenterAdvice(name: string, paths: string[], setting: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  const same = paths.filter((x) => x.slice(x.lastIndexOf('/') + 1) === last);
  if (same.length === 1) return `: it is in a folder; set ${setting}: ${same[0]}`;
  return `; set ${setting} to one of: ${paths.join(', ') || '(none: the user sees no datacenter; check its permissions)'}`;
}

/**
 * The error for the site's datacenter (`vms.datacenter`) FindByInventoryPath did not find, saying
 * what to write (datacenterAdvice) and, with `at`, where shipshape.yaml sets it. Without it nothing
 * of the site can be read or placed (its VM folder, its templates): observe stops on it.
 */
export async function datacenterNotFound(c: VimClient, name: string, setting: string, at = ''): Promise<UserError> {
  const where = c.url.replace(/\/sdk$/, '');
  return new UserError(
    `vSphere datacenter "${name}" not found at ${where}${at ? ` (${setting}, set at ${at})` : ''}${datacenterAdvice(name, await datacenterPaths(c), setting)}`,
  );
}
