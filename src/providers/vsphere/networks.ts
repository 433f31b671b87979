/**
 * Port groups as a manifest names them (`vms.portgroup`, `network.portgroup`), resolved against the
 * datacenter's network folder as vCenter holds it: standard port groups (`Network`), distributed
 * port groups (`DistributedVirtualPortgroup`, in the folder of their switch) and folders of both.
 *
 * A value is, in this order (README: "Port groups"):
 * 1. the path below the network folder, `/` between folders and name (`Prod/VLAN-100`): the inventory
 *    path SearchIndex.FindByInventoryPath takes. A distributed port group may also be written with its
 *    switch before its name (`Prod/DSwitch-A/VLAN-100`), as the vSphere Client's networking view
 *    nests it: two of one name in one folder (NSX segments, a standard and a distributed one) are
 *    told apart that way. When a path names a standard port group and distributed ones, it is the
 *    standard one (the distributed ones have their switch path, the standard one nothing else).
 * 2. otherwise the bare name, anywhere below the network folder, when one port group has it.
 * vCenter stores `/`, `\` and `%` in a name as `%2f`, `%5c` and `%25` (ManagedEntity.name): in a path
 * a slash inside a name is written `%2f`; a bare name may also be written as the vSphere Client
 * shows it (`VLAN 10/24`). Names compare with escapes decoded, so `%2F` and `%2f` are one name.
 */
import { Refusal } from '../../engine/refusals';
import { setAt, type SitePlace } from '../../manifest/site-keys';
import { formatSource, type DesiredSystem } from '../../manifest/types';
import type { ObjectContent, PropertyRequest } from './inventory';
import { child, toRef, type MoRef } from './soap/xml';

/**
 * Read with the folders (`name`, `parent`) in one view of the datacenter or its network folder. The
 * subtypes are named as well as their base types (a view and a property spec of a base type take
 * its subtypes, but naming them costs nothing and leaves nothing to a server's reading).
 */
export const NETWORK_VIEW: PropertyRequest[] = [
  { type: 'Network', paths: ['name', 'parent'] },
  // `summary` (OpaqueNetworkSummary) holds the `opaqueNetworkId` a NIC on it names (its backing has
  // neither a port nor a network reference): read whole, as its subtype's field is not NetworkSummary's.
  { type: 'OpaqueNetwork', paths: ['name', 'parent', 'summary'] },
  { type: 'DistributedVirtualPortgroup', paths: ['name', 'parent', 'key', 'config.distributedVirtualSwitch'] },
  { type: 'DistributedVirtualSwitch', paths: ['name'] },
  { type: 'VmwareDistributedVirtualSwitch', paths: ['name'] },
];

export const NETWORK_TYPES = new Set(['Network', 'DistributedVirtualPortgroup', 'OpaqueNetwork']);
const SWITCH_TYPES = new Set(['DistributedVirtualSwitch', 'VmwareDistributedVirtualSwitch']);

export const isNetworkObject = (type: string): boolean => NETWORK_TYPES.has(type) || SWITCH_TYPES.has(type);

/** A folder as the index needs it: its name and parent, not its member list (a page's XML is let go). */
export const nameAndParent = (o: ObjectContent): ObjectContent => ({
  obj: o.obj,
  props: new Map([...o.props].filter(([k]) => k === 'name' || k === 'parent')),
});

export interface NetEntry {
  ref: MoRef;
  /** As vCenter stores it (a `/` as `%2f`). */
  name: string;
  /** The folders between the network folder and the port group, as stored. */
  folders: string[];
  /**
   * What a NIC's backing names besides the reference: a distributed port group's key, an NSX opaque
   * network's `opaqueNetworkId`. And a distributed port group's switch's name.
   */
  key?: string;
  switchName?: string;
}

const ESCAPES: Record<string, string> = { '2f': '/', '5c': '\\', '25': '%' };
/** A stored name as the vSphere Client shows it. */
export const unescapeName = (s: string): string =>
  s.replace(/%(2f|5c|25)/gi, (m) => ESCAPES[m.slice(1).toLowerCase()]!);

/** A path as a lookup key: its names decoded, joined by NUL (no name holds one). */
const keyOf = (names: string[]): string => names.map(unescapeName).join('\0');
const pathOf = (e: NetEntry): string[] => [...e.folders, e.name];
const switchPathOf = (e: NetEntry): string[] | undefined =>
  e.switchName === undefined ? undefined : [...e.folders, e.switchName, e.name];
const isDistributed = (e: NetEntry): boolean => e.ref.type === 'DistributedVirtualPortgroup';

