/**
 * Reading VMs: the light list of every VM in the datacenters the site and its systems' placements
 * name, reads of chosen VMs with their devices, and `observe` (device lists only for owned VMs whose
 * changeVersion moved since the device cache read them). A VM becomes an ObservedResource here.
 */
import type { Observation, ProviderContext } from '../../engine/contract';
import { INSTALL_MARKER } from './datastore';
import { HOST_KEY_GUESTINFO } from '../install/provider';
import type { VimClient } from './client';
import { deviceFields, observedFields, type DeviceFields, type VmFields, type VmHandle } from './fields';
import { DEFAULT_PAGE_SIZE, findByInventoryPath, retrieveObjects, retrieveView, type ObjectContent } from './inventory';
import { isNetworkObject, nameAndParent, NETWORK_VIEW, NetworkIndex } from './networks';
import { CloneSources, InventoryPaths, PLACED_TYPES, Placement } from './placement';
import { setAt } from '../../manifest/site-keys';
import { ManagedObjectNotFoundError } from './soap/faults';
import type { MoRef } from './soap/xml';
import {
  CONTAINER_TYPES,
  containerOf,
  datacenterNotFound,
  datacenterPaths,
  folderPathOf,
  LOCATION_PATHS,
  MEMBER_PATHS,
  Memberships,
  placementsFrom,
  whereFor,
  type Container,
} from './where';
import {
  CONFIG_PATHS,
  HEAVY_PATHS,
  LIGHT_PATHS,
  markerOf,
  NETWORK_REQUESTS,
  networkNamesOf,
  parseVm,
  RUN_PATHS,
  type VmInfo,
} from './vm';
import type { VmResource, VmSession } from './session';

/**
 * Light read of every VM (templates left out) in each datacenter the site or a system's placement
 * names, in one ContainerView read per datacenter that also returns its containers (folders,
 * clusters, pools, hosts: name and parent, and the member lists of folders, pools and hosts): so a
 * VM of a declared name anywhere in the datacenter is seen (a create never duplicates it), VMs
 * outside the managed folders (the site's and those systems place VMs in) are marked with where
 * they are (`outside`), and every VM's placement is known as names without another read. With
 * configurations in the device cache, instanceUuid, template flag, annotation and extraConfig are
 * read only for VMs whose changeVersion moved (`readAgain`).
 */
