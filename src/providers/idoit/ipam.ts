/**
 * The `ip` step: i-doit as IPAM. `ip: auto` takes the next free address of the system's layer-3 net,
 * an explicit address is checked the same way. Race-safe without locks in i-doit: allocations are
 * serialised per net inside the process, and every write is verified by reading the net's IP list
 * back; when two objects hold one address, the later writer (higher IP-list entry id) gives it up
 * and takes the next free one.
 */
import {
  TransientError,
  UNKNOWN,
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
import type { NetSite, SiteConfig } from '../../manifest/site';
import { formatSource, type DesiredSystem } from '../../manifest/types';
import { setAt } from '../../manifest/site-keys';
import type { IdoitClient } from './client';
import { IdoitError } from './errors';
import { intToIp, parseCidr } from '../../net/ipv4';
import { STATUS_NAMES, titleKey, VM_TYPE } from './marker';
import { firstFree, ipListHolders, netReads, netView, refusal, type Declared, type NetView } from './net';
import { Refusal } from '../../engine/refusals';
import {
  assertNotReleased,
  claimObject,
  isObjectGone,
  isQuickPurgeOff,
  ownerOf,
  readAllStates,
  withSystemObject,
  type ObjectRow,
} from './system-object';
import type { Sealer } from '../../ownership';

export interface IpFields extends Fields {
  net: string;
  /** 'auto' in desired fields; the held address in observed ones. */
  ip: string;
  hostname: string;
  domain: string;
  status: string;
}

export interface IpHandle {
  objectId: number;
  entryId: number | null;
  /**
   * Other host addresses shipshape wrote on the object (same hostname): what a move interrupted between
   * taking the new address and releasing the old one left. The next update releases them.
   */
  leftover?: { entryId: number; ip: string }[];
}

export interface IpamOptions {
  client: IdoitClient;
  site: SiteConfig;
  /** Give up after this many lost races or refused writes in a row (default 64). */
  maxAttempts?: number;
  /**
   * Every system the repo declares: `ip: auto` never takes an address another manifest declares
   * explicitly, whatever order the systems are applied in.
   */
  systems?: readonly DesiredSystem[];
  /**
   * A shard's run (`--shard`): its name, and the site's systems of other shards → their shard. An
   * address held by one of those is freed by that shard's run, which the refusal names.
   */
  shard?: { name: string; of: Readonly<Record<string, string>> };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- category entries differ per i-doit version
type HostEntry = Record<string, any>;

export class IdoitIpamProvider implements Provider<IpFields, IpHandle> {
  readonly kind = 'ip' as const;
  readonly capabilities: Capabilities = { allocates: true };
  readonly identity = { ip: 'ip' } satisfies IdentityFields<IpFields>;
  private readonly client: IdoitClient;
  private readonly site: SiteConfig;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly netIds = new Map<string, number>();
  /** Per net title: explicit addresses of present systems. */
  private readonly declared = new Map<string, Declared>();
  /** `net|ip` → the virtual server holding it, from the last observe (plans show collisions from it). */
  private readonly seenHolders = new Map<string, { id: string; title: string; system: string | null }>();
  /** The site's marker seal, read at observe (undefined: a site without `ownership:`). */
  private sealer: Sealer | undefined;
  /**
   * Per net title, from the last observe: the free addresses it has for the systems that need one
   * (`ip: auto` without an address there), and the systems the plan gave one so far, in plan order.
   */
  private readonly room = new Map<string, Room>();
  /** Systems the plan blocks in another step: they take none of a net's free addresses (leaveOut). */
  private leftOut = new Set<string>();
  /** Every layer-3 net in i-doit by title, with the ids of the objects of that title, from the last observe (undefined before one). */
  private netTitles: Map<string, number[]> | undefined;

  constructor(private readonly o: IpamOptions) {
    this.client = o.client;
    this.site = o.site;
    for (const s of o.systems ?? []) {
      if (s.state !== 'present' || s.network.ip === 'auto') continue;
      const m = this.declared.get(s.network.net) ?? new Map();
      m.set(s.network.ip, { system: s.name, file: s.file });
      this.declared.set(s.network.net, m);
    }
  }

  desired(system: DesiredSystem): IpFields | null {
    return {
      net: system.network.net,
      ip: system.network.ip,
      hostname: system.name,
      domain: system.dns.domain,
      status: 'normal',
    };
  }

  diff(system: DesiredSystem, desired: IpFields, observed: ObservedResource<IpFields, IpHandle>): FieldChange[] {
    const f = observed.fields;
    const out: FieldChange[] = [];
    if (f.status !== 'normal') out.push({ path: 'status', from: f.status, to: 'normal' });
    const claimant = desired.ip === 'auto' && f.ip ? this.declared.get(desired.net)?.get(f.ip) : undefined;
    // An address from `ip: auto` this update takes: refused when the net has none left for it.
    const full = () => (desired.ip === 'auto' && observed.owned ? this.foreseeRoom(system) : undefined);
    const refusedFull = (why: string | undefined) => (why ? { refused: why, refusal: 'net-full' as const } : {});
    const noNet = f.net !== desired.net && observed.owned ? this.foreseeNet(system, desired.net) : undefined;
    if (noNet) out.push({ ...noNet, from: f.net || null });
    else if (f.net !== desired.net) {
      out.push({ path: 'network.net', from: f.net || null, to: desired.net, ...refusedFull(full()) });
      if (desired.ip !== 'auto') out.push(this.explicitChange(f.ip, desired, observed.id, system.name));
    } else if (desired.ip !== 'auto' && f.ip !== desired.ip)
      out.push(this.explicitChange(f.ip, desired, observed.id, system.name));
    else if (!f.ip)
      out.push({
        path: 'network.ip',
        from: null,
        to: desired.ip === 'auto' ? UNKNOWN : desired.ip,
        ...refusedFull(full()),
      });
    else if (claimant && claimant.system !== system.name) {
      // An address `auto` took before its owner declared it: this system moves, the declaring one gets it next run.
      out.push({ path: 'network.ip', from: f.ip, to: UNKNOWN, ...refusedFull(full()) });
    }
    // An address taken in a net whose title i-doit has twice (a move within it too): the allocation refuses it.
    const twice = observed.owned ? this.foreseeNet(system, desired.net) : undefined;
    if (twice?.refusal === 'net-ambiguous')
      for (const [i, c] of out.entries())
        if ((c.path === 'network.ip' || c.path === 'network.net') && !c.refused) {
          const { after: _after, ...rest } = c;
          out[i] = { ...rest, refused: twice.refused!, refusal: 'net-ambiguous' };
        }
    const leftover = observed.handle?.leftover ?? [];
    if (leftover.length) out.push({ path: 'leftover', from: leftover.map((l) => l.ip).join(', '), to: null });
    if (f.hostname !== desired.hostname) out.push({ path: 'name', from: f.hostname, to: desired.hostname });
    if (f.domain !== desired.domain) out.push({ path: 'dns.domain', from: f.domain, to: desired.domain });
    return out;
  }

  async observe(_ctx: ProviderContext): Promise<Observation<IpFields, IpHandle>> {
    await this.client.info(); // the run's one version check, before the counted observe
    const start = this.client.requestCount;
    const results = await this.client.batchOrThrow([
      ...readAllStates({ type: VM_TYPE }, ['C__CATG__GLOBAL', 'C__CATG__IP']),
      { method: 'cmdb.objects.read', params: { filter: { type: 'C__OBJTYPE__LAYER3_NET' } } },
    ]);
    this.netTitles = new Map();
    for (const net of results[3] as ObjectRow[])
      this.netTitles.set(net.title, [...(this.netTitles.get(net.title) ?? []), net.id]);
    for (const [title, ids] of this.netTitles) {
      // A title two nets share names neither for sure: the allocation looks it up again and refuses it.
      if (ids.length === 1) this.netIds.set(title, ids[0]!);
      else this.netIds.delete(title);
    }
    this.seenHolders.clear();
    this.sealer = await this.client.sealer();
    const rows = (results.slice(0, 3) as ObjectRow[][]).flat();
    for (const row of rows) {
      for (const e of (row.categories?.C__CATG__IP ?? []) as HostEntry[]) {
        const ip = e?.ipv4_address?.ref_title;
        if (typeof ip === 'string' && ip)
          this.seenHolders.set(`${String(e.net?.title ?? '')}|${ip}`, {
            id: String(row.id),
            title: row.title,
            system: ownerOf(row, this.sealer),
          });
      }
    }
    const resources = rows.map((row) => this.toResource(row, (row.categories?.C__CATG__IP ?? []) as HostEntry[]));
    await this.readRoom(resources);
    return { resources, roundTrips: this.client.requestCount - start, about: await this.client.about() };
  }

  /**
   * The nets where a system needs an address from `ip: auto` (none held there yet, or one another
   * manifest declares), read as allocation reads them (net.ts) in one more round trip for all of them,
   * only when there are such nets: the plan counts their free addresses against the systems asking.
   */
  private async readRoom(resources: ObservedResource<IpFields, IpHandle>[]): Promise<void> {
    this.room.clear();
    this.leftOut = new Set();
    const held = new Map<string, ObservedResource<IpFields, IpHandle>>();
    for (const r of resources) if (r.owned && !held.has(r.system)) held.set(r.system, r);
    const asking = new Map<string, number>();
    for (const s of this.o.systems ?? []) {
      if (s.state !== 'present' || s.network.ip !== 'auto') continue;
      const f = held.get(s.name)?.fields;
      if (f && f.net === s.network.net && f.ip && !this.claimedByOther(s, f.ip)) continue;
      asking.set(s.network.net, (asking.get(s.network.net) ?? 0) + 1);
    }
    const nets = [...asking.keys()].filter((n) => this.netIds.has(n));
    if (!nets.length) return;
    const ids = nets.map((n) => this.netIds.get(n)!);
    const reads = ids.flatMap((id) => netReads(id));
    // The archived and deleted objects' reads are the same for every net: asked once.
    const [archived, deleted] = reads.slice(3, 5);
    const calls = [...ids.flatMap((id) => netReads(id).slice(0, 3)), archived!, deleted!];
    const results = await this.client.batchOrThrow(calls);
    const retired = results.slice(-2);
    nets.forEach((net, i) => {
      const site = this.siteNet(net);
      let view: NetView;
      try {
        view = netView(ids[i]!, net, site, [...results.slice(i * 3, i * 3 + 3), ...retired]);
      } catch {
        return; // a net apply refuses for what it is (not IPv4, another CIDR) says so itself; nothing to count
      }
      const reserved = new Set(site?.reserved ?? []);
      const free = countFree(view, reserved, asking.get(net)!, site?.gateway, this.declared.get(net));
      this.room.set(net, { view, reserved, free, takers: [] });
    });
  }

  /**
   * Systems another step blocks take no address: when one of them was given one of a net's last
   * addresses while another system was refused, the addresses are handed out again without them.
   */
  leaveOut(systems: ReadonlySet<string>): boolean {
    const frees = [...this.room.values()].some(
      (r) => r.takers.length > r.free && r.takers.slice(0, r.free).some((t) => systems.has(t)),
    );
    if (!frees) return false;
    this.leftOut = new Set([...this.leftOut, ...systems]);
    for (const r of this.room.values()) r.takers = [];
    return true;
  }

  /**
   * A net i-doit does not have, or has twice under one title (observe read every layer-3 net's title
   * and id): the allocation refuses either.
   */
  private foreseeNet(system: DesiredSystem, net: string): FieldChange | undefined {
    const ids = this.netTitles?.get(net);
    if (!this.netTitles || ids?.length === 1) return undefined;
    if (!ids)
      return { path: 'network.net', from: null, to: net, refused: netMissing(system, net), refusal: 'net-missing' };
    return {
      path: 'network.net',
      from: null,
      to: net,
      refused: netAmbiguous(system, net, ids),
      refusal: 'net-ambiguous',
    };
  }

  /**
   * Whether `system` gets one of its net's free addresses in this plan (undefined), or the refusal
   * apply would give it: the net's free addresses go to the systems asking in plan order, once each.
   */
  private foreseeRoom(system: DesiredSystem): string | undefined {
    const room = this.room.get(system.network.net);
    if (!room || this.leftOut.has(system.name)) return undefined;
    let at = room.takers.indexOf(system.name);
    if (at < 0) at = room.takers.push(system.name) - 1;
    if (at < room.free) return undefined;
    return fullNetMessage(room.view, room.reserved, this.site, system, room.takers.slice(0, room.free));
  }

  async create(
    system: DesiredSystem,
    desired: IpFields,
    _r: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource<IpFields, IpHandle>> {
    return withSystemObject(this.client, system, ctx.commit, async (obj) => {
      if (obj.status !== 2) await this.client.call('cmdb.object.recycle', { object: obj.id });
      const entry = await this.allocate(obj.id, desired, false, system);
      return this.toResource({ ...obj, status: 2 }, [entry]);
    });
  }

  /** `shipshape adopt`: the object holding the system's address becomes the system's (its claim); the address stays. */
  async adopt(
    system: DesiredSystem,
    observed: ObservedResource<IpFields, IpHandle>,
    _r: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource<IpFields, IpHandle>> {
    const row = await claimObject(this.client, Number(observed.id), system, ctx.commit, ['C__CATG__IP']);
    return this.toResource(row, (row.categories?.C__CATG__IP ?? []) as HostEntry[]);
  }

  /**
   * The change an explicit address needs: refused (so the plan shows it) when apply would refuse it;
   * `after` the declared system holding it when this plan moves that one off it first.
   */
  private explicitChange(from: string, desired: IpFields, objectId: string, self: string): FieldChange {
    const foreseen = this.foreseeAddress(desired, objectId, self);
    return {
      path: 'network.ip',
      from: from || null,
      to: desired.ip,
      ...(foreseen?.refused ? { refused: foreseen.refused, refusal: 'address-held' as const } : {}),
      ...(foreseen?.after ? { after: foreseen.after, refusal: 'address-held' as const } : {}),
    };
  }

  foreseeCreate(system: DesiredSystem, desired: IpFields): FieldChange[] {
    const noNet = this.foreseeNet(system, desired.net);
    if (noNet) return [noNet];
    if (desired.ip === 'auto') {
      const why = this.foreseeRoom(system);
      return why ? [{ path: 'network.ip', from: null, to: UNKNOWN, refused: why, refusal: 'net-full' }] : [];
    }
    const change = this.explicitChange('', desired, '', system.name);
    return change.refused || change.after ? [change] : [];
  }

  /**
   * What apply's allocation (`refusal` in net.ts) would say about an explicit address, from the
   * observation: the holders of every virtual server read by observe, the net, gateway and reserved
   * addresses of shipshape.yaml, and the other manifests' explicit addresses. Not seen here (apply
   * still checks them): the i-doit net's own range and DHCP ranges, and objects of other types.
   * An address held by another declared system that the manifests move off it is no refusal: the
   * claim waits for that system's ip step (`after`).
   */
  private foreseeAddress(
    desired: IpFields,
    objectId: string,
    self: string,
  ): { refused?: string; after?: string } | undefined {
    const holder = this.seenHolders.get(`${desired.net}|${desired.ip}`);
    if (holder && holder.id !== objectId) {
      if (holder.system && holder.system !== self && this.movesOff(holder.system, desired.net, desired.ip))
        return { after: holder.system };
      const away = holder.system && this.o.shard && Object.hasOwn(this.o.shard.of, holder.system);
      if (away) {
        // Shards own nets, so its manifest has it in another net (or retired): that shard's run frees the address.
        const theirs = this.o.shard!.of[holder.system!]!;
        return {
          refused: `${desired.ip} is held by ${holder.system} (${holder.title === holder.system ? '' : `"${holder.title}", `}#${holder.id} in i-doit), a system of shard ${theirs} whose manifest moves it off this address: run shard ${theirs} first (\`shipshape apply --shard ${theirs}\`), then shard ${this.o.shard!.name} again`,
        };
      }
      return {
        refused: `${desired.ip} is held by "${holder.title}" (#${holder.id}) in i-doit; free it there or choose another address`,
      };
    }
    const site = this.siteNet(desired.net);
    const cidr = site ? parseCidr(site.cidr) : null;
    if (!site || !cidr) return undefined;
    const view: NetView = {
      id: 0,
      title: desired.net,
      cidr,
      from: cidr.network + 1,
      to: cidr.broadcast - 1,
      gateway: site.gateway ?? null,
      dhcp: [],
      holders: new Map(),
    };
    const why = refusal(
      view,
      desired.ip,
      Number(objectId) || -1,
      new Set(site.reserved ?? []),
      site.gateway,
      this.declared.get(desired.net),
      self,
    );
    return why ? { refused: `network.ip ${desired.ip} ${why.reason}; choose another address or ip: auto` } : undefined;
  }

  /**
   * Does declared system `name` give up the address `desired` asks for in this run? Its tombstone
   * releases it; `ip: auto` never keeps an address another manifest declares (diff moves it to the
   * next free one, never to a declared one); an explicit address elsewhere, or another net, moves it.
   */
  private movesOff(name: string, net: string, ip: string): boolean {
    const s = (this.o.systems ?? []).find((x) => x.name === name);
    if (!s) return false;
    if (s.state === 'absent') return true;
    return s.network.net !== net || s.network.ip === 'auto' || s.network.ip !== ip;
  }

  /** The declared system still holding `system`'s explicit address, which moves off it first (see foreseeAddress). */
  private heldBy(system: DesiredSystem): string | undefined {
    const { net, ip } = system.network;
    const h = this.seenHolders.get(`${net}|${ip}`);
    return h?.system && h.system !== system.name && this.movesOff(h.system, net, ip) ? h.system : undefined;
  }

  async update(
    system: DesiredSystem,
    desired: IpFields,
    observed: ObservedResource<IpFields, IpHandle>,
    changes: FieldChange[],
    _r: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource<IpFields, IpHandle>> {
    this.assertOwned(observed);
    const h = observed.handle!;
    if (observed.fields.status !== 'normal') await this.client.call('cmdb.object.recycle', { object: h.objectId });
    const moves = changes.some((c) => c.path === 'network.net' || c.path === 'network.ip');
    let entry: HostEntry;
    if (moves || h.entryId === null) {
      // New address first, old one released after: the system is never without one.
      entry = await this.allocate(h.objectId, desired, h.entryId ?? false, system);
      if (h.entryId !== null && h.entryId !== Number(entry.id)) {
        await this.client.call('cmdb.category.purge', {
          object: h.objectId,
          category: 'C__CATG__IP',
          entry: h.entryId,
        });
      }
    } else {
      await this.client.call('cmdb.category.save', {
        object: h.objectId,
        category: 'C__CATG__IP',
        entry: h.entryId,
        data: { hostname: desired.hostname, domain: desired.domain },
      });
      entry = (
        await this.client.call<HostEntry[]>('cmdb.category.read', { objID: h.objectId, category: 'C__CATG__IP' })
      ).find((e) => Number(e.id) === h.entryId)!;
    }
    // What an interrupted move left (its new address became `entry` if it was acceptable): released now.
    for (const l of h.leftover ?? []) {
      if (l.entryId === Number(entry?.id)) continue;
      await this.client.call('cmdb.category.purge', { object: h.objectId, category: 'C__CATG__IP', entry: l.entryId });
    }
    ctx.log.info({ system: system.name, ip: entry?.ipv4_address?.ref_title }, 'i-doit host address updated');
    return this.toResource(
      { id: h.objectId, title: system.name, sysid: '', status: 2 },
      entry ? [entry] : [],
      system.name,
    );
  }

  /** Releases the address: purges the host-address entry (the object itself is the cmdb step's). */
  async delete(
    _system: DesiredSystem,
    observed: ObservedResource<IpFields, IpHandle>,
    _ctx?: ProviderContext,
  ): Promise<void> {
    this.assertOwned(observed);
    const h = observed.handle!;
    if (h.entryId === null) return;
    try {
      await this.client.call('cmdb.category.purge', { object: h.objectId, category: 'C__CATG__IP', entry: h.entryId });
    } catch (e) {
      // Already gone with a purged object or entry: the address is free, which is what we wanted.
      if (
        isObjectGone(e) ||
        (e instanceof IdoitError &&
          e.code === -32602 &&
          /Unable to find entry|does not own an entry/.test(e.idoitMessage))
      )
        return;
      if (isQuickPurgeOff(e)) {
        throw new UserError(
          `i-doit did not purge the host address of object #${h.objectId} (${observed.system}): its API add-on purges only with the tenant setting "cmdb.quickpurge" switched on; shipshape keeps the address reserved until it is purged.`,
        );
      }
      throw e;
    }
  }

  resolve(
    system: DesiredSystem,
    observed: ObservedResource<IpFields, IpHandle> | undefined,
    resolved: Resolved,
  ): Resolved {
    const net = this.siteNet(system.network.net);
    const cidr = net ? parseCidr(net.cidr) : null;
    // An explicit address is what later steps get, also while the IPAM still holds the old one: the
    // plan then shows DNS, DHCP and the CMDB moving with it, and one apply converges.
    const held =
      observed?.fields.ip &&
      observed.fields.net === system.network.net &&
      !this.claimedByOther(system, observed.fields.ip)
        ? observed.fields.ip
        : undefined;
    const ip = system.network.ip !== 'auto' ? system.network.ip : (held ?? UNKNOWN);
    // Not holding its explicit address yet, and another system still does (it moves off it first).
    const heldBy = ip !== UNKNOWN && observed?.fields.ip !== ip ? this.heldBy(system) : undefined;
    const { heldBy: _was, ...rest } = resolved;
    return {
      ...rest,
      ...(heldBy ? { heldBy } : {}),
      ip,
      ...(cidr ? { prefixLength: cidr.prefix } : {}),
      ...(net?.gateway ? { gateway: net.gateway } : {}),
    };
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** An address `auto` took that another manifest now declares: this system moves (see diff). */
  private claimedByOther(system: DesiredSystem, ip: string): boolean {
    if (system.network.ip !== 'auto') return false;
    const claimant = this.declared.get(system.network.net)?.get(ip);
    return !!claimant && claimant.system !== system.name;
  }

  private assertOwned(observed: ObservedResource<IpFields, IpHandle>): void {
    if (!observed.owned)
      throw new Refusal(
        'not-owned',
        `i-doit object #${observed.id} "${observed.system}" carries no shipshape marker; shipshape does not change it.`,
      );
  }

  private siteNet(title: string): NetSite | undefined {
    return this.site.nets[title] ?? Object.values(this.site.nets).find((n) => n.title === title);
  }

  private toResource(
    row: ObjectRow,
    entries: HostEntry[],
    owner: string | null = ownerOf(row, this.sealer),
  ): ObservedResource<IpFields, IpHandle> {
    entries = entries.filter((x) => typeof x === 'object' && x !== null);
    const e = entries.find((x) => String(x.primary?.value) === '1') ?? entries[0];
    const leftover = entries
      .filter((x) => x !== e && e?.hostname && x.hostname === e.hostname && x.ipv4_address?.ref_title)
      .map((x) => ({ entryId: Number(x.id), ip: String(x.ipv4_address.ref_title) }));
    return {
      kind: 'ip',
      system: owner ?? titleKey(row.title),
      id: String(row.id),
      owned: owner !== null,
      fields: {
        net: e?.net?.title ?? '',
        ip: e?.ipv4_address?.ref_title ?? '',
        hostname: e?.hostname ?? '',
        domain: e?.domain ?? '',
        status: STATUS_NAMES[row.status] ?? String(row.status),
      },
      handle: {
        objectId: row.id,
        entryId: e ? Number(e.id) : null,
        ...(leftover.length ? { leftover } : {}),
      } satisfies IpHandle,
      // No host address: nothing left to release for a tombstone.
      ...(e ? {} : { retired: true }),
    };
  }

  private async netId(title: string, system: DesiredSystem): Promise<number> {
    const known = this.netIds.get(title);
    if (known) return known;
    const rows = await this.client.call<ObjectRow[]>('cmdb.objects.read', {
      filter: { type: 'C__OBJTYPE__LAYER3_NET', title },
    });
    // The title filter is SQL LIKE: compare exactly here.
    const exact = rows.filter((r) => r.title === title);
    if (exact.length === 0) throw new Refusal('net-missing', netMissing(system, title));
    if (exact.length !== 1)
      throw new Refusal(
        'net-ambiguous',
        netAmbiguous(
          system,
          title,
          exact.map((r) => r.id),
        ),
      );
    this.netIds.set(title, exact[0]!.id);
    return exact[0]!.id;
  }

  /** Runs allocations of one net one after the other inside this process. */
  private serialised<T>(net: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(net) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.queues.set(
      net,
      next.catch(() => undefined),
    );
    return next;
  }

  /** `replace`: the entry a move replaces (false: none), never reused; another acceptable entry of the object is. */
  private allocate(
    objectId: number,
    desired: IpFields,
    replace: number | false,
    system: DesiredSystem,
  ): Promise<HostEntry> {
    return this.serialised(desired.net, () => this.allocateNow(objectId, desired, replace, system));
  }

  private async allocateNow(
    objectId: number,
    desired: IpFields,
    replace: number | false,
    system: DesiredSystem,
  ): Promise<HostEntry> {
    const self = system.name;
    const netId = await this.netId(desired.net, system);
    const site = this.siteNet(desired.net);
    const reserved = new Set(site?.reserved ?? []);
    const explicit = desired.ip === 'auto' ? null : desired.ip;
    const declared = this.declared.get(desired.net);
    const lost = new Set<string>();
    const ownRead = { method: 'cmdb.category.read', params: { objID: objectId, category: 'C__CATG__IP' } };
    const generalRead = { method: 'cmdb.category.read', params: { objID: objectId, category: 'C__CATG__GLOBAL' } };
    for (let attempt = 1; attempt <= (this.o.maxAttempts ?? 64); attempt++) {
      const reads = await this.client.batchOrThrow([...netReads(netId), ownRead, generalRead]);
      // A racing run may have released this object as its duplicate: then the caller adopts the winner.
      assertNotReleased(objectId, reads.pop());
      const own = reads.pop();
      const view = netView(netId, desired.net, site, reads);
      const mine = (own as HostEntry[]).filter((e) => Number(e.net?.id) === netId);
      // Idempotent: a rerun finds the address the system already holds.
      // A move interrupted after taking its new address finds it again (no second one, none left behind).
      const reuse = explicit
        ? mine.find((e) => e.ipv4_address?.ref_title === explicit)
        : replace !== false
          ? mine.find(
              (e) =>
                Number(e.id) !== replace &&
                !refusal(view, String(e.ipv4_address?.ref_title), objectId, reserved, site?.gateway, declared, self),
            )
          : mine[0];
      if (reuse) return reuse;
      const ip = explicit ?? firstFree(view, objectId, reserved, lost, site?.gateway, declared, self);
      if (!ip) throw new Refusal('net-full', fullNetMessage(view, reserved, this.site, system));
      if (explicit) {
        const why = refusal(view, explicit, objectId, reserved, site?.gateway, declared, self);
        if (why)
          throw new Refusal(
            'address-held',
            `network.ip ${explicit} ${why.reason}; choose another address or ip: auto.`,
          );
      }
      const saved = await this.write(objectId, netId, ip, desired);
      if (saved === 'taken') {
        if (explicit)
          throw new Refusal(
            'address-held',
            `network.ip ${explicit} in net "${desired.net}" was just taken by another object in i-doit; choose another address or ip: auto.`,
          );
        lost.add(ip);
        continue;
      }
      if (await this.verify(objectId, netId, ip, saved)) {
        const mineNow = (
          await this.client.call<HostEntry[]>('cmdb.category.read', { objID: objectId, category: 'C__CATG__IP' })
        )
          .filter((e) => Number(e.net?.id) === netId)
          .sort((a, b) => Number(a.id) - Number(b.id));
        // Another run allocated for the same object at the same moment: the earlier entry stays, ours goes.
        const earlier = replace !== false || explicit ? undefined : mineNow.find((e) => Number(e.id) < saved);
        if (earlier) {
          await this.client.call('cmdb.category.purge', { object: objectId, category: 'C__CATG__IP', entry: saved });
          return earlier;
        }
        const own = mineNow.find((e) => Number(e.id) === saved);
        // Gone with its object: a racing run released the object as a duplicate (the caller adopts the winner).
        if (!own)
          throw new IdoitError('cmdb.category.read', -32099, `Object with id "${objectId}" does not exist.`, null);
        return own;
      }
      if (explicit)
        throw new Refusal(
          'address-held',
          `network.ip ${explicit} in net "${desired.net}" is held by another object in i-doit since a moment ago; choose another address or ip: auto.`,
        );
      lost.add(ip);
    }
    throw new TransientError(
      `gave up allocating an address in net "${desired.net}" after ${this.o.maxAttempts ?? 64} attempts: other writers kept taking the candidates; run again.`,
    );
  }

  /** Saves the host address; 'taken' when i-doit's own unique-IP check refuses it. */
  private async write(objectId: number, netId: number, ip: string, d: IpFields): Promise<number | 'taken'> {
    try {
      const r = await this.client.call<{ entry: number }>('cmdb.category.save', {
        object: objectId,
        category: 'C__CATG__IP',
        data: {
          net: netId,
          net_type: 1,
          ipv4_assignment: 2,
          ipv4_address: ip,
          hostname: d.hostname,
          domain: d.domain,
          primary: 1,
          active: 1,
        },
      });
      return Number(r.entry);
    } catch (e) {
      if (e instanceof IdoitError && /already being used/i.test(e.fieldError('ipv4_address') ?? '')) return 'taken';
      throw e;
    }
  }

  /** Reads the IP list back; if an earlier entry holds the same address, gives ours up and reports false. */
  private async verify(objectId: number, netId: number, ip: string, entryId: number): Promise<boolean> {
    const list = await this.client.call<unknown[]>('cmdb.category.read', {
      objID: netId,
      category: 'C__CATS__NET_IP_ADDRESSES',
      status: -1,
    });
    const holders = ipListHolders(list).get(ip) ?? [];
    const first = holders[0];
    if (!first || first.objectId === objectId) return true;
    await this.client.call('cmdb.category.purge', { object: objectId, category: 'C__CATG__IP', entry: entryId });
    return false;
  }
}

/** What the allocation refuses for a net i-doit does not have, and where the system names it. */
function netMissing(system: DesiredSystem, net: string): string {
  const src = system.sources['network.net'];
  return `i-doit has no layer-3 net titled "${net}"${src ? ` (network.net in ${formatSource(src)})` : ''}; create it in i-doit or fix network.net.`;
}

/**
 * What the allocation refuses for a title several layer-3 nets share (i-doit does not keep titles
 * unique): which objects, where the system names it, and what to do. Neither is guessed at.
 */
function netAmbiguous(system: DesiredSystem, net: string, ids: number[]): string {
  const src = system.sources['network.net'];
  const objects = [...ids].sort((a, b) => a - b).map((id) => `#${id}`);
  return `i-doit has ${ids.length} layer-3 nets titled "${net}" (${objects.join(', ')})${src ? `, named by network.net in ${formatSource(src)}` : ''}; shipshape does not guess which one is meant: give all but one another title in i-doit (or archive the ones that are leftovers), then run again.`;
}

interface Room {
  view: NetView;
  reserved: Set<string>;
  /** Free addresses, counted up to the number of systems asking. */
  free: number;
  /** The systems given one in this plan so far (the first `free` of them get one). */
  takers: string[];
}

/** The free addresses of the net's range (as `firstFree` walks it), counted up to `enough`. */
function countFree(
  view: NetView,
  reserved: Set<string>,
  enough: number,
  siteGateway?: string,
  declared?: Declared,
): number {
  const lo = Math.max(view.from, view.cidr.network + 1);
  const hi = Math.min(view.to, view.cidr.broadcast - 1);
  let free = 0;
  for (let n = lo; n <= hi && free < enough; n++)
    if (!refusal(view, intToIp(n), -1, reserved, siteGateway, declared)) free++;
  return free;
}

/**
 * What apply refuses when the net has no free address left for `system`, and the plan foresees:
 * the net, where shipshape.yaml declares it and where the system asks for an address (file:line:col),
 * what holds the range, and what to do. `before`: the systems this plan gives the last free ones.
 */
function fullNetMessage(
  view: NetView,
  reserved: Set<string>,
  site: SiteConfig,
  system: DesiredSystem,
  before: string[] = [],
): string {
  const held = [...view.holders.keys()].length;
  const key = Object.entries(site.nets).find(([k, n]) => k === view.title || n.title === view.title)?.[0];
  const declaredAt = key ? setAt(site, `nets.${key}`) : '';
  const asks = system.sources['network.net'];
  const goes = before.length
    ? `; its last ${before.length === 1 ? 'free address goes' : `${before.length} free addresses go`} to ${before.join(', ')} in this run`
    : '';
  return (
    `net "${view.title}" (${view.cidr.text}, range ${intToIp(view.from)}–${intToIp(view.to)}` +
    `${declaredAt ? `, nets.${key} at ${declaredAt}` : ''}) has no free address left for ${system.name}` +
    `${asks ? ` (ip: auto in ${formatSource(asks)})` : ''}${goes} ` +
    `(${held} held in i-doit, ${reserved.size} reserved in shipshape.yaml, ${view.dhcp.length} DHCP range(s)); ` +
    'free addresses in i-doit, widen the range, or use another net.'
  );
}
