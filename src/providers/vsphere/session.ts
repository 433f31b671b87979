/**
 * The state one vSphere provider keeps for a run (session, placement lookups, what observe saw,
 * the site's seal, the device cache) and the helpers every operation shares: connect, the
 * ownership test, the marker to write, task timeouts and progress lines. The operations are in
 * observe.ts, create.ts, converge.ts and claims.ts; provider.ts ties them to the engine's contract.
 */
import path from 'node:path';
import type { ObservedResource, ProviderContext } from '../../engine/contract';
import type { SecretRef } from '../../manifest/site';
import type { DesiredSystem } from '../../manifest/types';
import { markerVerified, siteSealer, type Sealer } from '../../ownership';
import { VimClient } from './client';
import type { VsphereConfig } from './config';
import { DeviceCache, deviceCacheFile } from './device-cache';
import type { VmFields, VmHandle } from './fields';
import { Placement, type CloneSources, type InventoryPaths } from './placement';
import type { Where } from './where';
import type { MoRef } from './soap/xml';
import { MARKER_SEAL, markerEntries, markerOf, type Marker, type VmInfo } from './vm';

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

export type VmResource = ObservedResource<VmFields, VmHandle>;

/** What the last observe read: device lists and configs (annotation, extraConfig), and device fields taken from the cache. */
export interface ObserveCounts {
  devicesRead: number;
  fromCache: number;
  configsRead: number;
}
/** The install marker of an adopted VM: installed by someone else, never by shipshape. */
export const ADOPTED = 'adopted';

/** One provider's run state; shared by the operation modules of this folder, not exported from the backend. */
export class VmSession {
  client: VimClient | undefined;
  place: Placement | undefined;
  /** VMs seen by observe in this run (name/marker lookups for create). */
  seen: VmInfo[] | undefined;
  /** VMs the last list saw outside the managed folder: moref → where they are (for messages). */
  readonly outside = new Map<string, string>();
  /** Folder path below the datacenter's VM folder of every VM the last list saw (`shipshape import --folder`). */
  readonly folderOf = new Map<string, string>();
  /** Placement names by location, from the last observe's inventory read (the change feed's reads use it). */
  where: ((l: VmInfo['location']) => Where | undefined) | undefined;
  /** The site's marker seal (undefined: a site without `ownership:`, markers taken at their word). */
  sealer: Sealer | undefined;

  /** Device fields of owned VMs by instanceUuid + changeVersion, kept between runs. */
  readonly cache: DeviceCache | undefined;
  /** How the last observe got device fields: read now, or from the cache (tests, benchmarks). */
  lastObserve: ObserveCounts | undefined;
  /** VMs whose configuration (and location) the last list read by reference (the rest came from the cache and the view). */
  configsRead = 0;
  /** The clone sources (VMs and templates of the site's datacenter) the last list saw, for foreseeing a missing template. */
  clones: CloneSources | undefined;
  /** The inventory paths of the datacenters' containers, datastores and networks the last list saw (foreseeing placement). */
  inventory: InventoryPaths | undefined;
  /** Templates the last list saw (left out of the observation; their flag is kept in the device cache). */
  readonly templates = new Set<string>();

  constructor(readonly o: VsphereProviderOptions) {
    if (o.stateDir) this.cache = new DeviceCache(deviceCacheFile(o.stateDir, o.config));
  }

  async connect(ctx: ProviderContext): Promise<{ c: VimClient; p: Placement; v: VsphereConfig }> {
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
      this.place = new Placement(this.client, v, ctx.site);
    }
    this.sealer = await siteSealer(ctx.site, this.o.secret);
    return { c: this.client, p: this.place!, v };
  }

  /** The VM's marker when it is ours: it names a system and, on a site with `ownership:`, carries this site's seal for this VM. */
  ours(vm: Pick<VmInfo, 'extraConfig' | 'ref'>): Marker | undefined {
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
  markerFor(system: DesiredSystem, vm: MoRef, commit?: string): [string, string][] {
    const m = markerEntries(system.name, system.os, commit);
    if (this.sealer) m.push([MARKER_SEAL, this.sealer.seal({ kind: 'vm', system: system.name, resourceId: vm.value })]);
    return m;
  }

  taskMs(v: VsphereConfig): number {
    return v.taskTimeoutSeconds * 1000;
  }

  /** A task's state and progress as apply progress lines (`clone task-12 running 40%`). */
  progress(ctx: ProviderContext, system: string, label: string): (p: { state: string; progress?: number }) => void {
    return (p) =>
      ctx.progress?.(system, 'vm', `${label} ${p.state}${p.progress !== undefined ? ` ${p.progress}%` : ''}`);
  }

  /** A VM made in this run joins this run's view, so a retried create finds it instead of cloning again. */
  remember(vm: VmInfo): void {
    if (this.seen) this.seen = [...this.seen.filter((s) => s.ref.value !== vm.ref.value), vm];
  }
}
