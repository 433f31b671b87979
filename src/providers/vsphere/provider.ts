/**
 * The vSphere provider for kind `vm` (contract in src/engine/contract.ts).
 * observe: every VM in the configured folder through one ContainerView read (light properties),
 * then one read of the device list for the VMs we own. create: idempotent per system (marker,
 * name and create journal decide), clone with the marker in the spec, converge by re-reading,
 * power on. update: converge, powering off only when the manifest allows it. delete: only VMs
 * carrying our marker for that system. close: Logout.
 */

import type {
  BootMedia,
  Capabilities,
  CreateIntent,
  FieldChange,
  IdentityFields,
  Observation,
  Provider,
  ProviderContext,
  ProviderWatch,
  Resolved,
  WatchedChanges,
} from '../../engine/contract';
import { vmFeed } from './feed';
import { formatSource, type DesiredSystem } from '../../manifest/types';
import type { SitePlace } from '../../manifest/site-keys';
import { adopt, deleteVm, sealMarkers } from './claims';
import type { CallStats } from './client';
import { update } from './converge';
import { adoptCreated, create } from './create';
import { vsphereBootMedia } from './datastore';
import { desiredVm, diffVm, macRange, type VmFields, type VmHandle } from './fields';
import { inManualRange } from '../../manifest/mac';
import { checkPortgroup, portgroupSetting } from './networks';
import { observe } from './observe';
import {
  clusterPathOf,
  datastorePathOf,
  hostPathOf,
  missingDatacenter,
  missingDatastore,
  missingHost,
  missingPool,
  placementMissing,
  templateMissing,
  type Missing,
} from './placement';
import { ADOPTED, VmSession, type ObserveCounts, type VmResource, type VsphereProviderOptions } from './session';
import { poolPathOf, whereFor } from './where';

export type { VsphereProviderOptions } from './session';

/** The placement changes an update carries out by relocating the VM (RelocateVM_Task; a folder is a move into it). */
const RELOCATIONS = ['placement.cluster', 'placement.resourcePool', 'placement.host'];
/** The change that names each kind of placement a move needs. */
const PLACEMENT_KEY: Record<string, string> = {
  cluster: 'placement.cluster',
  'resource pool': 'placement.resourcePool',
  host: 'placement.host',
};

export class VsphereProvider implements Provider<VmFields, VmHandle> {
  readonly kind = 'vm' as const;
  readonly capabilities: Capabilities = { bootMedia: () => this.bootMedia() };
  readonly identity = { mac: 'mac' } satisfies IdentityFields<VmFields>;
  private readonly vs: VmSession;
  /** The repo root and site file of the last observe: refusals name where the site file sets a name. */
  private root: SitePlace | undefined;

  constructor(private readonly o: VsphereProviderOptions) {
    this.vs = new VmSession(o);
  }

  /** Round trips and bytes of this run's session so far (benchmarks). */
  get callStats(): CallStats | undefined {
    return this.vs.client?.stats;
  }

  /** How the last observe got device fields: read now, or from the cache (tests, benchmarks). */
  get lastObserve(): ObserveCounts | undefined {
    return this.vs.lastObserve;
  }

  desired(system: DesiredSystem, resolved: Resolved): VmFields | null {
    return desiredVm(system, resolved, this.o.config);
  }

  /** The CMDB documents the cluster a VM runs on (its placement's); it is known before the VM exists. */
  promises(system: DesiredSystem): Partial<Resolved> {
    return { host: whereFor(system, this.o.config).cluster };
  }

  diff(system: DesiredSystem, desired: VmFields, observed: VmResource): FieldChange[] {
    // The port group as the manifest names it (a path or a bare name) against the VM's network, over
    // the port groups observe read with the VMs (networks.ts).
    const nets = this.vs.place?.networksRead(desired.placement?.datacenter);
    const changes = this.foreseeMoves(
      system,
      desired,
      diffVm(system, desired, observed.fields, observed.handle?.host, (value) =>
        observed.handle?.hasDevices
          ? checkPortgroup(nets, value, observed.handle.portgroupId, portgroupSetting(system, this.root))
          : undefined,
      ),
    );
    // An unmarked VM (an adoption candidate): the annotation is written with the marker when it is
    // adopted, so it is not a difference between the manifest and the VM.
    return observed.owned ? changes : changes.filter((c) => c.path !== 'annotation');
  }

