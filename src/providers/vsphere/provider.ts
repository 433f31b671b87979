/**
 * The vSphere provider for kind `vm` (contract in src/engine/contract.ts).
 * observe: every VM in the configured folder through one ContainerView read (light properties),
 * then one read of the device list for the VMs we own. create: idempotent per system (marker,
 * name and create journal decide), clone with the marker in the spec, converge by re-reading,
 * power on. update: converge, powering off only when the manifest allows it. delete: only VMs
 * carrying our marker for that system. close: Logout.
 */
import path from 'node:path';
import {
  UserError,
  type BootMedia,
  type Capabilities,
  type CreateIntent,
  type FieldChange,
  type IdentityFields,
  type ObservedResource,
  type Observation,
  type Provider,
  type ProviderContext,
  type Resolved,
} from '../../engine/contract';
import type { SecretRef } from '../../manifest/site';
import type { VsphereConfig } from './config';
import { formatSource, type DesiredSystem } from '../../manifest/types';
import { INSTALL_MARKER, vsphereBootMedia } from './datastore';
import { HOST_KEY_GUESTINFO } from '../install/provider';
import { VimClient, type CallStats } from './client';
import { DeviceCache, deviceCacheFile } from './device-cache';
import {
  annotationFor,
  deviceFields,
  desiredVm,
  diffVm,
  observedFields,
  type DeviceFields,
  type VmFields,
  type VmHandle,
} from './fields';
import {
  DEFAULT_PAGE_SIZE,
  findByInventoryPath,
  retrieveObjects,
  retrieveView,
  runTask,
  TaskTimeoutError,
  waitForTask,
} from './inventory';
import { Placement } from './placement';
import { powerOff, powerOn } from './power';
import { retire } from './retire';
import { FileNotFoundError, ManagedObjectNotFoundError, VsphereFault } from './soap/faults';
import { child, ref, toRef, type MoRef } from './soap/xml';
import { cloneBody, cloneWant, extraConfig, reconfigSpec, relocateSpec, wantFor } from './specs';
import { folderPathOf, inventoryNames, poolPathOf, whereFor } from './where';
import {
  HEAVY_PATHS,
  LIGHT_PATHS,
  MARKER_OWNER,
  MARKER_SEAL,
  MARKER_SYSTEM,
  markerEntries,
  markerOf,
  NETWORK_REQUESTS,
  networkNamesOf,
  OWNER_VALUE,
  parseVm,
  type Marker,
  type VmInfo,
} from './vm';
import { markerVerified, siteSealer, type Sealer } from '../../ownership';
import { Refusal } from '../../engine/refusals';

export interface VsphereProviderOptions {
  /** This backend's section of the site config, validated, defaults applied: handed once, here. */
  config: VsphereConfig;
  /** Reads a secret reference (`${env:…}`, `${file:…}`); the value is never logged or stored. */
  secret: (ref: SecretRef) => Promise<string>;
  guestShutdownTimeoutMs?: number;
  requestTimeoutMs?: number;
  pageSize?: number;
  /** Where the device cache lives (device-cache.ts); without it every observe reads every owned VM's devices. */
  stateDir?: string;
  /** The site's systems: the VM folders their `placement` names are observed besides the site's. */
  systems?: DesiredSystem[];
}

type VmResource = ObservedResource<VmFields, VmHandle>;
/** The install marker of an adopted VM: installed by someone else, never by shipshape. */
const ADOPTED = 'adopted';
const MAX_CONVERGE = 3;

export class VsphereProvider implements Provider<VmFields, VmHandle> {
  readonly kind = 'vm' as const;
  readonly capabilities: Capabilities = { bootMedia: () => this.bootMedia() };
  readonly identity = { mac: 'mac' } satisfies IdentityFields<VmFields>;
  private client: VimClient | undefined;
  private place: Placement | undefined;
  /** VMs seen by observe in this run (name/marker lookups for create). */
  private seen: VmInfo[] | undefined;
  /** VMs the last list saw outside the managed folder: moref → where they are (for messages). */
  private readonly outside = new Map<string, string>();
  /** Folder path below the datacenter's VM folder of every VM the last list saw (`shipshape import --folder`). */
  private readonly folderOf = new Map<string, string>();
  /** The site's marker seal (undefined: a site without `ownership:`, markers taken at their word). */
  private sealer: Sealer | undefined;

  /** Device fields of owned VMs by instanceUuid + changeVersion, kept between runs. */
  private readonly cache: DeviceCache | undefined;
  /** How the last observe got device fields: read now, or from the cache (tests, benchmarks). */
  lastObserve: { devicesRead: number; fromCache: number } | undefined;

  constructor(private readonly o: VsphereProviderOptions) {
    if (o.stateDir) this.cache = new DeviceCache(deviceCacheFile(o.stateDir, o.config));
  }

  /** Round trips and bytes of this run's session so far (benchmarks). */
  get callStats(): CallStats | undefined {
    return this.client?.stats;
  }

  desired(system: DesiredSystem, resolved: Resolved): VmFields | null {
    return desiredVm(system, resolved, this.o.config);
  }

