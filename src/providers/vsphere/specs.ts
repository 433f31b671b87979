/**
 * Request specs: CloneVM_Task arguments and VirtualMachineConfigSpec for ReconfigVM_Task, in XSD
 * element order (vCenter validates it). Devices are edited by sending back the node as read,
 * with only the changed children replaced: vcsim panics on an edit without deviceInfo, and
 * vCenter keeps whatever we do not mention.
 */
import { escapeXml, ref, text, typed, type MoRef, type XNode } from './soap/xml';
import type { FieldChange } from '../../engine/contract';
import type { VmDiskFields, VmFields } from './fields';
import type { Placement } from './placement';
import type { VmDevices } from './vm';
import type { DesiredSystem } from '../../manifest/types';

const KIB_PER_GIB = 1024 * 1024;

/** A port group for a NIC's backing; `id` is what the backing names (as VmNic.networkId). */
export type NetworkTarget =
  | { kind: 'dvpg'; name: string; key: string; switchUuid: string; id: string }
  | { kind: 'network'; name: string; ref: MoRef; id: string };

export function serialize(n: XNode): string {
  const attrs = Object.entries(n.attrs)
    .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
    .join('');
  const xt = n.xsiType ? ` xsi:type="${escapeXml(n.xsiType)}"` : '';
  const inner = n.children.length ? n.children.map(serialize).join('') : escapeXml(n.text);
  return `<${n.name}${xt}${attrs}>${inner}</${n.name}>`;
}

function leaf(name: string, value: string): XNode {
  return { name, attrs: {}, children: [], text: value };
}

/** Replaces child `name`, or inserts it after the last present of `after` (XSD order). */
export function withChild(n: XNode, c: XNode, after: string[]): XNode {
  const kids = [...n.children];
  const i = kids.findIndex((k) => k.name === c.name);
  if (i >= 0) kids[i] = c;
  else {
    let at = 0;
    kids.forEach((k, j) => {
      if (after.includes(k.name)) at = j + 1;
    });
    kids.splice(at, 0, c);
  }
  return { ...n, children: kids };
}

const DEVICE_ORDER = ['key', 'deviceInfo', 'backing', 'connectable', 'slotInfo', 'controllerKey', 'unitNumber'];

export function extraConfig(entries: [string, string][]): string {
  return entries
    .map(([k, v]) => `<extraConfig>${text('key', k)}${typed('value', 'xsd:string', escapeXml(v))}</extraConfig>`)
    .join('');
}

export function nicBacking(net: NetworkTarget): string {
  if (net.kind === 'dvpg') {
    return typed(
      'backing',
      'VirtualEthernetCardDistributedVirtualPortBackingInfo',
      `<port>${text('switchUuid', net.switchUuid)}${text('portgroupKey', net.key)}</port>`,
    );
  }
  return typed(
    'backing',
    'VirtualEthernetCardNetworkBackingInfo',
    text('deviceName', net.name) + ref('network', net.ref),
  );
}

function backingNode(net: NetworkTarget): XNode {
  if (net.kind === 'dvpg') {
    return {
      name: 'backing',
      xsiType: 'VirtualEthernetCardDistributedVirtualPortBackingInfo',
      attrs: {},
      text: '',
      children: [
        {
          name: 'port',
          attrs: {},
          text: '',
          children: [leaf('switchUuid', net.switchUuid), leaf('portgroupKey', net.key)],
        },
      ],
    };
  }
  return {
    name: 'backing',
    xsiType: 'VirtualEthernetCardNetworkBackingInfo',
    attrs: {},
    text: '',
    children: [
      leaf('deviceName', net.name),
      { name: 'network', attrs: { type: net.ref.type }, children: [], text: net.ref.value },
    ],
  };
}

export interface CloneArgs {
  template: MoRef;
  folder: MoRef;
  name: string;
  datastore: MoRef;
  pool: MoRef;
  /** `placement.host`: the host the clone is made on (otherwise DRS or the pool's cluster picks one). */
  host?: MoRef;
  /**
   * The clone's final configuration (VirtualMachineCloneSpec.config, a VirtualMachineConfigSpec):
   * annotation, CPU, memory, the ownership marker (so the VM is never born unmarked), and the
   * first NIC's MAC and port group as an edit of the template's NIC (cloneWant).
   */
  config: ReconfigWant & { annotation: string; cpu: number; memoryMiB: number };
  /** The template's devices, as read: the config's NIC edit sends the template's NIC back with the changes. */
  devices?: VmDevices;
}

