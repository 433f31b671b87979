/**
 * The `cmdb` step: documents each system in i-doit. The object (a virtual server marked by its SYSID,
 * see marker.ts) usually exists already — the `ip` step created it with its host address; this step
 * fills CPU, memory, drives, operating system, the network port with the MAC (linked to the host
 * address) and the virtual machine → host relation, keeps them in line with the manifest, and archives
 * or purges the object on delete as the lifecycle says. Observe reads every virtual server with all
 * these categories in one round trip.
 */
import {
  UserError,
  type FieldChange,
  type Fields,
  type ObservedResource,
  type Observation,
  type Provider,
  type ProviderContext,
  type Resolved,
  type Capabilities,
  type IdentityFields,
} from '../../engine/contract';
import type { SiteConfig } from '../../manifest/site';
import type { DesiredSystem } from '../../manifest/types';
import type { IdoitCall, IdoitClient } from './client';
import { osMarker, STATUS_NAMES, titleKey, VM_TYPE } from './marker';
import {
  claimObject,
  findSystemObject,
  isObjectGone,
  ownedObject,
  isQuickPurgeOff,
  ownerOf,
  sealClaims,
  readAllStates,
  withSystemObject,
  type ObjectRow,
} from './system-object';
import type { Sealer } from '../../ownership';

export interface CmdbFields extends Fields {
  title: string;
  status: string;
  /** The CMDB status title: the ip step creates the object "planned", this step puts it "in operation". */
  cmdbStatus: string;
  cpu: number;
  memoryMiB: number;
  disksGiB: number[];
  os: string;
  mac: string;
  /** The address the network port links to (the host-address entry the ip step wrote). */
  portIp: string;
  /** Title of the virtual host or cluster object the VM runs on. */
  host: string | null;
}

export interface CmdbHandle {
  objectId: number;
  entries: Record<string, number[]>;
  ipEntry: number | null;
}

export interface CmdbOptions {
  client: IdoitClient;
  site: SiteConfig;
}

