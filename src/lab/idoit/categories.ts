/**
 * The categories shipshape uses, with i-doit's read shapes (reference §4 and examples E4, E5, E7).
 * Host addresses (C__CATG__IP) feed the net's IP list (C__CATS__NET_IP_ADDRESSES), which is read-only.
 */
import { STATUS } from './constants';
import { validationError } from './errors';
import { dialogRead, objectInfo, readProp, type Prop } from './properties';
import type { EntryRec, Store } from './store';
import { intToIp, ipToInt } from '../../net/ipv4';

export interface CategoryDef {
  const: string;
  title: string;
  multi: boolean;
  /** Attributes in read order. */
  props: Record<string, Prop>;
  readOnly?: boolean;
  /** Defaults applied when an entry is created. */
  defaults?: Record<string, unknown>;
  read?: (store: Store, e: EntryRec) => Record<string, unknown>;
  /** Cross-attribute checks on the merged entry; throw RpcError to refuse. */
  check?: (
    store: Store,
    objId: number,
    merged: Record<string, unknown>,
    entryId: number | null,
    opts: CheckOptions,
  ) => void;
  afterSave?: (store: Store, e: EntryRec) => void;
}

export interface CheckOptions {
  /** Tenant setting cmdb.unique.ip-address. */
  uniqueIp: boolean;
}

const text: Prop = { kind: 'text' };
const int: Prop = { kind: 'int' };
const virtual: Prop = { kind: 'virtual' };
const LAYER3 = ['C__OBJTYPE__LAYER3_NET'];

/** The reference from a host address to its IP-list entry, as `ipv4_address` / `hostaddress` read it. */
function ipListRef(store: Store, e: EntryRec): Record<string, unknown> | null {
  const net = store.object(Number(e.data.net));
  if (!net || e.data.ipv4_address == null) return null;
  const info = objectInfo(net);
  return {
    id: info.id,
    type: info.type,
    title: info.title,
    sysid: info.sysid,
    ref_id: String(e.data.ipListId),
    ref_title: e.data.ipv4_address,
    ref_type: 'C__CATS__NET_IP_ADDRESSES',
  };
}

function readHostAddress(store: Store, e: EntryRec): Record<string, unknown> {
  const d = e.data;
  const p = (key: string) => readProp(store, HOST_ADDRESS.props[key]!, d[key]);
  const ref = ipListRef(store, e);
  const hostname = (d.hostname as string | null) ?? '';
  const domain = (d.domain as string | null) ?? '';
  return {
    id: String(e.id),
    objID: String(e.objId),
    primary_hostaddress: ref,
    primary_hostname: hostname,
    net_type: p('net_type'),
    primary: p('primary'),
    active: p('active'),
    net: p('net'),
    zone: p('zone'),
    ipv4_assignment: p('ipv4_assignment'),
    ipv4_address: ref,
    ipv6_assignment: p('ipv6_assignment'),
    ipv6_scope: p('ipv6_scope'),
    hostaddress: ref,
    hostname,
    domain,
    dns_server: p('dns_server'),
    dns_server_address: '',
    dns_domain: p('dns_domain'),
    use_standard_gateway: p('use_standard_gateway'),
    assigned_port: p('assigned_port'),
    assigned_logical_port: p('assigned_logical_port'),
    all_ips: '',
    primary_fqdn: hostname ? (domain ? `${hostname}.${domain}` : hostname) : [],
    aliases: [],
    description: p('description'),
  };
}

const HOST_ADDRESS: CategoryDef = {
  const: 'C__CATG__IP',
  title: 'Host address',
  multi: true,
  props: {
    primary_hostaddress: virtual,
    primary_hostname: virtual,
    net_type: { kind: 'dialog', table: 'net_type' },
    primary: { kind: 'yesno' },
    active: { kind: 'yesno' },
    net: { kind: 'object', types: LAYER3 },
    zone: { kind: 'object' },
    ipv4_assignment: { kind: 'dialog', table: 'ipv4_assignment' },
    ipv4_address: text,
    ipv6_assignment: { kind: 'dialog', table: 'ipv6_assignment' },
    ipv6_scope: { kind: 'dialog', table: 'ipv6_scope' },
    ipv6_address: text,
    hostaddress: virtual,
    hostname: text,
    domain: text,
    dns_server: { kind: 'refs', category: 'C__CATG__IP', many: true },
    dns_server_address: virtual,
    dns_domain: { kind: 'objects' },
    use_standard_gateway: { kind: 'yesno', numeric: true },
    assigned_port: { kind: 'refs', category: 'C__CATG__NETWORK_PORT', many: false },
    assigned_logical_port: int,
    all_ips: virtual,
    primary_fqdn: virtual,
    aliases: virtual,
    description: text,
  },
  defaults: { net: 20, net_type: 1, primary: 0, active: 1, ipv6_assignment: 1, ipv6_scope: 1, use_standard_gateway: 0 },
  read: readHostAddress,
  check(store, _objId, merged, entryId, opts) {
    const ip = merged.ipv4_address;
    if (ip == null || ip === '') return;
    if (ipToInt(String(ip)) === null) {
      throw validationError([{ key: 'ipv4_address', type: 'text', msg: 'Please check your entered IP address!' }]);
    }
    if (!opts.uniqueIp) return;
    const holder = store.ipHolder(Number(merged.net), String(ip), entryId);
    if (holder) {
      const obj = store.object(holder.objId)!;
      throw validationError([
        {
          key: 'ipv4_address',
          type: 'text',
          msg: `The selected IP-address is already being used in "${obj.title}" (#${obj.id}).`,
        },
      ]);
    }
  },
  afterSave(store, e) {
    if (e.data.ipListId == null) e.data.ipListId = store.nextId('C__CATS__NET_IP_ADDRESSES');
    store.reindexIp(e);
    if (e.data.use_standard_gateway === 1) {
      const net = store.entriesOf('C__CATS__NET', Number(e.data.net))[0];
      if (net) net.data.gateway = e.id;
    }
  },
};