export async function listFolder(vs: VmSession, c: VimClient, p: Placement): Promise<VmInfo[]> {
  const wheres = [p.site, ...(vs.o.systems ?? []).map((s) => whereFor(s, vs.o.config))];
  const managed = [...new Set(wheres.map(folderPathOf))];
  const datacenters = [...new Set(wheres.map((w) => w.datacenter))];
  vs.outside.clear();
  vs.folderOf.clear();
  const cache = vs.cache;
  const slim = cache?.hasConfigs() ?? false;
  const containers: Container[] = [];
  /** Every VM listed with the datacenter's folder paths, templates included until known. */
  const listed: { vm: VmInfo; pathOf: (folder: string | undefined) => string; dc: string }[] = [];
  const again: VmInfo[] = [];
  const inventory = new InventoryPaths();
  /** Templates of the site's datacenter and the folder listing each (planning foresees a missing clone source). */
  const templatesAt: { vm: VmInfo; folder: string | undefined; pathOf: (folder: string | undefined) => string }[] = [];
  vs.templates.clear();
  // Which host a VM runs on is compared only with a pinned host (DRS moves VMs): read only then.
  const withHosts = (vs.o.systems ?? []).some((s) => s.placement?.host !== undefined);
  /** Datacenters a system's placement names that vCenter lacks: the plan blocks those systems. */
  const absent: string[] = [];
  for (const dc of datacenters) {
    const root = await findByInventoryPath(c, dc);
    if (root?.type !== 'Datacenter') {
      // Without the site's datacenter nothing can be placed or cloned (its templates are there), and
      // none of its VMs read: say what to write, rather than plan every system as a create.
      if (dc === p.site.datacenter)
        throw await datacenterNotFound(c, dc, 'vms.datacenter', setAt(p.root, 'vms.datacenter'));
      absent.push(dc);
      continue;
    }
    // The datacenter is the view's container, not in it. It is named as configured: a datacenter in
    // a folder is `Europe/DC1` (its inventory path), and a VM's placement must say the same.
    containers.push({ ref: root, name: dc });
    /** The datacenter's containers and datastores: what a create's placement names (port groups: `nets`). */
    const named: Container[] = [];
    const folders = new Map<string, { name: string; parent?: string }>();
    const members = new Memberships(withHosts);
    /** Networks, switches and folders (name and parent only): the datacenter's port groups (networks.ts). */
    const nets: ObjectContent[] = [];
    const vms = await retrieveView(
      c,
      root,
      [
        { type: 'VirtualMachine', paths: slim ? RUN_PATHS : [...RUN_PATHS, ...CONFIG_PATHS] },
        ...NETWORK_VIEW,
        ...CONTAINER_TYPES.filter((t) => t !== 'Datacenter').map((type) => ({
          type,
          paths:
            MEMBER_PATHS[type] && (withHosts || type !== 'HostSystem')
              ? ['name', 'parent', MEMBER_PATHS[type]]
              : ['name', 'parent'],
        })),
        // Datastores, names and parents only: a create's datastore is foreseen from them (port groups from NETWORK_VIEW).
        ...PLACED_TYPES.map((type) => ({ type, paths: ['name', 'parent'] })),
      ],
      vs.o.pageSize,
      // Each page becomes VmInfo at once: the raw XML of a page is garbage before the next arrives.
      (page) =>
        page.flatMap((o) => {
          if (isNetworkObject(o.obj.type)) {
            nets.push(o);
            return [];
          }
          if (o.obj.type === 'Folder') nets.push(nameAndParent(o));
          if (o.obj.type !== 'VirtualMachine') {
            const n = containerOf(o.obj, o.props);
            named.push(n);
            if (PLACED_TYPES.includes(o.obj.type)) return [];
            containers.push(n);
            members.add(o.obj, o.props);
            if (o.obj.type === 'Folder')
              folders.set(o.obj.value, { name: n.name, ...(n.parent ? { parent: n.parent.value } : {}) });
            return [];
          }
          return [parseVm(o, new Map())];
        }),
    );
    p.seedNetworks(NetworkIndex.fromObjects(dc, nets));
    // Folder path below the datacenter's VM folder (the folder whose parent is the datacenter): `` for it, `a/b` below it.
    const pathOf = (f: string | undefined): string => {
      const parts: string[] = [];
      for (let at = f, n = 0; at && n < 64; n++) {
        const info = folders.get(at);
        if (!info || info.parent === root.value) break;
        parts.unshift(info.name);
        at = info.parent;
      }
      return parts.join('/');
    };
    inventory.add(dc, root, named);
    for (const vm of vms) {
      const ref = vm.ref.value;
      // A template is in no pool; a VM is in one. A cached flag that disagrees is read again.
      const known = slim ? cache!.config(ref, vm.changeVersion) : vm;
      if (known && known.isTemplate && !members.inPool(ref)) {
        vs.templates.add(ref);
        if (dc === p.site.datacenter) templatesAt.push({ vm, folder: members.folderOf(ref)?.value, pathOf });
        if (!slim) cache?.setConfig(ref, vm.changeVersion, vm);
        continue;
      }
      const at = members.locationOf(ref);
      if (at) vm.location = at;
      if (known && !known.isTemplate && at) {
        if (slim) Object.assign(vm, known);
      } else again.push(vm);
      listed.push({ vm, pathOf, dc });
    }
  }
  // What to write instead, for every missing one: one read of all datacenters, only when one is missing.
  if (absent.length) {
    const paths = await datacenterPaths(c);
    for (const dc of absent) inventory.noDatacenter(dc, paths);
  }
  vs.where = placementsFrom(containers);
  const gone = await readAgain(vs, c, again);
  const clones = new CloneSources();
  for (const { vm, folder, pathOf } of templatesAt)
    clones.add(vm.name, folder === undefined ? undefined : pathOf(folder));
  const out: VmInfo[] = [];
  for (const { vm, pathOf, dc } of listed) {
    if (gone.has(vm.ref.value)) continue;
    // A VM can be a clone source too (Placement.template finds any VM at the path).
    if (dc === p.site.datacenter)
      clones.add(vm.name, vm.location.parent ? pathOf(vm.location.parent.value) : undefined);
    if (vm.isTemplate) continue;
    const at = pathOf(vm.location.parent?.value);
    const full = at ? `${dc}/vm/${at}` : `${dc}/vm`;
    vs.folderOf.set(vm.ref.value, at);
    if (!managed.some((m) => full === m || full.startsWith(`${m}/`)))
      vs.outside.set(vm.ref.value, `in folder ${full}, outside ${p.folderPath}`);
    out.push(vm);
  }
  vs.clones = clones;
  vs.inventory = inventory;
  if (!slim) {
    for (const vm of out) cache?.setConfig(vm.ref.value, vm.changeVersion, vm);
    vs.configsRead = out.length;
  }
  return out;
}