  /** The CMDB documents the cluster a VM runs on (its placement's); it is known before the VM exists. */
  promises(system: DesiredSystem): Partial<Resolved> {
    return { host: whereFor(system, this.o.config).cluster };
  }

  diff(system: DesiredSystem, desired: VmFields, observed: VmResource): FieldChange[] {
    const changes = diffVm(system, desired, observed.fields, observed.handle?.host);
    // An unmarked VM (an adoption candidate): the annotation is written with the marker when it is
    // adopted, so it is not a difference between the manifest and the VM.
    return observed.owned ? changes : changes.filter((c) => c.path !== 'annotation');
  }

  /** Hands the VM's identity to later steps (installation boots it, CMDB records it). */
  resolve(_system: DesiredSystem, observed: VmResource | undefined, resolved: Resolved): Resolved {
    if (!observed?.owned) return resolved;
    const h = observed.handle!;
    return {
      ...resolved,
      mac: observed.fields.mac || resolved.mac,
      vmId: observed.id,
      vmInstanceUuid: h.instanceUuid,
      ...(h.install ? { vmInstall: h.install } : {}),
      // Adopted: never installed by shipshape; specialisation trusts the host key the guest published
      // in guestinfo (vCenter), else the site's known_hosts, never the first key it sees.
      ...(h.install?.marker === ADOPTED
        ? { installed: 'adopted' as const, ...(h.install.hostKey ? { hostKey: h.install.hostKey } : {}) }
        : {}),
    };
  }

