/**
 * One layer-3 net as the IPAM sees it: range, gateway, DHCP ranges and every address held in it,
 * read in one round trip, and the next-free-address walk (reference §5: the PHP client's walk, plus
 * what i-doit's GUI skips, plus what shipshape.yaml reserves).
 */
import { UserError } from '../../engine/contract';
import type { NetSite } from '../../manifest/site';
import type { IdoitCall } from './client';
import { intToIp, ipToInt, parseCidr, type Cidr } from '../../net/ipv4';

export interface Holder {
  listId: number;
  objectId: number;
  objectTitle: string;
  /** Set for holders i-doit itself no longer counts (archived or deleted objects): shipshape's own policy keeps them. */
  status?: 'archived' | 'deleted';
}

export interface NetView {
  id: number;
  title: string;
  cidr: Cidr;
  from: number;
  to: number;
  gateway: string | null;
  dhcp: [number, number][];
  /** Address → who holds it: the IP list's entries, then the host addresses of archived and deleted objects. */
  holders: Map<string, Holder[]>;
}

/**
 * One round trip: the net, its IP list, its DHCP ranges, and the host addresses of every archived and
 * deleted object. i-doit's IP list (and its duplicate-IP check) counts only normal entries on normal
 * objects, also with `status: -1`: an archived host's address is free to i-doit. shipshape's policy is
 * stricter: it stays reserved until the object is purged or its tombstone applied (the ip step then
 * purges the entry), because recycling the host would bring the address back twice.
 */
