/**
 * DHCP reservations: MAC → IP, hostname and boot options, the pure parts of the provider contract,
 * and the checks the servers' own checkers miss (`dhcpd -t` passes duplicate MACs/IPs and addresses
 * outside every subnet).
 */
import {
  UNKNOWN,
  type FieldChange,
  type Fields,
  type Maybe,
  type ObservedResource,
  type Resolved,
} from '../../engine/contract';
import type { DesiredSystem } from '../../manifest/types';
import type { DhcpServerSection, SiteConfig } from '../../manifest/site';

export interface Reservation {
  mac: string;
  ip: string;
  hostname: string;
  /** PXE: the TFTP/HTTP server and boot file the installation step needs (from `resolved.boot`). */
  nextServer?: string;
  bootFilename?: string;
}

/** Someone else's reservation seen on a server (never touched). */
export interface ForeignReservation {
  label: string;
  /** Its host name, when it has one (what a system of that name would collide with). */
  name?: string;
  mac?: string;
  ip?: string;
  /** Every address it holds, when more than one (dhcpd's `fixed-address a, b;`); `ip` is the first. */
  ips?: string[];
  /** What the reservation hands out besides the address (for adopting it as it is). */
  hostname?: string;
  nextServer?: string;
  bootFilename?: string;
  /** Why shipshape cannot take it over as it is (settings it does not manage, a place it cannot move it from). */
  notAdoptable?: string;
}

export interface DhcpFields extends Fields {
  mac: string;
  ip: Maybe<string>;
  hostname: string;
  nextServer: string | null;
  bootFilename: string | null;
  /** Names of the DHCP servers that hold the reservation, sorted. */
  servers: string[];
  /**
   * Observed only, on a reservation shipshape owns: the servers that still hold the operator's hand
   * copy of it (an adoption that did not finish); the next deploy of those servers moves it out.
   */
  handwritten?: string[];
  /** Observed only, on a reservation that is not shipshape's: why it cannot be adopted as it is. */
  notAdoptable?: string;
}

/**
 * The operator's reservation that is a system's own: of its name, holding exactly its MAC and address.
 * Deploying the system's reservation moves such a hand copy out (adoption; crash-safe: ours is written first).
 */
export const isHandCopy = (f: ForeignReservation, system: string, r: Reservation): boolean =>
  isNamed(f, system) && f.mac === r.mac.toLowerCase() && f.ip === r.ip;

/**
 * The system name a hand-written host name stands for: host names are case-insensitive (RFC 4343),
 * so `host WEB01` and Kea's `"hostname": "Web01"` are web01's. A full name (`web01.corp.example.org`)
 * is not taken for web01: a BMC's `web01.mgmt…` would be taken for the machine's own. Such a
 * reservation holding a system's MAC or address is someone else's (`reservation-held`).
 */
export const hostKey = (name: string): string => name.trim().toLowerCase();

/** The operator's reservation is declared for this system's name (its host name or its host-name option). */
export const isNamed = (f: ForeignReservation, system: string): boolean =>
  (f.name !== undefined && hostKey(f.name) === system) || (f.hostname !== undefined && hostKey(f.hostname) === system);

/** Every address a reservation of someone else's holds. */
export const addressesOf = (f: ForeignReservation): string[] => f.ips ?? (f.ip ? [f.ip] : []);

export function serversFor(net: string, site: SiteConfig): DhcpServerSection[] {
  return site.dhcp.servers.filter((s) => s.nets.includes(net));
}

export function desiredDhcp(system: DesiredSystem, resolved: Resolved, site: SiteConfig): DhcpFields | null {
  const servers = serversFor(system.network.net, site);
  if (system.state !== 'present' || servers.length === 0) return null;
  // PXE options come from the install step, which promises them before any step runs.
  const boot = resolved.boot ?? {};
  return {
    mac: resolved.mac.toLowerCase(),
    ip: resolved.ip,
    hostname: system.name,
    nextServer: boot.nextServer ?? null,
    bootFilename: boot.filename ?? null,
    servers: servers.map((s) => s.name).sort(),
  };
}

export function reservationOf(f: DhcpFields): Reservation {
  return {
    mac: f.mac,
    ip: f.ip === UNKNOWN ? UNKNOWN : f.ip,
    hostname: f.hostname,
    ...(f.nextServer ? { nextServer: f.nextServer } : {}),
    ...(f.bootFilename ? { bootFilename: f.bootFilename } : {}),
  };
}