  /**
   * `shipshape adopt`: writes the marker (sealed on a site with `ownership:`), shipshape's
   * annotation and the install marker `adopted` (the install step never installs a VM someone
   * else built) onto a VM the plan matched by name. Nothing else changes: CPU, memory, disks, MAC
   * and power stay as they are, and the VM stays in its folder (a move would change who may see it).
   */
  async adopt(
    system: DesiredSystem,
    observed: VmResource,
    _resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<VmResource> {
    const { c, v } = await this.connect(ctx);
    const vmRef = observed.handle?.ref ?? { type: 'VirtualMachine', value: observed.id };
    const vm = await this.readVm(c, vmRef);
    const m = markerOf(vm);
    if (this.ours(vm)?.system === system.name) return this.toResource(vm);
    if (vm.name !== system.name && m?.system !== system.name)
      throw new UserError(`system ${system.name}: VM ${vmRef.value} is now named ${vm.name}; plan again`, 'failed');
    const entries: [string, string][] = [...this.markerFor(system, vmRef, ctx.commit), [INSTALL_MARKER, ADOPTED]];
    await runTask(
      c,
      'ReconfigVM_Task',
      ref('_this', vmRef) +
        reconfigSpec(vm.devices, {
          growDisks: [],
          addDisks: [],
          annotation: annotationFor(system),
          extraConfig: entries,
        }),
      { timeoutMs: this.taskMs(v), what: `adopt ${system.name} (${vmRef.value})` },
    );
    ctx.log.info(
      { system: system.name, vm: vmRef.value },
      'vsphere: adopted the VM (marker written, nothing else changed)',
    );
    const got = await this.readVm(c, vmRef);
    this.remember(got);
    return this.toResource(got);
  }

  /** Boot media for the installation step, on this provider's session (datastore.ts). */
  bootMedia(): BootMedia {
    return vsphereBootMedia(
      (ctx) => this.connect(ctx),
      (v) => this.taskMs(v),
    );
  }

  private async connect(ctx: ProviderContext): Promise<{ c: VimClient; p: Placement; v: VsphereConfig }> {
    const v = this.o.config;
    if (!this.client) {
      const [username, password] = await Promise.all([this.o.secret(v.username), this.o.secret(v.password)]);
      const caFile = v.tls.caFile ? path.resolve(ctx.site.root, v.tls.caFile) : undefined;
      this.client = new VimClient({
        url: v.url,
        username,
        password,
        tls: { ...v.tls, ...(caFile ? { caFile } : {}) },
        tlsBase: ctx.site.root,
        log: ctx.log,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        ...(this.o.requestTimeoutMs ? { timeoutMs: this.o.requestTimeoutMs } : {}),
      });
      this.place = new Placement(this.client, v);
    }
    this.sealer = await siteSealer(ctx.site, this.o.secret);
    return { c: this.client, p: this.place!, v };
  }

  /** The VM's marker when it is ours: it names a system and, on a site with `ownership:`, carries this site's seal for this VM. */
  private ours(vm: Pick<VmInfo, 'extraConfig' | 'ref'>): Marker | undefined {
    const m = markerOf(vm);
    return m &&
      markerVerified(
        this.sealer,
        { kind: 'vm', system: m.system, resourceId: vm.ref.value },
        vm.extraConfig.get(MARKER_SEAL),
      )
      ? m
      : undefined;
  }

  /** The marker entries for `system` on the VM `vm` (with the seal, which needs the VM's id: never in a clone spec). */
  private markerFor(system: DesiredSystem, vm: MoRef, commit?: string): [string, string][] {
    const m = markerEntries(system.name, system.os, commit);
    if (this.sealer) m.push([MARKER_SEAL, this.sealer.seal({ kind: 'vm', system: system.name, resourceId: vm.value })]);
    return m;
  }

  /**
   * `shipshape ownership seal`: seals the VMs whose (unsealed) marker names one of `systems`, once,
   * when a site starts using `ownership:`. A system claimed by two VMs is left alone and reported.
   */
  async sealMarkers(ctx: ProviderContext, systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }> {
    const { c, p, v } = await this.connect(ctx);
    if (!this.sealer)
      throw new UserError('shipshape.yaml has no ownership: section (siteId, key); there is nothing to seal with');
    const vms = await this.listFolder(c, p);
    const claims = new Map<string, VmInfo[]>();
    for (const vm of vms) {
      const m = markerOf(vm);
      if (m && systems.has(m.system)) claims.set(m.system, [...(claims.get(m.system) ?? []), vm]);
    }
    const sealed: string[] = [];
    const skipped: string[] = [];
    for (const [system, list] of claims) {
      if (list.length > 1) {
        skipped.push(
          `${system}: ${list.length} VMs claim it (${list.map((x) => `${x.name}/${x.ref.value}`).join(', ')}); remove the extra markers by hand, then seal again`,
        );
        continue;
      }
      const vm = list[0]!;
      if (this.ours(vm)) continue;
      const seal = this.sealer.seal({ kind: 'vm', system, resourceId: vm.ref.value });
      await runTask(c, 'ReconfigVM_Task', ref('_this', vm.ref) + `<spec>${extraConfig([[MARKER_SEAL, seal]])}</spec>`, {
        timeoutMs: this.taskMs(v),
        what: `seal the marker of ${vm.name}`,
      });
      sealed.push(`vm ${system}: ${vm.name} (${vm.ref.value})`);
    }
    return { sealed, skipped };
  }

  private taskMs(v: VsphereConfig): number {
    return v.taskTimeoutSeconds * 1000;
  }

  /** A task's state and progress as apply progress lines (`clone task-12 running 40%`). */
  private progress(
    ctx: ProviderContext,
    system: string,
    label: string,
  ): (p: { state: string; progress?: number }) => void {
    return (p) =>
      ctx.progress?.(system, 'vm', `${label} ${p.state}${p.progress !== undefined ? ` ${p.progress}%` : ''}`);
  }

  /**
   * Light read of every VM (templates left out) in each datacenter the site or a system's placement
   * names, in one ContainerView read per datacenter over its VM folder that also returns the
   * sub-folders (name and parent): so a VM of a declared name anywhere in the datacenter is seen (a
   * create never duplicates it), and VMs outside the managed folders (the site's and those systems
   * place VMs in) are marked with where they are (`outside`).
   */
  private async listFolder(c: VimClient, p: Placement): Promise<VmInfo[]> {
    const wheres = [p.site, ...(this.o.systems ?? []).map((s) => whereFor(s, this.o.config))];
    const managed = [...new Set(wheres.map(folderPathOf))];
    const datacenters = [...new Set(wheres.map((w) => w.datacenter))];
    this.outside.clear();
    this.folderOf.clear();
    const out: VmInfo[] = [];
    for (const dc of datacenters) {
      const root = await findByInventoryPath(c, `${dc}/vm`);
      if (!root) continue;
      const folders = new Map<string, { name: string; parent?: string }>();
      const parents = new Map<string, string>();
      const vms = await retrieveView(
        c,
        root,
        [
          { type: 'VirtualMachine', paths: [...new Set([...LIGHT_PATHS, 'parent'])] },
          { type: 'Folder', paths: ['name', 'parent'] },
        ],
        this.o.pageSize,
        // Each page becomes VmInfo at once: the raw XML of a page is garbage before the next arrives.
        (page) =>
          page.flatMap((o) => {
            const parent = toRef(o.props.get('parent'))?.value;
            if (o.obj.type === 'Folder') {
              folders.set(o.obj.value, { name: o.props.get('name')?.text ?? '', ...(parent ? { parent } : {}) });
              return [];
            }
            const vm = parseVm(o, new Map());
            if (vm.isTemplate) return [];
            if (parent) parents.set(vm.ref.value, parent);
            return [vm];
          }),
      );
      // Folder path below the datacenter's VM folder: `` for the root, `a/b` below it.
      const pathOf = (f: string | undefined): string => {
        const parts: string[] = [];
        for (let at = f, n = 0; at && at !== root.value && n < 64; n++) {
          const info = folders.get(at);
          if (!info) break;
          parts.unshift(info.name);
          at = info.parent;
        }
        return parts.join('/');
      };
      for (const vm of vms) {
        const at = pathOf(parents.get(vm.ref.value));
        const full = at ? `${dc}/vm/${at}` : `${dc}/vm`;
        this.folderOf.set(vm.ref.value, at);
        if (!managed.some((m) => full === m || full.startsWith(`${m}/`)))
          this.outside.set(vm.ref.value, `in folder ${full}, outside ${p.folderPath}`);
        out.push(vm);
      }
    }
    return out;
  }

  /** Light + device read of some VMs in one round trip (plus pages); network names ride along. */
  private async readVms(c: VimClient, refs: MoRef[], paths: string[]): Promise<Map<string, VmInfo>> {
    const objs = await retrieveObjects(c, refs, [{ type: 'VirtualMachine', paths }, ...NETWORK_REQUESTS], {
      type: 'VirtualMachine',
      path: 'network',
    });
    const names = networkNamesOf(objs);
    return new Map(objs.filter((o) => o.obj.type === 'VirtualMachine').map((o) => [o.obj.value, parseVm(o, names)]));
  }

  /** Templates read whole once per run (their devices are what a clone spec's device edits name). */
  private readonly templates = new Map<string, Promise<VmInfo>>();

  private templateInfo(c: VimClient, template: MoRef): Promise<VmInfo> {
    let got = this.templates.get(template.value);
    if (!got) {
      got = this.readVm(c, template);
      got.catch(() => this.templates.delete(template.value));
      this.templates.set(template.value, got);
    }
    return got;
  }

  private async readVm(c: VimClient, vm: MoRef): Promise<VmInfo> {
    const got = (await this.readVms(c, [vm], [...LIGHT_PATHS, ...HEAVY_PATHS])).get(vm.value);
    if (!got) throw new ManagedObjectNotFoundError('ManagedObjectNotFound', `vSphere VM ${vm.value} not found`, vm);
    return got;
  }

  /**
   * `cached`: device fields from the device cache (the VM's changeVersion is the one they were read
   * at). A VM read with its devices refreshes the cache entry.
   */
  private toResource(vm: VmInfo, cached?: DeviceFields): VmResource {
    const owned = this.ours(vm) !== undefined;
    const devices = vm.devices ? deviceFields(vm.devices) : cached;
    if (owned && vm.devices) this.cache?.set(vm.instanceUuid, vm.changeVersion, devices!);
    const marker = markerOf(vm);
    const handle: VmHandle = { ref: vm.ref, instanceUuid: vm.instanceUuid, hasDevices: devices !== undefined };
    if (devices?.iso) handle.cdromIso = devices.iso;
    const installed = vm.extraConfig.get(INSTALL_MARKER);
    if (installed) {
      const hostKey = vm.extraConfig.get(HOST_KEY_GUESTINFO);
      handle.install = { marker: installed, os: marker?.os ?? '', ...(hostKey ? { hostKey } : {}) };
    }
    if (vm.placement?.host !== undefined) handle.host = vm.placement.host;
    const folder = this.folderOf.get(vm.ref.value);
    if (folder !== undefined) handle.folder = folder;
    // A marker without this site's seal is someone's claim, not ours: reported, never touched.
    return {
      kind: 'vm',
      system: marker?.system ?? vm.name,
      id: vm.ref.value,
      owned,
      fields: observedFields(vm, devices),
      handle,
      ...(this.outside.has(vm.ref.value) ? { outOfScope: this.outside.get(vm.ref.value)! } : {}),
    };
  }

  /**
   * One light read of every VM in the folder, then device lists only for owned VMs whose
   * `config.changeVersion` moved since the cached read (all of them without a cache), a page at a
   * time and reduced to fields at once, so a page's XML is garbage before the next arrives.
   * Nothing is acted on from the cache: converge reads a VM's devices itself before it edits them.
   */
  async observe(ctx: ProviderContext): Promise<Observation<VmFields, VmHandle>> {
    const { c, p } = await this.connect(ctx);
    if (this.cache) this.cache.log = ctx.log;
    const before = c.stats.roundTrips;
    const vms = await this.listFolder(c, p);
    const sc = await c.serviceContent();
    const resources = new Map<string, VmResource>();
    // Unmarked VMs of a declared name are read whole too: they are what `shipshape adopt` compares.
    const owned = vms.filter((vm) => this.ours(vm) || ctx.declared?.has(vm.name));
    // Placement as names, for the VMs read whole: one read of the inventory's containers, whatever their number.
    if (owned.length) {
      const where = await inventoryNames(c, sc.rootFolder);
      for (const vm of owned) {
        const w = where(vm.location);
        if (w) vm.placement = w;
      }
    }
    const stale: VmInfo[] = [];
    for (const vm of owned) {
      const cached = this.cache?.get(vm.instanceUuid, vm.changeVersion);
      if (cached) resources.set(vm.ref.value, this.toResource(vm, cached));
      else stale.push(vm);
    }
    const page = this.o.pageSize ?? DEFAULT_PAGE_SIZE;
    for (let i = 0; i < stale.length; i += page) {
      const chunk = stale.slice(i, i + page);
      const heavy = await this.readVms(
        c,
        chunk.map((vm) => vm.ref),
        HEAVY_PATHS,
      );
      for (const vm of chunk) {
        const devices = heavy.get(vm.ref.value)?.devices;
        resources.set(vm.ref.value, this.toResource(devices ? { ...vm, devices } : vm));
      }
    }
    this.seen = vms;
    this.lastObserve = { devicesRead: stale.length, fromCache: owned.length - stale.length };
    if (this.cache) {
      this.cache.keepOnly(new Set(owned.map((vm) => vm.instanceUuid)));
      this.cache.save();
    }
    return {
      resources: vms.map((vm) => resources.get(vm.ref.value) ?? this.toResource(vm)),
      roundTrips: c.stats.roundTrips - before,
      about: { server: sc.server || sc.apiVersion, apiVersion: sc.negotiatedVersion },
    };
  }

  async create(
    system: DesiredSystem,
    desired: VmFields,
    resolved: Resolved,
    ctx: ProviderContext,
    intent?: CreateIntent,
  ): Promise<VmResource> {
    try {
      return await this.createOnce(system, desired, resolved, ctx, intent);
    } catch (e) {
      // This run's view said the VM existed, but it was deleted meanwhile: look again, once.
      if (!(e instanceof ManagedObjectNotFoundError) || !this.seen) throw e;
      this.seen = undefined;
      return this.createOnce(system, desired, resolved, ctx, intent);
    }
  }

  private async createOnce(
    system: DesiredSystem,
    desired: VmFields,
    resolved: Resolved,
    ctx: ProviderContext,
    intent?: CreateIntent,
  ): Promise<VmResource> {
    const { c, p, v } = await this.connect(ctx);
    const found = (this.seen ?? (await this.listFolder(c, p))).filter(
      (vm) => vm.name === system.name || markerOf(vm)?.system === system.name,
    );
    const mine = found.filter((vm) => this.ours(vm)?.system === system.name);
    if (mine.length > 1) {
      throw new UserError(
        `system ${system.name}: ${mine.length} VMs in ${p.folderPath} carry its marker (${mine.map((m) => `${m.name}/${m.ref.value}`).join(', ')}); remove all but one by hand, then apply again`,
      );
    }
    if (mine.length === 1) {
      ctx.log.info(
        { system: system.name, vm: mine[0]!.ref.value },
        'vsphere: VM already exists (earlier run); converging instead of cloning',
      );
      return this.finishCreate(mine[0]!.ref, system, desired, resolved, ctx);
    }
    // What an interrupted create of this system noted in the engine's journal: its clone task and VM.
    const entry = intent?.interrupted?.detail;
    const sameName = found.filter((vm) => vm.name === system.name);
    if (sameName.length) {
      const ours =
        entry &&
        sameName.length === 1 &&
        (sameName[0]!.ref.value === entry.vm ||
          (entry.task && (await this.taskResult(c, entry.task, v))?.value === sameName[0]!.ref.value));
      if (ours) {
        ctx.log.info(
          { system: system.name, vm: sameName[0]!.ref.value },
          'vsphere: found the clone an interrupted run started; marking and converging it',
        );
        return this.finishCreate(sameName[0]!.ref, system, desired, resolved, ctx);
      }
      const interrupted = entry
        ? ` An interrupted create of this system (journal ${intent!.path}) may have made it, but the journal cannot prove it.`
        : '';
      throw new UserError(
        `system ${system.name}: a VM named ${system.name} already exists ${sameName.map((s) => `${this.outside.get(s.ref.value) ?? `in ${p.folderPath}`} (${s.ref.value})`).join('; ')} without shipshape's marker; shipshape never creates a second one.${interrupted} Adopt it (\`shipshape adopt ${system.name}\`), rename the system, or remove that VM`,
        'collides',
      );
    }
    if (entry?.task || entry?.vm) {
      const made = entry.vm ? { type: 'VirtualMachine', value: entry.vm } : await this.taskResult(c, entry.task!, v);
      const still = made && (await this.exists(c, made));
      if (still) {
        throw new UserError(
          `system ${system.name}: an interrupted create (journal ${intent!.path}) made VM ${made.value}, which is no longer named ${system.name} in ${p.folderPath}: it was moved or renamed. Find it in vCenter and delete it, or move it back and name it ${system.name}; then apply again`,
        );
      }
      // The journal points at nothing (the clone failed, or its VM was destroyed since): clone anew.
      if (made)
        ctx.log.warn(
          { system: system.name, vm: made.value },
          `vsphere: an interrupted create of ${system.name} made ${made.value}, which no longer exists; cloning anew`,
        );
    }
    const w = whereFor(system, v);
    const [template, folder, pool, datastore, host] = await Promise.all([
      p.template(desired.os),
      p.folder(w),
      p.pool(w),
      p.datastore(desired.disks[0]?.datastore ?? v.datastore, w.datacenter),
      w.host !== undefined ? p.host(w) : undefined,
    ]);
    // The clone gets its final configuration where vCenter takes it in the clone spec (NIC, added
    // disks, CPU, memory, marker), so the reconfigure after it has only the seal and disk growth left.
    const tpl = await this.templateInfo(c, template);
    const marker = markerEntries(system.name, system.os, ctx.commit);
    const body = cloneBody({
      template,
      folder,
      name: system.name,
      datastore,
      pool,
      ...(host ? { host } : {}),
      ...(tpl.devices ? { devices: tpl.devices } : {}),
      config: await cloneWant(desired, observedFields(tpl), p, marker),
    });
    const task = toRef(child(await c.call('CloneVM_Task', body), 'returnval'));
    if (!task) throw new Error('vSphere CloneVM_Task returned no task');
    intent?.note({ task: task.value });
    const onProgress = this.progress(ctx, system.name, `clone ${task.value}`);
    const vm = toRef(
      await this.cloneOutcome(
        system,
        waitForTask(c, task, {
          timeoutMs: this.taskMs(v),
          what: `clone ${system.name} from template ${v.templates[desired.os]}`,
          onProgress,
        }),
      ),
    );
    if (!vm) throw new Error(`vSphere clone task ${task.value} returned no VM`);
    intent?.note({ vm: vm.value });
    // Some setups (vcsim among them) leave a clone on the template's host whatever the spec's location
    // said: compare the references and move it before it is powered on.
    const at = (await this.readVms(c, [vm], LIGHT_PATHS)).get(vm.value)?.location;
    if (at && (at.pool?.value !== pool.value || (host && at.host?.value !== host.value)))
      await runTask(c, 'RelocateVM_Task', ref('_this', vm) + relocateSpec(pool, host), {
        timeoutMs: this.taskMs(v),
        what: `place ${system.name} (${vm.value}) in ${poolPathOf(w)}${w.host ? ` on ${w.host}` : ''}`,
      });
    return this.finishCreate(vm, system, desired, resolved, ctx);
  }

  private async finishCreate(
    vm: MoRef,
    system: DesiredSystem,
    desired: VmFields,
    resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<VmResource> {
    const iso = typeof resolved.installIso === 'string' ? resolved.installIso : undefined;
    const got = await this.converge(vm, system, desired, ctx, { allowPowerOff: false, ...(iso ? { iso } : {}) });
    this.remember(got);
    return this.toResource(got);
  }

  /** A VM made in this run joins this run's view, so a retried create finds it instead of cloning again. */
  private remember(vm: VmInfo): void {
    if (this.seen) this.seen = [...this.seen.filter((s) => s.ref.value !== vm.ref.value), vm];
  }

  private async exists(c: VimClient, vm: MoRef): Promise<boolean> {
    try {
      return (await this.readVms(c, [vm], LIGHT_PATHS)).has(vm.value);
    } catch (e) {
      if (e instanceof ManagedObjectNotFoundError) return false;
      throw e;
    }
  }

  /**
   * Waits for the clone. A clone that failed (a fault in the task's info.error) or that was
   * cancelled at its timeout made no VM: the engine's journal entry is cleared (adoptCreated finds
   * nothing), and the next plan shows the create again.
   */
  private async cloneOutcome<T>(system: DesiredSystem, wait: Promise<T>): Promise<T> {
    try {
      return await wait;
    } catch (e) {
      if (e instanceof VsphereFault || (e instanceof TaskTimeoutError && e.cancelled)) {
        throw new UserError(`system ${system.name}: ${e.message}; no VM was created, the next run clones again`);
      }
      throw e;
    }
  }

  /**
   * After a failed or interrupted create: the VM it made (from the journal's VM or clone task, or
   * by this system's marker), marked as this system's so the next plan shows it (an update for
   * what the create did not finish, or a delete for a retired system). Undefined: it made none.
   */
  async adoptCreated(
    system: DesiredSystem,
    detail: Record<string, string>,
    ctx: ProviderContext,
  ): Promise<VmResource | undefined> {
    const { c, p, v } = await this.connect(ctx);
    let made: MoRef | undefined = detail.vm
      ? { type: 'VirtualMachine', value: detail.vm }
      : detail.task
        ? await this.taskResult(c, detail.task, v)
        : undefined;
    if (!made) {
      const vms = await this.listFolder(c, p);
      // Only a marker sealed by this site counts here: a hand-written one must not make someone's VM ours.
      made = vms.find((vm) => this.ours(vm)?.system === system.name)?.ref;
      const unmarked = vms.filter((vm) => vm.name === system.name && !markerOf(vm));
      if (!made && unmarked.length) {
        // Killed before the clone task was noted: that VM may be the clone, or someone else's.
        throw new UserError(
          `system ${system.name}: a VM named ${system.name} (${unmarked.map((u) => u.ref.value).join(', ')}) is in ${p.folderPath} without shipshape's marker; an interrupted create of this system may have made it, but the journal cannot prove it. If it is the clone, adopt it by setting extraConfig ${MARKER_OWNER}=${OWNER_VALUE} and ${MARKER_SYSTEM}=${system.name}; otherwise rename or remove it`,
        );
      }
    }
    if (!made || !(await this.exists(c, made))) return undefined;
    let vm = await this.readVm(c, made);
    const m = markerOf(vm);
    if (m && m.system !== system.name)
      throw new UserError(
        `system ${system.name}: the VM its interrupted create made (${made.value}) carries the marker of system ${m.system}; check it in vCenter`,
      );
    if (!m || !this.ours(vm)) {
      // The journal (or this site's seal) vouches for this VM: mark and seal it.
      const spec = reconfigSpec(vm.devices, {
        growDisks: [],
        addDisks: [],
        extraConfig: this.markerFor(system, vm.ref, ctx.commit),
      });
      await runTask(c, 'ReconfigVM_Task', ref('_this', vm.ref) + spec, {
        timeoutMs: this.taskMs(v),
        what: `mark ${system.name} (${vm.ref.value})`,
      });
      vm = await this.readVm(c, vm.ref);
    }
    this.remember(vm);
    return this.toResource(vm);
  }

  /** The VM a clone task produced; undefined when the task failed or vCenter no longer knows it. */
  private async taskResult(c: VimClient, task: string, v: VsphereConfig): Promise<MoRef | undefined> {
    try {
      return toRef(
        await waitForTask(
          c,
          { type: 'Task', value: task },
          { timeoutMs: this.taskMs(v), what: 'clone from an interrupted run' },
        ),
      );
    } catch (e) {
      if (e instanceof VsphereFault) return undefined; // failed, or vCenter forgot the task: it made no VM
      throw e; // timeouts and transport errors: stop, do not guess
    }
  }

  /** Re-read, reconfigure what differs, repeat until it matches (vcsim drops CPU/memory from clone specs), then power on. */
  private async converge(
    vmRef: MoRef,
    system: DesiredSystem,
    desired: VmFields,
    ctx: ProviderContext,
    o: { allowPowerOff: boolean; iso?: string },
  ): Promise<VmInfo> {
    const { c, p, v } = await this.connect(ctx);
    const what = `${system.name} (${vmRef.value})`;
    let vm = await this.readVm(c, vmRef);
    let isoDone = !o.iso || vm.devices?.cdroms[0]?.iso === o.iso;
    for (let round = 1; ; round++) {
      const changes = diffVm(system, desired, observedFields(vm)).filter(
        (ch) => ch.path !== 'power' && ch.path !== 'os',
      );
      // Powering off is this loop's own decision below (with the VM's current state): not a refusal here.
      const refused = changes.filter((ch) => ch.refused && ch.refusal !== 'power-policy');
      if (refused.length) throw refusalOf(system, refused);
      const m = markerOf(vm);
      if (m?.os && m.os !== desired.os) {
        throw new UserError(
          `system ${system.name}: VM ${vmRef.value} was cloned for OS ${m.os}, the manifest wants ${desired.os}; that takes a new VM (a replace), not a reconfiguration. If the old VM was kept (vmOnDelete: poweroff-keep), rename it or remove its ${MARKER_SYSTEM} extraConfig, then apply again`,
        );
      }
      const needMarker = m?.system !== system.name || m.os !== desired.os || this.ours(vm) === undefined;
      if (!changes.length && !needMarker && isoDone) break;
      if (round > MAX_CONVERGE)
        throw new Error(
          `vSphere VM ${what} did not converge after ${MAX_CONVERGE} reconfigurations; still differs in ${changes.map((ch) => ch.path).join(', ')}`,
        );
      const hw = changes.filter((ch) => ch.path === 'cpu' || ch.path === 'memoryMiB' || ch.path === 'mac');
      if (hw.length && vm.powerState !== 'poweredOff') {
        if (!o.allowPowerOff) {
          const src = system.sources['lifecycle.powerPolicy'];
          const now = src ? ` (${system.lifecycle.powerPolicy} at ${formatSource(src)})` : '';
          throw new Refusal(
            'power-policy',
            `system ${system.name}: changing ${hw.map((h) => `${h.path} ${h.from}→${h.to}`).join(', ')} needs the VM powered off; set lifecycle.powerPolicy: allow-poweroff in ${system.file} or its profile${now} to let apply do it, or power it off yourself and apply again`,
          );
        }
        ctx.log.info(
          { system: system.name, fields: hw.map((h) => h.path) },
          'vsphere: powering off for a CPU/memory/MAC change (powerPolicy allow-poweroff)',
        );
        await powerOff(c, vmRef, {
          guestTimeoutMs: this.o.guestShutdownTimeoutMs ?? 120_000,
          taskTimeoutMs: this.taskMs(v),
          what,
        });
      }
      const marker =
        needMarker || changes.length
          ? this.markerFor(system, vmRef, ctx.commit).filter(([k, val]) => vm.extraConfig.get(k) !== val)
          : [];
      const want = await wantFor(changes, desired, p, marker, isoDone ? undefined : o.iso);
      isoDone = true;
      const spec = reconfigSpec(vm.devices, want);
      try {
        if (spec)
          await runTask(c, 'ReconfigVM_Task', ref('_this', vmRef) + spec, {
            timeoutMs: this.taskMs(v),
            what: `reconfigure ${what}`,
            onProgress: this.progress(ctx, system.name, 'reconfigure'),
          });
      } catch (e) {
        // Disk edits send each disk's backing back as read. A FileNotFound for one of its files means
        // the device list we read is stale (see README: concurrent clones and disk paths): read it
        // again and redo the round; a disk that is really gone fails the same way at MAX_CONVERGE.
        if (!(e instanceof FileNotFoundError) || round >= MAX_CONVERGE) throw e;
        ctx.log.warn(
          { system: system.name, vm: vmRef.value },
          `vsphere: reconfigure of ${what} named a disk file that is not there (${e.message}); reading the VM again`,
        );
        isoDone = !o.iso || vm.devices?.cdroms[0]?.iso === o.iso;
      }
      vm = await this.readVm(c, vmRef);
    }
    if (desired.power === 'poweredOn' && vm.powerState !== 'poweredOn') {
      await powerOn(c, vmRef, { taskTimeoutMs: this.taskMs(v), what });
      vm = await this.readVm(c, vmRef);
    }
    return vm;
  }

  async update(
    system: DesiredSystem,
    desired: VmFields,
    observed: VmResource,
    changes: FieldChange[],
    _resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<VmResource> {
    if (!observed.owned)
      throw new Refusal(
        'not-owned',
        `system ${system.name}: VM ${observed.id} does not carry shipshape's marker; not changing it`,
      );
    // Power-off is decided in converge on the VM as it is now (it may have been stopped since the plan).
    const refused = changes.filter((ch) => ch.refused && ch.refusal !== 'power-policy');
    if (refused.length) throw refusalOf(system, refused);
    const h = observed.handle!;
    const moves = changes.filter((ch) => ch.path.startsWith('placement.'));
    if (moves.length) await this.relocate(h.ref, system, moves, ctx);
    return this.toResource(
      await this.converge(h.ref, system, desired, ctx, {
        allowPowerOff: system.lifecycle.powerPolicy === 'allow-poweroff',
      }),
    );
  }

  /**
   * Moves the VM to its declared placement: RelocateVM_Task to the cluster's (or named) pool and the
   * pinned host, live where vCenter can (vMotion; otherwise the task fails with vCenter's reason), and
   * MoveIntoFolder_Task for the folder. Another datacenter is a replace, never done here.
   */
  private async relocate(vm: MoRef, system: DesiredSystem, moves: FieldChange[], ctx: ProviderContext): Promise<void> {
    const { c, p, v } = await this.connect(ctx);
    const w = whereFor(system, v);
    const what = `${system.name} (${vm.value})`;
    if (moves.some((m) => m.path === 'placement.datacenter'))
      throw new UserError(`system ${system.name}: moving to datacenter ${w.datacenter} takes a new VM (a replace)`);
    if (moves.some((m) => m.path !== 'placement.folder')) {
      const [pool, host] = await Promise.all([p.pool(w), w.host !== undefined ? p.host(w) : undefined]);
      ctx.log.info({ system: system.name, vm: vm.value, to: poolPathOf(w) }, 'vsphere: relocating (vMotion)');
      await runTask(c, 'RelocateVM_Task', ref('_this', vm) + relocateSpec(pool, host), {
        timeoutMs: this.taskMs(v),
        what: `relocate ${what} to ${poolPathOf(w)}${w.host ? ` on ${w.host}` : ''}`,
        onProgress: this.progress(ctx, system.name, 'relocate'),
      });
    }
    if (moves.some((m) => m.path === 'placement.folder')) {
      const folder = await p.folder(w);
      await runTask(c, 'MoveIntoFolder_Task', ref('_this', folder) + ref('list', vm), {
        timeoutMs: this.taskMs(v),
        what: `move ${what} into folder ${folderPathOf(w)}`,
      });
    }
  }

  async delete(system: DesiredSystem, observed: VmResource, ctx: ProviderContext): Promise<void> {
    const { c, v } = await this.connect(ctx);
    const vmRef = observed.handle?.ref ?? { type: 'VirtualMachine', value: observed.id };
    let vm: VmInfo;
    try {
      vm = (await this.readVms(c, [vmRef], LIGHT_PATHS)).get(vmRef.value)!;
    } catch (e) {
      if (e instanceof ManagedObjectNotFoundError) return; // already gone
      throw e;
    }
    // Decide on what the VM carries now, not on what the plan saw.
    if (!vm || this.ours(vm)?.system !== system.name) {
      throw new Refusal(
        'not-owned',
        `system ${system.name}: refusing to delete VM ${vm?.name ?? '?'} (${vmRef.value}): it does not carry shipshape's marker for this system${this.sealer ? ' sealed by this site' : ''}`,
      );
    }
    const what = `${system.name} (${vmRef.value})`;
    await powerOff(c, vmRef, {
      guestTimeoutMs: this.o.guestShutdownTimeoutMs ?? 120_000,
      taskTimeoutMs: this.taskMs(v),
      what,
    });
    if (system.lifecycle.vmOnDelete === 'poweroff-keep') {
      await retire(c, vmRef, vm, system.name, this.taskMs(v), ctx);
      this.seen = this.seen?.filter((s) => s.ref.value !== vmRef.value);
      return;
    }
    await runTask(c, 'Destroy_Task', ref('_this', vmRef), { timeoutMs: this.taskMs(v), what: `destroy ${what}` });
    // A replace creates right after this delete: it must not find the destroyed VM in this run's view.
    this.seen = this.seen?.filter((s) => s.ref.value !== vmRef.value);
  }

  async close(): Promise<void> {
    this.cache?.save(); // what creates and updates read this run, so the next observe need not
    const c = this.client;
    this.client = undefined;
    this.place = undefined;
    this.seen = undefined;
    this.templates.clear();
    await c?.logout();
  }
}

/** Apply's refusal for refused field changes: the first one's id, every reason in the message. */
function refusalOf(system: DesiredSystem, refused: FieldChange[]): Error {
  const message = `system ${system.name}: ${refused.map((r) => r.refused).join('; ')}`;
  const id = refused.find((r) => r.refusal)?.refusal;
  return id ? new Refusal(id, message) : new UserError(message);
}