export function cloneBody(a: CloneArgs): string {
  const config = reconfigSpec(a.devices, { ...a.config, growDisks: [], addDisks: [] }).replace(
    /^<spec>|<\/spec>$/g,
    '',
  );
  return (
    ref('_this', a.template) +
    ref('folder', a.folder) +
    text('name', a.name) +
    `<spec><location>${ref('datastore', a.datastore)}${ref('pool', a.pool)}${a.host ? ref('host', a.host) : ''}</location>${text('template', false)}` +
    `<config>${config}</config>` +
    `${text('powerOn', false)}</spec>`
  );
}

/** A VirtualMachineRelocateSpec moving the VM to a pool (and host), in XSD order (folder, datastore, pool, host). */
export function relocateSpec(pool: MoRef, host?: MoRef): string {
  return `<spec>${ref('pool', pool)}${host ? ref('host', host) : ''}</spec>`;
}

export interface ReconfigWant {
  annotation?: string;
  cpu?: number;
  memoryMiB?: number;
  /** Disk index → new size (grow only; callers refuse shrinking before). */
  growDisks: { index: number; sizeKiB: number }[];
  addDisks: { sizeKiB: number; datastore: string; datastoreRef: MoRef }[];
  nic?: { mac?: string; network?: NetworkTarget };
  /** Boot ISO for the installer, `[datastore] path/file.iso`. */
  iso?: { fileName: string; datastoreRef?: MoRef };
  extraConfig: [string, string][];
}

function nextUnits(dev: VmDevices, ctl: number, n: number): number[] {
  const used = new Set(dev.unitsByController.get(ctl) ?? []);
  const out: number[] = [];
  for (let u = 0; out.length < n && u < 64; u++) if (u !== 7 && !used.has(u)) out.push(u); // 7: the SCSI controller itself
  return out;
}

export function reconfigSpec(dev: VmDevices | undefined, w: ReconfigWant): string {
  const changes: string[] = [];
  const edit = (n: XNode): string =>
    `<deviceChange>${text('operation', 'edit')}${serialize({ ...n, name: 'device' })}</deviceChange>`;
  for (const g of w.growDisks) {
    const d = dev!.disks[g.index]!;
    let node = withChild(d.node, leaf('capacityInKB', String(Math.round(g.sizeKiB))), [...DEVICE_ORDER]);
    if (d.node.children.some((c) => c.name === 'capacityInBytes'))
      node = withChild(node, leaf('capacityInBytes', String(Math.round(g.sizeKiB) * 1024)), ['capacityInKB']);
    changes.push(edit(node));
  }
  if (w.addDisks.length) {
    const ctl = dev?.diskController ?? 1000;
    const units = nextUnits(
      dev ?? { disks: [], nics: [], cdroms: [], unitsByController: new Map() },
      ctl,
      w.addDisks.length,
    );
    w.addDisks.forEach((a, i) => {
      changes.push(
        `<deviceChange>${text('operation', 'add')}${text('fileOperation', 'create')}<device xsi:type="VirtualDisk">${text('key', -101 - i)}` +
          typed(
            'backing',
            'VirtualDiskFlatVer2BackingInfo',
            text('fileName', `[${a.datastore}]`) +
              ref('datastore', a.datastoreRef) +
              text('diskMode', 'persistent') +
              text('thinProvisioned', true),
          ) +
          `${text('controllerKey', ctl)}${text('unitNumber', units[i])}${text('capacityInKB', Math.round(a.sizeKiB))}</device></deviceChange>`,
      );
    });
  }
  if (w.nic) {
    const nic = dev?.nics[0];
    if (nic) {
      let node = nic.node;
      if (w.nic.network) node = withChild(node, backingNode(w.nic.network), ['key', 'deviceInfo']);
      if (w.nic.mac) {
        node = withChild(node, leaf('addressType', 'manual'), DEVICE_ORDER);
        node = withChild(node, leaf('macAddress', w.nic.mac), [...DEVICE_ORDER, 'addressType']);
      }
      changes.push(edit(node));
    } else if (w.nic.network) {
      changes.push(
        `<deviceChange>${text('operation', 'add')}<device xsi:type="VirtualVmxnet3">${text('key', -200)}${nicBacking(w.nic.network)}` +
          `<connectable>${text('startConnected', true)}${text('allowGuestControl', true)}${text('connected', true)}</connectable>` +
          (w.nic.mac
            ? text('addressType', 'manual') + text('macAddress', w.nic.mac)
            : text('addressType', 'generated')) +
          '</device></deviceChange>',
      );
    }
  }
  if (w.iso) {
    const cd = dev?.cdroms[0];
    const backing: XNode = {
      name: 'backing',
      xsiType: 'VirtualCdromIsoBackingInfo',
      attrs: {},
      text: '',
      children: [
        leaf('fileName', w.iso.fileName),
        ...(w.iso.datastoreRef
          ? [
              {
                name: 'datastore',
                attrs: { type: w.iso.datastoreRef.type },
                children: [],
                text: w.iso.datastoreRef.value,
              },
            ]
          : []),
      ],
    };
    const connectable: XNode = {
      name: 'connectable',
      attrs: {},
      text: '',
      children: [leaf('startConnected', 'true'), leaf('allowGuestControl', 'false'), leaf('connected', 'true')],
    };
    if (cd)
      changes.push(
        edit(
          withChild(withChild(cd.node, backing, ['key', 'deviceInfo']), connectable, ['key', 'deviceInfo', 'backing']),
        ),
      );
    else
      changes.push(
        `<deviceChange>${text('operation', 'add')}${serialize({ name: 'device', xsiType: 'VirtualCdrom', attrs: {}, text: '', children: [leaf('key', '-300'), backing, connectable, leaf('controllerKey', '200'), leaf('unitNumber', String(nextUnits(dev!, 200, 1)[0] ?? 0))] })}</deviceChange>`,
      );
  }
  const body =
    text('annotation', w.annotation) +
    text('numCPUs', w.cpu) +
    text('memoryMB', w.memoryMiB) +
    changes.join('') +
    extraConfig(w.extraConfig);
  return body ? `<spec>${body}</spec>` : '';
}