export function fieldsOf(r: Reservation, servers: string[]): DhcpFields {
  return {
    mac: r.mac,
    ip: r.ip,
    hostname: r.hostname,
    nextServer: r.nextServer ?? null,
    bootFilename: r.bootFilename ?? null,
    servers: [...servers].sort(),
  };
}

export const sameReservation = (a?: Reservation, b?: Reservation): boolean =>
  !!a &&
  !!b &&
  a.mac === b.mac &&
  a.ip === b.ip &&
  a.hostname === b.hostname &&
  (a.nextServer ?? '') === (b.nextServer ?? '') &&
  (a.bootFilename ?? '') === (b.bootFilename ?? '');

export function diffDhcp(
  system: DesiredSystem,
  desired: DhcpFields,
  observed: ObservedResource<DhcpFields>,
): FieldChange[] {
  const changes: FieldChange[] = [];
  const src: Record<string, string> = { mac: 'network.mac', ip: 'network.ip', servers: 'network.net' };
  for (const k of ['mac', 'ip', 'hostname', 'nextServer', 'bootFilename', 'servers'] as const) {
    const [d, o] = [desired[k], observed.fields[k]];
    if (JSON.stringify(d) === JSON.stringify(o)) continue;
    const s = src[k] ? system.sources[src[k]!] : undefined;
    changes.push({ path: `dhcp.${k}`, from: o, to: d, ...(s ? { source: `${s.file}:${s.line}:${s.col}` } : {}) });
  }
  const o = observed.fields;
  if (!observed.owned && o.notAdoptable)
    changes.push({
      path: 'dhcp.handwritten',
      from: 'hand-written',
      to: 'shipshape',
      refused: o.notAdoptable,
      refusal: 'hand-line',
    });
  if (observed.owned && o.handwritten?.length) changes.push({ path: 'dhcp.handwritten', from: o.handwritten, to: [] });
  return changes;
}

function ipToInt(ip: string): number | null {
  const p = ip.split('.');
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return null;
  return p.reduce((a, x) => a * 256 + Number(x), 0);
}

export function inCidr(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const a = ipToInt(ip);
  const n = ipToInt(net ?? '');
  const bits = Number(len);
  if (a === null || n === null || !(bits >= 0 && bits <= 32)) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(a / size) === Math.floor(n / size);
}

/** Systems whose reservation would clash on this server: duplicate MAC or IP, or an address outside every subnet. */
export function checkReservations(
  server: string,
  ours: Map<string, Reservation>,
  foreign: ForeignReservation[],
  subnets: string[],
  closed: { cidr: string; why: string }[] = [],
): Map<string, string> {
  const bad = new Map<string, string>();
  const add = (s: string, why: string) => bad.set(s, bad.has(s) ? `${bad.get(s)}; ${why}` : why);
  const byMac = new Map<string, string[]>();
  const byIp = new Map<string, string[]>();
  for (const [s, r] of ours) {
    if (r.ip === UNKNOWN) add(s, 'its address is not allocated yet (the ip stage must run first)');
    else if (ipToInt(r.ip) === null) add(s, `${r.ip} is not an IPv4 address`);
    else if (closed.some((c) => inCidr(r.ip, c.cidr))) add(s, closed.find((c) => inCidr(r.ip, c.cidr))!.why);
    else if (!subnets.some((c) => inCidr(r.ip, c)))
      add(s, `${r.ip} is outside every subnet ${server} serves (${subnets.join(', ') || 'none'})`);
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(r.mac)) add(s, `"${r.mac}" is not a MAC address`);
    byMac.set(r.mac, [...(byMac.get(r.mac) ?? []), s]);
    byIp.set(r.ip, [...(byIp.get(r.ip) ?? []), s]);
  }
  for (const [what, map] of [
    ['MAC', byMac],
    ['IP', byIp],
  ] as const) {
    for (const [value, systems] of map) {
      if (systems.length > 1)
        for (const s of systems)
          add(s, `${what} ${value} is reserved for more than one system (${systems.join(', ')})`);
      const theirs = foreign.find((f) => (what === 'MAC' ? f.mac === value : addressesOf(f).includes(value)));
      if (theirs)
        for (const s of systems)
          add(s, `${what} ${value} is already reserved on ${server} by ${theirs.label}, not managed by shipshape`);
    }
  }
  return bad;
}