export const CMDB_CATEGORIES = [
  'C__CATG__GLOBAL',
  'C__CATG__CPU',
  'C__CATG__MEMORY',
  'C__CATG__DRIVE',
  'C__CATG__OPERATING_SYSTEM',
  'C__CATG__NETWORK_PORT',
  'C__CATG__VIRTUAL_MACHINE',
  'C__CATG__IP',
];
/** Where a VM can run, as i-doit documents it (physical servers are left out: there can be thousands). */
const HOST_TYPES = ['C__OBJTYPE__VIRTUAL_HOST', 'C__OBJTYPE__CLUSTER', 'C__OBJTYPE__HOST'];
const MIB: Record<string, number> = {
  C__MEMORY_UNIT__B: 1 / 1048576,
  C__MEMORY_UNIT__KB: 1 / 1024,
  C__MEMORY_UNIT__MB: 1,
  C__MEMORY_UNIT__GB: 1024,
  C__MEMORY_UNIT__TB: 1048576,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- category entries differ per i-doit version
type Entry = Record<string, any>;
const num = (v: unknown) => (v === null || v === undefined || v === '' ? 0 : Number(v));

export class IdoitCmdbProvider implements Provider<CmdbFields, CmdbHandle> {
  readonly kind = 'cmdb' as const;
  readonly capabilities: Capabilities = { documents: true };
  readonly identity = { ip: 'portIp', mac: 'mac' } satisfies IdentityFields<CmdbFields>;
  private readonly client: IdoitClient;
  private readonly osIds = new Map<string, number>();
  private readonly hostIds = new Map<string, number>();
  /** The site's marker seal, read at observe (undefined: a site without `ownership:`). */
  private sealer: Sealer | undefined;

  constructor(o: CmdbOptions) {
    this.client = o.client;
  }

  desired(system: DesiredSystem, resolved: Resolved): CmdbFields | null {
    const host = resolved.host ?? null;
    return {
      title: system.name,
      status: 'normal',
      cmdbStatus: 'in operation',
      cpu: system.cpu,
      memoryMiB: system.memoryMiB,
      disksGiB: system.disks.map((d) => d.sizeGiB),
      os: system.os,
      mac: resolved.mac || system.network.mac,
      portIp: resolved.ip,
      host,
    };
  }

  diff(system: DesiredSystem, desired: CmdbFields, observed: ObservedResource<CmdbFields, CmdbHandle>): FieldChange[] {
    const f = observed.fields;
    const out: FieldChange[] = [];
    const src = (p: string) => system.sources[p];
    const add = (path: string, from: unknown, to: unknown, source?: string) => {
      const s = source ? src(source) : undefined;
      out.push({ path, from, to, ...(s ? { source: `${s.file}:${s.line}:${s.col}` } : {}) });
    };
    if (f.status !== 'normal') add('status', f.status, 'normal');
    if (f.title !== desired.title) add('title', f.title, desired.title);
    if (f.cmdbStatus !== desired.cmdbStatus) add('cmdbStatus', f.cmdbStatus, desired.cmdbStatus);
    if (f.cpu !== desired.cpu) add('cpu', f.cpu, desired.cpu, 'cpu');
    if (f.memoryMiB !== desired.memoryMiB) add('memoryMiB', f.memoryMiB, desired.memoryMiB, 'memoryMiB');
    if (JSON.stringify(f.disksGiB) !== JSON.stringify(desired.disksGiB))
      add('disksGiB', f.disksGiB, desired.disksGiB, 'disks');
    if (f.os !== desired.os) add('os', f.os || null, desired.os, 'os');
    if (f.mac.toLowerCase() !== desired.mac.toLowerCase())
      add('network.mac', f.mac || null, desired.mac, 'network.mac');
    // UNKNOWN: the ip step allocates an address in this apply (a new net, a moved `auto`): the port follows it.
    // The port can only link the object's host-address entry: on an object holding none, whose port links
    // nothing, the update would write the same empty link, and the change would show on every run.
    const linkable = observed.handle?.ipEntry != null || f.portIp !== '';
    if (f.portIp !== desired.portIp && linkable) add('network.ip', f.portIp || null, desired.portIp);
    // Only a host i-doit knows can be linked; an unknown one would show as a change on every run.
    if (desired.host && f.host !== desired.host && this.hostIds.has(desired.host)) add('host', f.host, desired.host);
    return out;
  }

  async observe(_ctx: ProviderContext): Promise<Observation<CmdbFields, CmdbHandle>> {
    await this.client.info(); // the run's one version check, before the counted observe
    const before = this.client.requestCount;
    const results = await this.client.batchOrThrow([
      ...readAllStates({ type: VM_TYPE }, CMDB_CATEGORIES),
      { method: 'cmdb.objects.read', params: { filter: { type: 'C__OBJTYPE__OPERATING_SYSTEM' } } },
      ...HOST_TYPES.map((type) => ({ method: 'cmdb.objects.read', params: { filter: { type } } })),
    ]);
    for (const os of results[3] as ObjectRow[]) if (!this.osIds.has(os.title)) this.osIds.set(os.title, os.id);
    for (const rows of results.slice(4) as ObjectRow[][])
      for (const h of rows) if (!this.hostIds.has(h.title)) this.hostIds.set(h.title, h.id);
    this.sealer = await this.client.sealer();
    const resources = (results.slice(0, 3) as ObjectRow[][]).flat().map((r) => toResource(r, this.sealer));
    return { resources, roundTrips: this.client.requestCount - before, about: await this.client.about() };
  }

  async create(
    system: DesiredSystem,
    desired: CmdbFields,
    _r: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource<CmdbFields, CmdbHandle>> {
    await withSystemObject(
      this.client,
      system,
      ctx.commit,
      (row) => this.write(toResource(row, this.sealer), desired, null),
      CMDB_CATEGORIES,
    );
    return this.reread(system);
  }

  async update(
    system: DesiredSystem,
    desired: CmdbFields,
    observed: ObservedResource<CmdbFields, CmdbHandle>,
    changes: FieldChange[],
    _r?: Resolved,
    _ctx?: ProviderContext,
  ): Promise<ObservedResource<CmdbFields, CmdbHandle>> {
    this.assertOwned(observed);
    // Entry ids from the run's observation may be stale: the ip step ran since (a new host-address entry),
    // or someone edited the object in the UI. Write against a fresh read of this one object.
    const fresh = await ownedObject(this.client, Number(observed.id), system.name, CMDB_CATEGORIES);
    if (!fresh)
      throw new UserError(
        `i-doit object #${observed.id} of ${system.name} is gone or lost its marker since it was observed; run again.`,
      );
    const now = toResource(fresh, this.sealer);
    const paths = new Set(changes.map((c) => c.path));
    // The ip step may have given the object its host-address entry in this very run (a system declared again,
    // an `auto` address allocated): the port links it now, not one run later. The plan could not show it (diff
    // reports the port only where an entry exists), so the fresh read decides.
    if (now.handle?.ipEntry != null && now.fields.portIp !== desired.portIp) paths.add('network.ip');
    await this.write(now, desired, paths);
    return this.reread(system, fresh.id);
  }

  /**
   * Archive, or purge: delete first (i-doit refuses to delete a deleted object, so only from normal or
   * archived), then purge. Add-on 1.10 purges only with the tenant setting `cmdb.quickpurge`; without
   * it the object stays deleted (a tombstone plans nothing more for it) and the error says what to change.
   */
  async delete(
    system: DesiredSystem,
    observed: ObservedResource<CmdbFields, CmdbHandle>,
    ctx: ProviderContext,
  ): Promise<void> {
    this.assertOwned(observed);
    const object = observed.handle!.objectId;
    const status = observed.fields.status;
    const purge = system.lifecycle.cmdbOnDelete === 'purge';
    const calls: IdoitCall[] = purge
      ? [
          ...(status !== 'deleted' ? [{ method: 'cmdb.object.delete', params: { object } }] : []),
          { method: 'cmdb.object.purge', params: { object } },
        ]
      : status === 'normal'
        ? [{ method: 'cmdb.object.archive', params: { object } }]
        : [];
    const results = await this.client.batch(calls);
    for (const r of results) {
      if (r.ok || isObjectGone(r.error)) continue;
      if (isQuickPurgeOff(r.error)) {
        throw new UserError(
          `i-doit did not purge object #${object} (${system.name}): its API add-on purges only with the tenant setting ` +
            '"cmdb.quickpurge" (Administration → System settings → Quickpurge) switched on. The object is marked deleted and shipshape ' +
            'leaves it so; switch the setting on and purge it in i-doit, or use lifecycle.cmdbOnDelete: archive.',
        );
      }
      throw r.error;
    }
    ctx.log.info({ system: system.name, object, action: system.lifecycle.cmdbOnDelete }, 'i-doit object removed');
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private assertOwned(observed: ObservedResource<CmdbFields, CmdbHandle>): void {
    if (!observed.owned)
      throw new UserError(
        `i-doit object #${observed.id} "${observed.system}" carries no shipshape marker; shipshape does not change it.`,
      );
  }

  /**
   * `shipshape adopt`: the object of the system's name becomes the system's (its claim). What it
   * does not document yet (CPU, memory, drives, …) is written by the update the plan shows after it.
   */
  async adopt(
    system: DesiredSystem,
    observed: ObservedResource<CmdbFields, CmdbHandle>,
    _r: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource<CmdbFields, CmdbHandle>> {
    return toResource(
      await claimObject(this.client, Number(observed.id), system, ctx.commit, CMDB_CATEGORIES),
      this.sealer,
    );
  }

  /** `shipshape ownership seal`: seals the unsealed claims of `systems` (system-object.ts). */
  sealMarkers(_ctx: ProviderContext, systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }> {
    return sealClaims(this.client, systems);
  }

  private async reread(system: DesiredSystem, id?: number): Promise<ObservedResource<CmdbFields, CmdbHandle>> {
    const row = id
      ? await ownedObject(this.client, id, system.name, CMDB_CATEGORIES)
      : await findSystemObject(this.client, system.name, CMDB_CATEGORIES);
    if (!row) throw new UserError(`i-doit object for ${system.name} vanished while it was being written; run again.`);
    return toResource(row, this.sealer);
  }

  /** The OS object by title; created (and marked) when i-doit has none yet. */
  private async osId(title: string): Promise<number> {
    const known = this.osIds.get(title);
    if (known) return known;
    const rows = await this.client.call<ObjectRow[]>('cmdb.objects.read', {
      filter: { type: 'C__OBJTYPE__OPERATING_SYSTEM', title },
    });
    let id = rows.filter((r) => r.title === title).sort((a, b) => a.id - b.id)[0]?.id;
    if (!id) {
      const mine = (
        await this.client.call<{ id: number }>('cmdb.object.create', {
          type: 'C__OBJTYPE__OPERATING_SYSTEM',
          title,
          sysid: osMarker(title),
        })
      ).id;
      // Two runs may both have created it (titles and SYSIDs are not unique): the lowest id wins, ours goes if it lost.
      const again = await this.client.call<ObjectRow[]>('cmdb.objects.read', {
        filter: { type: 'C__OBJTYPE__OPERATING_SYSTEM', title },
      });
      id =
        again
          .filter((r) => r.title === title)
          .map((r) => Number(r.id))
          .sort((a, b) => a - b)[0] ?? mine;
      if (id !== mine) await this.client.batch([{ method: 'cmdb.object.purge', params: { object: mine } }]);
    }
    this.osIds.set(title, id);
    return id;
  }

  /** One batch with every category write `paths` needs (all when null). */
  private async write(
    current: ObservedResource<CmdbFields, CmdbHandle>,
    d: CmdbFields,
    paths: Set<string> | null,
  ): Promise<void> {
    const h = current.handle!;
    const object = h.objectId;
    const want = (p: string) => paths === null || paths.has(p);
    const calls: IdoitCall[] = [];
    const save = (category: string, data: Record<string, unknown>, entry?: number) =>
      calls.push({ method: 'cmdb.category.save', params: { object, category, data, ...(entry ? { entry } : {}) } });
    const purgeFrom = (category: string, keep: number) =>
      (h.entries[category] ?? [])
        .slice(keep)
        .forEach((entry) => calls.push({ method: 'cmdb.category.purge', params: { object, category, entry } }));
    /** Multi-value categories: update the entries we have in order, add missing ones, purge the rest. */
    const saveList = (category: string, list: Record<string, unknown>[]) => {
      list.forEach((data, i) => save(category, data, h.entries[category]?.[i]));
      purgeFrom(category, list.length);
    };

    if (current.fields.status !== 'normal' && want('status'))
      calls.push({ method: 'cmdb.object.recycle', params: { object } });
    if (want('title') && current.fields.title !== d.title)
      calls.push({ method: 'cmdb.object.update', params: { id: object, title: d.title } });
    if (want('cmdbStatus')) save('C__CATG__GLOBAL', { cmdb_status: 'C__CMDB_STATUS__IN_OPERATION' });
    if (want('cpu')) saveList('C__CATG__CPU', [{ title: 'vCPU', cores: d.cpu }]);
    if (want('memoryMiB')) {
      const gb = d.memoryMiB % 1024 === 0;
      saveList('C__CATG__MEMORY', [
        { capacity: gb ? d.memoryMiB / 1024 : d.memoryMiB, unit: gb ? 'C__MEMORY_UNIT__GB' : 'C__MEMORY_UNIT__MB' },
      ]);
    }
    // `disks`: the path a plan saved by an earlier version gives this change.
    if (want('disksGiB') || want('disks'))
      saveList(
        'C__CATG__DRIVE',
        d.disksGiB.map((size, i) => ({ title: `Disk ${i + 1}`, capacity: size, unit: 'C__MEMORY_UNIT__GB' })),
      );
    // Single-value in i-doit 1.12 (add-ons up to 1.14.0 refuse an `entry` for it, later ones ignore it); saved
    // without `entry` it updates the one entry, and on an i-doit where it is multi-value the extra entries are purged below.
    if (want('os') && d.os) save('C__CATG__OPERATING_SYSTEM', { application: await this.osId(d.os) });
    if (want('network.mac') || want('network.ip')) {
      saveList('C__CATG__NETWORK_PORT', [
        { title: 'eth0', mac: d.mac, active: 1, addresses: h.ipEntry ? [h.ipEntry] : null },
      ]);
    }
    const hostId = d.host ? this.hostIds.get(d.host) : undefined;
    // "VMWare ESX" is in i-doit's default list: a title that is not would add a Dialog+ value.
    if (want('host') || paths === null)
      save('C__CATG__VIRTUAL_MACHINE', {
        virtual_machine: 2,
        system: 'VMWare ESX',
        ...(hostId ? { hosts: hostId } : {}),
      });
    if (calls.length) await this.client.batchOrThrow(calls);
    if (want('os') && d.os) {
      const os = await this.client.call<Entry[]>('cmdb.category.read', {
        objID: object,
        category: 'C__CATG__OPERATING_SYSTEM',
      });
      const newest = Math.max(...os.map((e) => Number(e.id)));
      const extra = os.filter((e) => Number(e.id) !== newest);
      if (extra.length)
        await this.client.batchOrThrow(
          extra.map((e) => ({
            method: 'cmdb.category.purge',
            params: { object, category: 'C__CATG__OPERATING_SYSTEM', entry: Number(e.id) },
          })),
        );
    }
  }
}

function portAddress(port: Entry | undefined): string {
  const first = Array.isArray(port?.addresses) ? port.addresses[0] : undefined;
  const ip = first?.title ?? first?.ref_title;
  return typeof ip === 'string' ? ip : '';
}

function toResource(row: ObjectRow, sealer: Sealer | undefined): ObservedResource<CmdbFields, CmdbHandle> {
  const c = (k: string) =>
    ((row.categories?.[k] ?? []) as Entry[])
      .filter((e) => typeof e === 'object')
      .sort((a, b) => Number(a.id) - Number(b.id));
  const cpu = c('C__CATG__CPU').reduce((n, e) => n + (num(e.cores) || 1), 0);
  const memoryMiB = Math.round(
    c('C__CATG__MEMORY').reduce((n, e) => n + num(e.capacity?.title) * (MIB[e.unit?.const] ?? 1), 0),
  );
  const disksGiB = c('C__CATG__DRIVE').map(
    (e) => Math.round(((num(e.capacity?.title) * (MIB[e.unit?.const] ?? 1024)) / 1024) * 1000) / 1000,
  );
  const port = c('C__CATG__NETWORK_PORT')[0];
  const ips = c('C__CATG__IP');
  const ip = ips.find((e) => String(e.primary?.value) === '1') ?? ips[0];
  const owner = ownerOf(row, sealer);
  const entries: Record<string, number[]> = {};
  for (const k of CMDB_CATEGORIES) entries[k] = c(k).map((e) => Number(e.id));
  return {
    kind: 'cmdb',
    system: owner ?? titleKey(row.title),
    id: String(row.id),
    owned: owner !== null,
    fields: {
      title: row.title,
      status: STATUS_NAMES[row.status] ?? String(row.status),
      cmdbStatus: row.cmdb_status_title ?? '',
      cpu,
      memoryMiB,
      disksGiB,
      os: c('C__CATG__OPERATING_SYSTEM')[0]?.application?.title ?? '',
      mac: port?.mac ?? '',
      // i-doit reads a port's addresses as [{id, title: <IP>, hostname, type}] (no ref_title).
      portIp: portAddress(port),
      host: c('C__CATG__VIRTUAL_MACHINE')[0]?.hosts?.title ?? null,
    },
    handle: { objectId: row.id, entries, ipEntry: ip ? Number(ip.id) : null } satisfies CmdbHandle,
    // Archived or deleted (status 3/4) is where a tombstone leaves the object: not deleted again every run.
    ...(row.status === 3 || row.status === 4 ? { retired: true } : {}),
  };
}