/**
 * VMs the view read left incomplete, read by reference, 500 a call: those whose configuration the
 * cache does not hold at their changeVersion (with the changeVersion of that same read, so a VM
 * changed meanwhile is cached at the version its configuration was read at), and those whose
 * location the member lists did not give once (a vApp's VMs are in no folder; a VM that moved while
 * the view was read in pages). Returns the VMs deleted since the view read: vCenter fails the whole
 * call for one of them, so it is read again without it.
 */
async function readAgain(vs: VmSession, c: VimClient, vms: VmInfo[]): Promise<Set<string>> {
  const gone = new Set<string>();
  const page = vs.o.pageSize ?? DEFAULT_PAGE_SIZE;
  for (let i = 0; i < vms.length; i += page) {
    let chunk = vms.slice(i, i + page);
    let objs: ObjectContent[] | undefined;
    while (!objs && chunk.length) {
      try {
        objs = await retrieveObjects(
          c,
          chunk.map((vm) => vm.ref),
          [{ type: 'VirtualMachine', paths: [...CONFIG_PATHS, 'config.changeVersion', ...LOCATION_PATHS] }],
        );
      } catch (e) {
        const missing = e instanceof ManagedObjectNotFoundError ? e.object?.value : undefined;
        if (missing === undefined || !chunk.some((vm) => vm.ref.value === missing)) throw e;
        gone.add(missing);
        chunk = chunk.filter((vm) => vm.ref.value !== missing);
      }
    }
    const byRef = new Map((objs ?? []).map((o) => [o.obj.value, o]));
    for (const vm of chunk) {
      const o = byRef.get(vm.ref.value);
      if (!o) {
        gone.add(vm.ref.value);
        continue;
      }
      const read = parseVm(o, new Map());
      vm.instanceUuid = read.instanceUuid;
      vm.isTemplate = read.isTemplate;
      vm.annotation = read.annotation;
      vm.extraConfig = read.extraConfig;
      vm.location = read.location;
      if (vm.isTemplate) vs.templates.add(vm.ref.value);
      vs.cache?.setConfig(vm.ref.value, read.changeVersion, vm);
    }
  }
  vs.configsRead = vms.length - gone.size;
  return gone;
}

/** Light + device read of some VMs in one round trip (plus pages); network names ride along. */
export async function readVms(c: VimClient, refs: MoRef[], paths: string[]): Promise<Map<string, VmInfo>> {
  const objs = await retrieveObjects(c, refs, [{ type: 'VirtualMachine', paths }, ...NETWORK_REQUESTS], {
    type: 'VirtualMachine',
    path: 'network',
  });
  const names = networkNamesOf(objs);
  return new Map(objs.filter((o) => o.obj.type === 'VirtualMachine').map((o) => [o.obj.value, parseVm(o, names)]));
}

export async function readVm(c: VimClient, vm: MoRef): Promise<VmInfo> {
  const got = (await readVms(c, [vm], [...LIGHT_PATHS, ...HEAVY_PATHS])).get(vm.value);
  if (!got)
    throw new ManagedObjectNotFoundError(
      'ManagedObjectNotFound',
      `vSphere VM ${vm.value} not found: it was removed from vCenter after shipshape read it; run again: the next plan sees it gone`,
      vm,
    );
  return got;
}

export async function exists(c: VimClient, vm: MoRef): Promise<boolean> {
  try {
    return (await readVms(c, [vm], LIGHT_PATHS)).has(vm.value);
  } catch (e) {
    if (e instanceof ManagedObjectNotFoundError) return false;
    throw e;
  }
}

/**
 * `cached`: device fields from the device cache (the VM's changeVersion is the one they were read
 * at). A VM read with its devices refreshes the cache entry.
 */