const NET: CategoryDef = {
  const: 'C__CATS__NET',
  title: 'Net',
  multi: false,
  props: {
    title: text,
    type: { kind: 'dialog', table: 'net_type' },
    address: text,
    netmask: text,
    gateway: { kind: 'refs', category: 'C__CATG__IP', many: false },
    range_from: text,
    range_to: text,
    dns_server: virtual,
    dns_domain: { kind: 'objects' },
    cidr_suffix: int,
    reverse_dns: text,
    layer2_assignments: { kind: 'objects' },
    description: text,
  },
  defaults: { type: 1 },
  read(store, e) {
    const out: Record<string, unknown> = { id: String(e.id), objID: String(e.objId) };
    for (const [k, p] of Object.entries(NET.props)) out[k] = readProp(store, p, e.data[k]);
    return out;
  },
  check(_store, _objId, merged) {
    for (const key of ['address', 'netmask', 'range_from', 'range_to']) {
      const v = merged[key];
      if (v != null && v !== '' && ipToInt(String(v)) === null) {
        throw validationError([{ key, type: 'text', msg: 'Please check your entered IP address!' }]);
      }
    }
  },
  afterSave(_store, e) {
    // For IPv4 i-doit derives the suffix from the netmask and fills an empty range with network+1 … broadcast-1.
    const mask = ipToInt(String(e.data.netmask ?? ''));
    const addr = ipToInt(String(e.data.address ?? ''));
    if (mask === null || addr === null || e.data.type !== 1) return;
    const suffix = 32 - Math.log2(2 ** 32 - mask);
    e.data.cidr_suffix = Number.isInteger(suffix) ? suffix : (e.data.cidr_suffix ?? null);
    const network = (addr & mask) >>> 0;
    const broadcast = (network | (~mask >>> 0)) >>> 0;
    if (!e.data.range_from) e.data.range_from = intToIp(network + 1);
    if (!e.data.range_to) e.data.range_to = intToIp(broadcast - 1);
  },
};

const NET_IP_ADDRESSES: CategoryDef = {
  const: 'C__CATS__NET_IP_ADDRESSES',
  title: 'IP list',
  multi: true,
  readOnly: true,
  props: { net_type: virtual, title: virtual, ipv4_assignment: virtual, ipv6_assignment: virtual, object: virtual },
};

/** One IP-list entry, derived from the host-address entry that points into the net (E5). */
export function readIpListEntry(store: Store, e: EntryRec): Record<string, unknown> {
  const owner = store.object(e.objId)!;
  const net_type = dialogRead(store.dialogValues('net_type').find((d) => d.id === e.data.net_type));
  const assign = dialogRead(store.dialogValues('ipv4_assignment').find((d) => d.id === e.data.ipv4_assignment));
  return {
    id: String(e.data.ipListId),
    objID: String(e.data.net),
    net_type,
    title: e.data.ipv4_address ?? '',
    ipv4_assignment: assign,
    ipv6_assignment: null,
    object: { ...objectInfo(owner), type_title: objectInfo(owner).type_title },
  };
}

/**
 * A network port reads its `addresses` as core's export helper `hostaddress` builds them:
 * `{id: <host-address entry id>, title: <IP>, hostname, type: "C__CATG__IP"}` — no `ref_title`.
 */
function readPort(store: Store, e: EntryRec): Record<string, unknown> {
  const out: Record<string, unknown> = { id: String(e.id), objID: String(e.objId) };
  for (const [k, p] of Object.entries(PORT_PROPS)) out[k] = readProp(store, p, e.data[k]);
  const ids = (e.data.addresses as number[] | null) ?? [];
  const table = store.table('C__CATG__IP');
  const list = ids
    .map((id) => table[String(id)])
    .filter((x): x is EntryRec => !!x)
    .map((ip) => ({
      id: String(ip.id),
      title: ip.data.ipv4_address ?? '',
      hostname: ip.data.hostname ?? '',
      type: 'C__CATG__IP',
    }));
  out.addresses = list.length ? list : null;
  return out;
}
const PORT_PROPS: Record<string, Prop> = {
  title: { kind: 'text' },
  port_type: { kind: 'dialog', table: 'port_type' },
  mac: { kind: 'text' },
  mtu: { kind: 'int' },
  active: { kind: 'yesno' },
  addresses: { kind: 'virtual' },
  description: { kind: 'text' },
};