/** The port groups of one datacenter. */
export class NetworkIndex {
  private readonly byId = new Map<string, NetEntry>();
  /** By decoded path (and switch path; names joined by NUL: a decoded name may hold `/`), and by decoded name. */
  private readonly byPath = new Map<string, NetEntry[]>();
  private readonly bySwitch = new Map<string, NetEntry[]>();
  private readonly byName = new Map<string, NetEntry[]>();
  /** spell() per port group: observe names every owned VM's network, so each is worked out once. */
  private readonly spelled = new Map<NetEntry, string>();

  constructor(
    readonly datacenter: string,
    readonly entries: NetEntry[],
  ) {
    const add = (m: Map<string, NetEntry[]>, k: string, e: NetEntry) => m.set(k, [...(m.get(k) ?? []), e]);
    for (const e of entries) {
      this.byId.set(e.ref.value, e);
      if (e.key) this.byId.set(e.key, e);
      add(this.byPath, keyOf(pathOf(e)), e);
      const sw = switchPathOf(e);
      if (sw) add(this.bySwitch, keyOf(sw), e);
      add(this.byName, unescapeName(e.name), e);
    }
  }

  /**
   * From one read's objects: networks, switches and folders. A folder whose parent is the
   * datacenter is the network folder itself (not part of a path), as is a parent the read did not
   * return (a view on the network folder does not return the folder itself).
   */
  static fromObjects(datacenter: string, objs: ObjectContent[]): NetworkIndex {
    const folders = new Map<string, { name: string; parent?: MoRef }>();
    const switches = new Map<string, string>();
    for (const o of objs) {
      const name = o.props.get('name')?.text ?? '';
      if (o.obj.type === 'Folder') {
        const parent = toRef(o.props.get('parent'));
        folders.set(o.obj.value, { name, ...(parent ? { parent } : {}) });
      } else if (SWITCH_TYPES.has(o.obj.type)) switches.set(o.obj.value, name);
    }
    const entries: NetEntry[] = [];
    for (const o of objs) {
      if (!NETWORK_TYPES.has(o.obj.type)) continue;
      const path: string[] = [];
      for (let at = toRef(o.props.get('parent')); at?.type === 'Folder' && path.length < 64;) {
        const f = folders.get(at.value);
        if (!f || f.parent?.type !== 'Folder') break;
        path.unshift(f.name);
        at = f.parent;
      }
      const key =
        o.obj.type === 'OpaqueNetwork'
          ? child(o.props.get('summary'), 'opaqueNetworkId')?.text
          : o.props.get('key')?.text;
      const dvs = toRef(o.props.get('config.distributedVirtualSwitch'));
      const switchName = dvs && switches.get(dvs.value);
      entries.push({
        ref: o.obj,
        name: o.props.get('name')?.text ?? '',
        folders: path,
        ...(key ? { key } : {}),
        ...(switchName !== undefined ? { switchName } : {}),
      });
    }
    return new NetworkIndex(datacenter, entries);
  }