  /**
   * An existing VM's changes that name what vCenter lacks, refused as apply refuses them
   * (`placement-missing`), from what observe's view read saw: another datacenter is a new VM placed
   * as a whole (the replace's create: missingPlacement); a cluster, pool or host change is a
   * relocation to the placement's pool and pinned host (converge.ts `relocate`); a new disk goes on
   * its datastore. The refusal goes with the change that names the missing one (the first move when
   * the site's name is the missing one, e.g. the site's pool in a system's new cluster).
   */
  private foreseeMoves(system: DesiredSystem, desired: VmFields, changes: FieldChange[]): FieldChange[] {
    const inv = this.vs.inventory;
    if (!inv) return changes;
    const v = this.o.config;
    const w = whereFor(system, v);
    const out = [...changes];
    const refuse = (at: number, m: Missing) => {
      out[at] = { ...out[at]!, refused: placementMissing(m, this.root), refusal: 'placement-missing' };
    };
    const dcAt = out.findIndex((c) => c.path === 'placement.datacenter');
    if (dcAt >= 0) {
      const m = this.missingPlacement(system, desired);
      if (m) refuse(dcAt, m);
      return out;
    }
    const moves = out.flatMap((c, i) => (RELOCATIONS.includes(c.path) ? [i] : []));
    if (moves.length) {
      const m = !inv.mayHave(w.datacenter, poolPathOf(w))
        ? missingPool(w, inv.mayHave(w.datacenter, clusterPathOf(w)), v, system)
        : w.host !== undefined && !inv.mayHave(w.datacenter, hostPathOf(w))
          ? missingHost(w, v, system)
          : undefined;
      if (m) {
        const own = out.findIndex((c) => c.path === PLACEMENT_KEY[m.what]);
        refuse(own >= 0 ? own : moves[0]!, m);
      }
    }
    out.forEach((c, i) => {
      const n = /^disks\[(\d+)\]$/.exec(c.path);
      const d = n && c.from === null ? desired.disks[Number(n[1])] : undefined;
      if (d && !c.refused && !inv.mayHave(w.datacenter, datastorePathOf(w.datacenter, d.datastore)))
        refuse(i, missingDatastore(w.datacenter, d.datastore, v, system, Number(n![1])));
    });
    return out;
  }

  /**
   * A new VM gets the manifest's MAC by hand: outside VMware's manual range vCenter refuses it. It is
   * cloned from its OS's template, placed in a cluster, pool, host and datastores, and attached to a
   * port group: each is checked against what observe's one view read saw (a template, placement name
   * or port group it did not see is refused as apply would refuse it).
   */
  foreseeCreate(system: DesiredSystem, desired: VmFields): FieldChange[] {
    const out: FieldChange[] = [];
    if (!inManualRange(desired.mac))
      out.push({ path: 'mac', from: null, to: desired.mac, ...macRange(system, desired.mac) });
    const template = this.o.config.templates[desired.os];
    const clones = this.vs.clones;
    if (template !== undefined && clones && !clones.mayHave(template))
      out.push({
        path: 'os',
        from: null,
        to: desired.os,
        refused: templateMissing(this.o.config, desired.os, clones.named(template), this.root),
        refusal: 'template-missing',
      });
    // Port groups by networks.ts (paths, bare names, switch paths), not by inventory path.
    const nets = this.vs.place?.networksRead(desired.placement?.datacenter);
    const problem = nets?.problem(desired.portgroup, portgroupSetting(system, this.root));
    if (problem) {
      const at = system.sources['network.portgroup'];
      out.push({
        path: 'portgroup',
        from: null,
        to: desired.portgroup,
        ...(at ? { source: formatSource(at) } : {}),
        refused: problem,
        refusal: 'portgroup-name',
      });
    }
    const missing = this.missingPlacement(system, desired);
    if (missing)
      out.push({
        path: 'placement',
        from: null,
        to: missing.path,
        refused: placementMissing(missing, this.root),
        refusal: 'placement-missing',
      });
    return out;
  }