/**
 * What to reconfigure for the changes diff() found, with site names resolved to references. A new
 * disk's datastore is the VM's datacenter's; one vCenter lacks is refused naming where `system` sets it.
 */
export async function wantFor(
  changes: FieldChange[],
  desired: VmFields,
  p: Placement,
  extraConfig: [string, string][],
  iso?: string,
  system?: DesiredSystem,
): Promise<ReconfigWant> {
  const want: ReconfigWant = { growDisks: [], addDisks: [], extraConfig };
  for (const ch of changes) {
    if (ch.path === 'cpu') want.cpu = desired.cpu;
    else if (ch.path === 'memoryMiB') want.memoryMiB = desired.memoryMiB;
    else if (ch.path === 'annotation') want.annotation = desired.annotation;
    else if (ch.path === 'mac') want.nic = { ...want.nic, mac: desired.mac };
    else if (ch.path === 'portgroup')
      want.nic = { ...want.nic, network: await p.network(desired.portgroup, desired.placement?.datacenter) };
    else if (/^disks\[\d+\]\.sizeGiB$/.test(ch.path))
      want.growDisks.push({ index: Number(/\d+/.exec(ch.path)![0]), sizeKiB: (ch.to as number) * KIB_PER_GIB });
    else if (/^disks\[\d+\]$/.test(ch.path)) {
      const d = ch.to as VmDiskFields;
      const index = Number(/\d+/.exec(ch.path)![0]);
      want.addDisks.push({
        sizeKiB: d.sizeGiB * KIB_PER_GIB,
        datastore: d.datastore,
        datastoreRef: await p.datastore(d.datastore, desired.placement?.datacenter, system, index),
      });
    }
  }
  if (iso) {
    const ds = /^\[([^\]]+)\]/.exec(iso)?.[1];
    want.iso = { fileName: iso, ...(ds ? { datastoreRef: await p.datastore(ds, undefined, system, 'iso') } : {}) };
  }
  return want;
}

/**
 * The clone's configuration for `desired`, against the template's fields: annotation, CPU, memory
 * and marker always; the NIC where the template's MAC or port group differs. Disks (growing the
 * template's, adding more) are left to the reconfigure after the clone: a clone's disks are files
 * vCenter makes during the clone, and an edit or add that names them before they exist is what
 * vcsim gets wrong when clones of one template run side by side (README: concurrent clones).
 */
export async function cloneWant(
  desired: VmFields,
  template: { mac: string; portgroupId: string },
  p: Placement,
  marker: [string, string][],
  system?: DesiredSystem,
): Promise<CloneArgs['config']> {
  const nic: NonNullable<ReconfigWant['nic']> = {};
  if (desired.mac && template.mac !== desired.mac) nic.mac = desired.mac;
  if (desired.portgroup) {
    // Compared by what the backing names: a manifest may name the template's port group by path or name.
    const net = await p.network(desired.portgroup, desired.placement?.datacenter, system);
    if (net.id !== template.portgroupId) nic.network = net;
  }
  return {
    annotation: desired.annotation,
    cpu: desired.cpu,
    memoryMiB: desired.memoryMiB,
    growDisks: [],
    addDisks: [],
    ...(nic.mac || nic.network ? { nic } : {}),
    extraConfig: marker,
  };
}