  /** The port group a NIC's backing names: a network's managed object id, or a distributed port group's key. */
  byIdOf(id: string | undefined): NetEntry | undefined {
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** Every port group `value` names (see the top of this file): one, none, or several (ambiguous). */
  resolve(value: string): NetEntry[] {
    const key = keyOf(value.split('/'));
    const byPath = this.byPath.get(key) ?? [];
    const bySwitch = this.bySwitch.get(key) ?? [];
    const standard = byPath.filter((e) => !isDistributed(e));
    if (byPath.length + bySwitch.length > 1 && standard.length === 1) return standard;
    if (byPath.length + bySwitch.length) return [...byPath, ...bySwitch];
    return this.byName.get(unescapeName(value)) ?? [];
  }

  /** What to write for this port group: its path, or its switch path where the path names others too. */
  spell(e: NetEntry): string {
    let got = this.spelled.get(e);
    if (got === undefined) {
      const only = (p: string[] | undefined) => {
        if (!p) return undefined;
        const found = this.resolve(p.join('/'));
        return found.length === 1 && found[0] === e ? p.join('/') : undefined;
      };
      got = only(pathOf(e)) ?? only(switchPathOf(e)) ?? pathOf(e).join('/');
      this.spelled.set(e, got);
    }
    return got;
  }

  /** The one port group `value` names, or the refusal that says what to write instead. */
  one(value: string, setting: Setting): NetEntry {
    const found = this.resolve(value);
    const problem = this.problem(value, setting, found);
    if (problem) throw new Refusal('portgroup-name', problem);
    return found[0]!;
  }

  /**
   * Every port group `value` could name by any one reading (its path, its switch path, a bare name),
   * before resolve()'s order picks one: a VM on one of them may be where the operator meant.
   */
  readings(value: string): Set<NetEntry> {
    const key = keyOf(value.split('/'));
    return new Set([
      ...(this.byPath.get(key) ?? []),
      ...(this.bySwitch.get(key) ?? []),
      ...(this.byName.get(unescapeName(value)) ?? []),
    ]);
  }

  /** A port group as a refusal shows it: its path, and its kind. */
  describe(e: NetEntry): string {
    const what = isDistributed(e)
      ? `distributed, switch ${e.switchName ?? '?'}`
      : e.ref.type === 'OpaqueNetwork'
        ? 'NSX opaque network'
        : 'standard';
    return `${this.spell(e)} (${what})`;
  }

  /**
   * Why `value` names no one port group a VM can be attached to, saying what to write instead;
   * undefined when it names one. Plan (diff, foreseeCreate) and apply (one()) give this sentence.
   */
  problem(value: string, setting: Setting, found = this.resolve(value)): string | undefined {
    if (found.length === 1 && found[0]!.ref.type !== 'OpaqueNetwork') return undefined;
    if (typeof setting === 'function') setting = setting();
    if (found.length === 1)
      return `vSphere port group "${value}" is an NSX opaque network, which shipshape does not attach VMs to: set ${setting} to a port group of a standard or distributed switch`;
    if (found.length === 0)
      return `vSphere port group "${value}" not found in datacenter ${this.datacenter}: check ${setting}; write a port group's name, or its path below the datacenter's network folder (Prod/VLAN-100), with a "/" inside a name as %2f`;
    const each = found.map((e) => {
      const unique = this.resolve(this.spell(e)).length === 1;
      const d = this.describe(e);
      return unique ? d : `${d.slice(0, -1)}: not told apart from the others by any name; rename one in vCenter)`;
    });
    const first = found.map((e) => this.spell(e)).find((s) => this.resolve(s).length === 1);
    return `vSphere port group "${value}" is ambiguous in datacenter ${this.datacenter}: ${found.length} port groups have that name: ${each.join(', ')}; set ${setting} to the path of the one you mean${first ? `, e.g. portgroup: ${first}` : ''}`;
  }
}

/** The manifest's port group against a VM's network: the same, another, or a value naming no one port group. */
export type PortgroupCheck = { same: true } | { same: false; refused?: string };

/**
 * Compares the manifest's port group with the VM's network (what its NIC's backing names) as far
 * as `idx` knows: undefined when it cannot tell (no index for the datacenter). A value that names
 * several port groups, or none, or an NSX opaque network other than the VM's, is refused with what
 * to write (`setting`: the key that holds it).
 *
 * A value that could name the VM's own port group by another reading (README: "Port groups") but
 * resolves to a different one is refused too, never a move: `VLAN-100` names a standard `VLAN-100`
 * at the network folder's root by path, while a VM an admin migrated to the distributed
 * `Prod/VLAN-100` was, when names were compared, where the manifest meant. Moving its NIC back would
 * cut its network on a scheduled apply; the operator writes the path that says which one.
 */
export function checkPortgroup(
  idx: NetworkIndex | undefined,
  value: string,
  haveId: string | undefined,
  setting: Setting,
): PortgroupCheck | undefined {
  if (!idx) return undefined;
  const found = idx.resolve(value);
  const have = idx.byIdOf(haveId);
  // On the opaque network the manifest names: nothing to do (shipshape only refuses to attach to one).
  if (found.length === 1 && have === found[0]) return { same: true };
  const problem = idx.problem(value, setting, found);
  if (problem) return { same: false, refused: problem };
  if (!have || !idx.readings(value).has(have)) return { same: false };
  const s = typeof setting === 'function' ? setting() : setting;
  const there = idx.spell(have);
  const other = idx.spell(found[0]!);
  // The other one's own spelling may be this same value (a root path is also a bare name): then
  // no value moves the VM there apart from this one, and a move is the operator's to make in vCenter.
  const move = idx.readings(other).has(have)
    ? `to move it to ${other}, move its NIC in vCenter`
    : `portgroup: ${other} moves it`;
  return {
    same: false,
    refused: `vSphere port group "${value}" in datacenter ${idx.datacenter}: the VM is on ${idx.describe(have)}, the manifest's value names ${idx.describe(found[0]!)}; write the path you mean in ${s} (portgroup: ${there} keeps it where it is; ${move})`,
  };
}

/**
 * The key a refusal names, or a function giving it: called only for a value that names no one port
 * group (where a site file sets a key is found by reading the files again, site-keys.ts).
 */
export type Setting = string | (() => string);

/**
 * Which key holds a system's port group and where it is set: its own `network.portgroup` (its file's
 * line), or the site's `vms.portgroup` (the site file's line, with `root`).
 */
export const portgroupSetting =
  (system: Pick<DesiredSystem, 'network' | 'sources'>, root?: SitePlace): (() => string) =>
  () => {
    if (system.network.portgroup !== undefined) {
      const src = system.sources['network.portgroup'];
      return `network.portgroup${src ? ` at ${formatSource(src)}` : ''}`;
    }
    const at = setAt(root, 'vms.portgroup');
    return at ? `vms.portgroup at ${at}` : 'vms.portgroup in shipshape.yaml';
  };