const generic = (
  c: string,
  title: string,
  multi: boolean,
  props: Record<string, Prop>,
  defaults?: Record<string, unknown>,
): CategoryDef => ({
  const: c,
  title,
  multi,
  props,
  ...(defaults ? { defaults } : {}),
});

export const CATEGORIES: Record<string, CategoryDef> = Object.fromEntries(
  [
    HOST_ADDRESS,
    NET,
    NET_IP_ADDRESSES,
    generic(
      'C__CATS__NET_DHCP',
      'DHCP',
      true,
      {
        type: { kind: 'dialog', table: 'dhcp_type' },
        typev6: int,
        range_from: text,
        range_to: text,
        description: text,
      },
      { type: 1 },
    ),
    generic('C__CATG__CPU', 'CPU', true, {
      title: text,
      manufacturer: { kind: 'dialog', table: 'cpu_manufacturer' },
      type: { kind: 'dialog', table: 'cpu_type' },
      frequency: { kind: 'unit' },
      frequency_unit: { kind: 'dialog', table: 'frequency_unit' },
      cores: int,
      description: text,
    }),
    generic('C__CATG__MEMORY', 'Memory', true, {
      quantity: virtual,
      title: { kind: 'dialog', table: 'memory_title' },
      manufacturer: { kind: 'dialog', table: 'memory_manufacturer' },
      type: { kind: 'dialog', table: 'memory_type' },
      total_capacity: virtual,
      capacity: { kind: 'unit' },
      unit: { kind: 'dialog', table: 'memory_unit' },
      description: text,
    }),
    generic('C__CATG__DRIVE', 'Drive', true, {
      mount_point: text,
      title: text,
      system_drive: { kind: 'yesno' },
      filesystem: { kind: 'dialog', table: 'filesystem' },
      capacity: { kind: 'unit' },
      unit: { kind: 'dialog', table: 'memory_unit' },
      serial: text,
      description: text,
    }),
    // Single-value in core 1.12 (the KB of 2026 calls it multi-value; see README).
    generic('C__CATG__OPERATING_SYSTEM', 'Operating system', false, {
      application: { kind: 'object', connection: true, types: ['C__OBJTYPE__OPERATING_SYSTEM'] },
      assigned_version: int,
      description: text,
    }),
    {
      ...generic(
        'C__CATG__NETWORK_PORT',
        'Port',
        true,
        {
          title: text,
          port_type: { kind: 'dialog', table: 'port_type' },
          mac: text,
          mtu: int,
          active: { kind: 'yesno' },
          addresses: { kind: 'refs', category: 'C__CATG__IP', many: true },
          description: text,
        },
        { active: 1 },
      ),
      read: readPort,
    },
    generic('C__CATG__VIRTUAL_MACHINE', 'Virtual machine', false, {
      virtual_machine: { kind: 'dialog', table: 'virtual_machine' },
      hosts: {
        kind: 'object',
        connection: true,
        types: ['C__OBJTYPE__VIRTUAL_HOST', 'C__OBJTYPE__CLUSTER', 'C__OBJTYPE__HOST', 'C__OBJTYPE__SERVER'],
      },
      system: { kind: 'dialog', table: 'virtualization_system' },
      config_file: text,
      primary: int,
      description: text,
    }),
    generic('C__CATG__GUEST_SYSTEMS', 'Guest systems', true, {
      connected_object: { kind: 'objects' },
      hostname: virtual,
      runs_on: virtual,
    }),
  ].map((c) => [c.const, c]),
);

/** The generic read: entry id and object id as strings, then every attribute in its read shape. */
export function readEntry(store: Store, def: CategoryDef, e: EntryRec): Record<string, unknown> {
  if (def.read) return def.read(store, e);
  const out: Record<string, unknown> = { id: String(e.id), objID: String(e.objId) };
  for (const [k, p] of Object.entries(def.props)) out[k] = readProp(store, p, e.data[k]);
  if (def.const === 'C__CATG__MEMORY') {
    const unitFactor: Record<number, number> = { 1000: 1, 1: 1024, 2: 1024 ** 2, 3: 1024 ** 3, 4: 1024 ** 4 };
    const cap = e.data.capacity as number | null;
    out.quantity = '1';
    out.total_capacity = cap == null ? null : cap * (unitFactor[e.data.unit as number] ?? 1);
  }
  return out;
}

export function statusMatches(filter: number, status: number): boolean {
  return filter === -1 ? true : status === filter;
}

export const DEFAULT_ENTRY_STATUS = STATUS.NORMAL;