export function netReads(netId: number): IdoitCall[] {
  return [
    { method: 'cmdb.category.read', params: { objID: netId, category: 'C__CATS__NET' } },
    { method: 'cmdb.category.read', params: { objID: netId, category: 'C__CATS__NET_IP_ADDRESSES', status: -1 } },
    { method: 'cmdb.category.read', params: { objID: netId, category: 'C__CATS__NET_DHCP' } },
    {
      method: 'cmdb.objects.read',
      params: { filter: { status: 'C__RECORD_STATUS__ARCHIVED' }, categories: ['C__CATG__IP'] },
    },
    {
      method: 'cmdb.objects.read',
      params: { filter: { status: 'C__RECORD_STATUS__DELETED' }, categories: ['C__CATG__IP'] },
    },
  ];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- category rows differ per i-doit version
type Row = Record<string, any>;

/** Host addresses in net `netId` held by archived / deleted objects (rows of cmdb.objects.read with C__CATG__IP). */
export function retiredHolders(netId: number, rows: unknown, status: 'archived' | 'deleted'): [string, Holder][] {
  const out: [string, Holder][] = [];
  for (const row of (Array.isArray(rows) ? rows : []) as Row[]) {
    for (const e of (row.categories?.C__CATG__IP ?? []) as unknown[]) {
      if (typeof e !== 'object' || e === null) continue; // a category that failed to read comes back as a string
      const h = e as Row;
      const ip = h.ipv4_address?.ref_title;
      if (Number(h.net?.id) !== netId || typeof ip !== 'string' || !ip) continue;
      out.push([
        ip,
        { listId: Number.MAX_SAFE_INTEGER, objectId: Number(row.id), objectTitle: String(row.title ?? ''), status },
      ]);
    }
  }
  return out;
}

export function ipListHolders(list: unknown[]): Map<string, Holder[]> {
  const holders = new Map<string, Holder[]>();
  for (const raw of list as Row[]) {
    const ip = String(raw.title ?? '');
    if (!ip) continue;
    const h: Holder = {
      listId: Number(raw.id),
      objectId: Number(raw.object?.id),
      objectTitle: String(raw.object?.title ?? ''),
    };
    holders.set(
      ip,
      [...(holders.get(ip) ?? []), h].sort((a, b) => a.listId - b.listId),
    );
  }
  return holders;
}

/** Builds the view and refuses a net that is not IPv4 or disagrees with shipshape.yaml. */
export function netView(
  id: number,
  title: string,
  site: NetSite | undefined,
  [net, list, dhcp, archived, deleted]: unknown[],
): NetView {
  const entries = net as Row[];
  if (entries.length !== 1)
    throw new UserError(
      `i-doit net "${title}" (#${id}) has no net category (C__CATS__NET); fill in its address and netmask in i-doit.`,
    );
  const n = entries[0]!;
  if (n.type?.const !== 'C__CATS_NET_TYPE__IPV4')
    throw new UserError(`i-doit net "${title}" (#${id}) is not an IPv4 net; shipshape allocates IPv4 addresses only.`);
  const cidr = parseCidr(`${String(n.address)}/${String(n.cidr_suffix)}`);
  const from = ipToInt(String(n.range_from ?? ''));
  const to = ipToInt(String(n.range_to ?? ''));
  if (!cidr || from === null || to === null) {
    throw new UserError(
      `i-doit net "${title}" (#${id}) has no valid address range (address ${String(n.address)}, range ${String(n.range_from)}–${String(n.range_to)}); fix it in i-doit.`,
    );
  }
  if (site) {
    const want = parseCidr(site.cidr);
    if (!want || want.network !== cidr.network || want.prefix !== cidr.prefix) {
      throw new UserError(
        `i-doit net "${title}" is ${cidr.text} but shipshape.yaml declares ${site.cidr}; make them agree before allocating addresses.`,
      );
    }
  }
  const dhcpRanges = (dhcp as Row[])
    .map((d) => [ipToInt(String(d.range_from ?? '')), ipToInt(String(d.range_to ?? ''))] as const)
    .filter((r): r is [number, number] => r[0] !== null && r[1] !== null);
  const holders = ipListHolders(list as unknown[]);
  for (const [ip, h] of [...retiredHolders(id, archived, 'archived'), ...retiredHolders(id, deleted, 'deleted')]) {
    holders.set(ip, [...(holders.get(ip) ?? []), h]);
  }
  return {
    id,
    title,
    cidr,
    from,
    to,
    gateway: typeof n.gateway?.ref_title === 'string' ? n.gateway.ref_title : null,
    dhcp: dhcpRanges,
    holders,
  };
}

export type Refusal = { ip: string; reason: string } | null;

/** Explicit addresses the manifests declare in one net: address → the declaring system. */
export type Declared = Map<string, { system: string; file: string }>;

export function refusal(
  view: NetView,
  ip: string,
  objectId: number,
  reserved: Set<string>,
  siteGateway?: string,
  declared?: Declared,
  self?: string,
): Refusal {
  // Why an address cannot be given to `objectId` (null when it can).
  const n = ipToInt(ip);
  if (n === null) return { ip, reason: 'is not an IPv4 address' };
  const lo = Math.max(view.from, view.cidr.network + 1);
  const hi = Math.min(view.to, view.cidr.broadcast - 1);
  if (n < lo || n > hi)
    return {
      ip,
      reason: `is outside the range ${intToIp(lo)}–${intToIp(hi)} of net "${view.title}" (${view.cidr.text})`,
    };
  if (ip === view.gateway || ip === siteGateway) return { ip, reason: `is the gateway of net "${view.title}"` };
  if (reserved.has(ip))
    return { ip, reason: `is reserved for net "${view.title}" in shipshape.yaml (nets.${view.title}.reserved)` };
  const dhcp = view.dhcp.find(([a, b]) => n >= a && n <= b);
  if (dhcp)
    return { ip, reason: `lies in the DHCP range ${intToIp(dhcp[0])}–${intToIp(dhcp[1])} of net "${view.title}"` };
  const other = (view.holders.get(ip) ?? []).find((h) => h.objectId !== objectId);
  if (other) {
    const kept = other.status
      ? ` (${other.status}: shipshape keeps its address reserved until it is purged in i-doit or its tombstone is applied)`
      : '';
    return {
      ip,
      reason: `is already held by "${other.objectTitle}" (#${other.objectId}) in i-doit${kept}`,
    };
  }
  const claimant = declared?.get(ip);
  if (claimant && claimant.system !== self)
    return { ip, reason: `is declared by ${claimant.file} (system ${claimant.system})` };
  return null;
}

/** The first address of the range nobody holds, or null when the net is full. */
export function firstFree(
  view: NetView,
  objectId: number,
  reserved: Set<string>,
  skip: Set<string>,
  siteGateway?: string,
  declared?: Declared,
  self?: string,
): string | null {
  const lo = Math.max(view.from, view.cidr.network + 1);
  const hi = Math.min(view.to, view.cidr.broadcast - 1);
  for (let n = lo; n <= hi; n++) {
    const ip = intToIp(n);
    if (!skip.has(ip) && !refusal(view, ip, objectId, reserved, siteGateway, declared, self)) return ip;
  }
  return null;
}