  /**
   * The first name of a new VM's placement the last observe's inventory read did not see, as apply
   * looks them up (create.ts, then the disks it adds): the datacenter (observe looked up every one a
   * placement names), the cluster and pool, a pinned host, each disk's datastore in the placement's
   * datacenter. The port group is foreseeCreate's, from the port groups observe read (networks.ts).
   */
  private missingPlacement(system: DesiredSystem, desired: VmFields): Missing | undefined {
    const inv = this.vs.inventory;
    if (!inv) return undefined;
    const v = this.o.config;
    const w = whereFor(system, v);
    const datacenters = inv.datacenterMissing(w.datacenter);
    if (datacenters) return missingDatacenter(w.datacenter, datacenters, v, system);
    if (!inv.mayHave(w.datacenter, poolPathOf(w)))
      return missingPool(w, inv.mayHave(w.datacenter, clusterPathOf(w)), v, system);
    if (w.host !== undefined && !inv.mayHave(w.datacenter, hostPathOf(w))) return missingHost(w, v, system);
    for (const [i, d] of desired.disks.entries())
      if (!inv.mayHave(w.datacenter, datastorePathOf(w.datacenter, d.datastore)))
        return missingDatastore(w.datacenter, d.datastore, v, system, i);
    return undefined;
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
      ...(h.bootTime ? { vmBootTime: h.bootTime } : {}),
      ...(h.install ? { vmInstall: h.install } : {}),
      // Adopted: never installed by shipshape; specialisation trusts the host key the guest published
      // in guestinfo (vCenter), else the site's known_hosts, never the first key it sees.
      ...(h.install?.marker === ADOPTED
        ? { installed: 'adopted' as const, ...(h.install.hostKey ? { hostKey: h.install.hostKey } : {}) }
        : {}),
    };
  }

  /** Boot media for the installation step, on this provider's session (datastore.ts). */
  bootMedia(): BootMedia {
    return vsphereBootMedia(
      (ctx) => this.vs.connect(ctx),
      (v) => this.vs.taskMs(v),
    );
  }

  /**
   * `shipshape adopt`: writes the marker (sealed on a site with `ownership:`), shipshape's
   * annotation and the install marker `adopted` (the install step never installs a VM someone
   * else built) onto a VM the plan matched by name. Nothing else changes (claims.ts).
   */
  adopt(system: DesiredSystem, observed: VmResource, resolved: Resolved, ctx: ProviderContext): Promise<VmResource> {
    return adopt(this.vs, system, observed, resolved, ctx);
  }

  /** `shipshape ownership seal`: seals the unsealed markers of `systems` once (claims.ts). */
  sealMarkers(ctx: ProviderContext, systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }> {
    return sealMarkers(this.vs, ctx, systems);
  }

  observe(ctx: ProviderContext): Promise<Observation<VmFields, VmHandle>> {
    this.root = ctx.site;
    return observe(this.vs, ctx);
  }

  create(
    system: DesiredSystem,
    desired: VmFields,
    resolved: Resolved,
    ctx: ProviderContext,
    intent?: CreateIntent,
  ): Promise<VmResource> {
    return create(this.vs, system, desired, resolved, ctx, intent);
  }

  /** After a failed or interrupted create: the VM it made, marked as this system's (create.ts). */
  adoptCreated(
    system: DesiredSystem,
    detail: Record<string, string>,
    ctx: ProviderContext,
  ): Promise<VmResource | undefined> {
    return adoptCreated(this.vs, system, detail, ctx);
  }

  update(
    system: DesiredSystem,
    desired: VmFields,
    observed: VmResource,
    changes: FieldChange[],
    resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<VmResource> {
    return update(this.vs, system, desired, observed, changes, resolved, ctx);
  }

  delete(system: DesiredSystem, observed: VmResource, ctx: ProviderContext): Promise<void> {
    return deleteVm(this.vs, system, observed, ctx);
  }

  /** `serve` keeps this provider from run to run: the session lives on; each observe starts a run afresh. */
  readonly reusable = true;

  /** `serve`'s change feed: VMs WaitForUpdatesEx reports changed, read again in one call (feed.ts, watch.ts). */
  watch(ctx: ProviderContext, onChange: (changes: WatchedChanges<VmFields, VmHandle>) => void): Promise<ProviderWatch> {
    return vmFeed(this.vs, ctx, onChange);
  }

  async close(): Promise<void> {
    this.vs.cache?.save(); // what creates and updates read this run, so the next observe need not
    const c = this.vs.client;
    this.vs.client = undefined;
    this.vs.place = undefined;
    this.vs.seen = undefined;
    await c?.logout();
  }
}