export function toResource(vs: VmSession, vm: VmInfo, cached?: DeviceFields): VmResource {
  const owned = vs.ours(vm) !== undefined;
  const devices = vm.devices ? deviceFields(vm.devices) : cached;
  if (owned && vm.devices) vs.cache?.set(vm.instanceUuid, vm.changeVersion, devices!);
  const marker = markerOf(vm);
  const handle: VmHandle = { ref: vm.ref, instanceUuid: vm.instanceUuid, hasDevices: devices !== undefined };
  if (vm.bootTime) handle.bootTime = vm.bootTime;
  if (devices?.iso) handle.cdromIso = devices.iso;
  const installed = vm.extraConfig.get(INSTALL_MARKER);
  if (installed) {
    const hostKey = vm.extraConfig.get(HOST_KEY_GUESTINFO);
    handle.install = { marker: installed, os: marker?.os ?? '', ...(hostKey ? { hostKey } : {}) };
  }
  if (vm.placement?.host !== undefined) handle.host = vm.placement.host;
  const fields = observedFields(vm, devices);
  if (devices?.portgroupId) {
    handle.portgroupId = devices.portgroupId;
    // Shown (and written by `import`) as its path below the network folder: the name alone may be ambiguous.
    fields.portgroup = vs.place?.networkPath(devices.portgroupId) ?? fields.portgroup;
  }
  const folder = vs.folderOf.get(vm.ref.value);
  if (folder !== undefined) handle.folder = folder;
  // A marker without this site's seal is someone's claim, not ours: reported, never touched.
  return {
    kind: 'vm',
    system: marker?.system ?? vm.name,
    id: vm.ref.value,
    owned,
    fields,
    handle,
    ...(vs.outside.has(vm.ref.value) ? { outOfScope: vs.outside.get(vm.ref.value)! } : {}),
  };
}

/**
 * One light read of every VM in the folder, then device lists only for owned VMs whose
 * `config.changeVersion` moved since the cached read (all of them without a cache), a page at a
 * time and reduced to fields at once, so a page's XML is garbage before the next arrives.
 * Nothing is acted on from the cache: converge reads a VM's devices itself before it edits them.
 */
export async function observe(vs: VmSession, ctx: ProviderContext): Promise<Observation<VmFields, VmHandle>> {
  const { c, v } = await vs.connect(ctx);
  // A provider serve keeps: placement lookups are per run (a folder may be gone since the last).
  vs.place = new Placement(c, v, ctx.site);
  const p = vs.place;
  if (vs.cache) vs.cache.log = ctx.log;
  const before = c.stats.roundTrips;
  const vms = await listFolder(vs, c, p);
  const sc = await c.serviceContent();
  const resources = new Map<string, VmResource>();
  // Unmarked VMs of a declared name are read whole too: they are what `shipshape adopt` compares.
  const owned = vms.filter((vm) => vs.ours(vm) || ctx.declared?.has(vm.name));
  // Placement as names, from the containers the list read with the VMs.
  for (const vm of owned) {
    const w = vs.where?.(vm.location);
    if (w) vm.placement = w;
  }
  const stale: VmInfo[] = [];
  for (const vm of owned) {
    const cached = vs.cache?.get(vm.instanceUuid, vm.changeVersion);
    if (cached) resources.set(vm.ref.value, toResource(vs, vm, cached));
    else stale.push(vm);
  }
  const page = vs.o.pageSize ?? DEFAULT_PAGE_SIZE;
  for (let i = 0; i < stale.length; i += page) {
    const chunk = stale.slice(i, i + page);
    const heavy = await readVms(
      c,
      chunk.map((vm) => vm.ref),
      HEAVY_PATHS,
    );
    for (const vm of chunk) {
      const devices = heavy.get(vm.ref.value)?.devices;
      resources.set(vm.ref.value, toResource(vs, devices ? { ...vm, devices } : vm));
    }
  }
  vs.seen = vms;
  vs.lastObserve = {
    devicesRead: stale.length,
    fromCache: owned.length - stale.length,
    configsRead: vs.configsRead,
  };
  if (vs.cache) {
    vs.cache.keepOnly(
      new Set(owned.map((vm) => vm.instanceUuid)),
      new Set([...vms.map((vm) => vm.ref.value), ...vs.templates]),
    );
    vs.cache.save();
  }
  return {
    resources: vms.map((vm) => resources.get(vm.ref.value) ?? toResource(vs, vm)),
    roundTrips: c.stats.roundTrips - before,
    about: { server: sc.server || sc.apiVersion, apiVersion: sc.negotiatedVersion },
  };
}
