/**
 * Port group names over a network folder as vCenter holds it: paths, bare names, switch paths,
 * names vCenter stores escaped, and the error for a name that names several.
 */
import type { ObjectContent } from './inventory';
import { checkPortgroup, NetworkIndex, unescapeName } from './networks';
import { child, parseEnvelope, type XNode } from './soap/xml';
import { networkNamesOf, parseDevices } from './vm';

const leaf = (text: string, type?: string): XNode => ({ name: 'val', attrs: type ? { type } : {}, children: [], text });
const obj = (type: string, value: string, props: Record<string, XNode>): ObjectContent => ({
  obj: { type, value },
  props: new Map(Object.entries(props)),
});
const folder = (id: string, name: string, parent: string, parentType = 'Folder') =>
  obj('Folder', id, { name: leaf(name), parent: leaf(parent, parentType) });
const std = (id: string, name: string, parent: string) =>
  obj('Network', id, { name: leaf(name), parent: leaf(parent, 'Folder') });
const dvpg = (id: string, name: string, parent: string, dvs: string) =>
  obj('DistributedVirtualPortgroup', id, {
    name: leaf(name),
    parent: leaf(parent, 'Folder'),
    key: leaf(id),
    'config.distributedVirtualSwitch': leaf(dvs, 'VmwareDistributedVirtualSwitch'),
  });
const sw = (id: string, name: string) => obj('VmwareDistributedVirtualSwitch', id, { name: leaf(name) });
/** An NSX opaque network: its summary (OpaqueNetworkSummary) holds the id a NIC's backing names. */
const opaque = (id: string, name: string, parent: string, opaqueId: string) =>
  obj('OpaqueNetwork', id, {
    name: leaf(name),
    parent: leaf(parent, 'Folder'),
    summary: {
      name: 'val',
      attrs: {},
      xsiType: 'OpaqueNetworkSummary',
      text: '',
      children: [
        { ...leaf(name), name: 'name' },
        { ...leaf(opaqueId), name: 'opaqueNetworkId' },
        { ...leaf('nsx.LogicalSwitch'), name: 'opaqueNetworkType' },
      ],
    },
  });

/** As observe reads it: the network folder (parent: the datacenter) and folders below it. */
const index = NetworkIndex.fromObjects('DC0', [
  folder('group-n1', 'network', 'datacenter-1', 'Datacenter'),
  folder('group-n2', 'Prod', 'group-n1'),
  folder('group-n3', 'Test', 'group-n1'),
  std('network-1', 'VM Network', 'group-n1'),
  sw('dvs-1', 'DSwitch-Prod'),
  sw('dvs-2', 'DSwitch-Test'),
  sw('dvs-3', 'DVS0'),
  sw('dvs-4', 'DSwitch-B'),
  dvpg('dvportgroup-1', 'VLAN-100', 'group-n2', 'dvs-1'),
  dvpg('dvportgroup-2', 'VLAN-100', 'group-n3', 'dvs-2'),
  dvpg('dvportgroup-3', 'VLAN 10%2f24', 'group-n2', 'dvs-1'),
  dvpg('dvportgroup-4', 'NSX-web', 'group-n1', 'dvs-3'),
  dvpg('dvportgroup-5', 'NSX-web', 'group-n1', 'dvs-4'),
  std('network-2', 'Shared', 'group-n1'),
  dvpg('dvportgroup-6', 'Shared', 'group-n1', 'dvs-3'),
]);

const ids = (value: string) => index.resolve(value).map((e) => e.ref.value);

it('a path below the network folder names one port group; a bare name names it when it is the only one', () => {
  expect(ids('Prod/VLAN-100')).toEqual(['dvportgroup-1']);
  expect(ids('Test/VLAN-100')).toEqual(['dvportgroup-2']);
  expect(ids('VM Network')).toEqual(['network-1']);
  expect(ids('Prod/VM Network')).toEqual([]);
});

it('a bare name of port groups in two folders names both, and the error says which paths to write', () => {
  expect(ids('VLAN-100')).toEqual(['dvportgroup-1', 'dvportgroup-2']);
  expect(() => index.one('VLAN-100', 'network.portgroup')).toThrow(
    'vSphere port group "VLAN-100" is ambiguous in datacenter DC0: 2 port groups have that name: Prod/VLAN-100 (distributed, switch DSwitch-Prod), Test/VLAN-100 (distributed, switch DSwitch-Test); set network.portgroup to the path of the one you mean, e.g. portgroup: Prod/VLAN-100',
  );
});

it('a name with `/`: as the vSphere Client shows it when bare, with %2f (either case) in a path', () => {
  expect(unescapeName('VLAN 10%2f24 %25 %5C')).toBe('VLAN 10/24 % \\');
  expect(ids('VLAN 10/24')).toEqual(['dvportgroup-3']);
  expect(ids('VLAN 10%2F24')).toEqual(['dvportgroup-3']);
  expect(ids('Prod/VLAN 10%2f24')).toEqual(['dvportgroup-3']);
  expect(ids('Prod/VLAN 10/24')).toEqual([]);
  expect(index.spell(index.byIdOf('dvportgroup-3')!)).toBe('Prod/VLAN 10%2f24');
});

it('port groups of one name in one folder (NSX segments) are told apart by their switch', () => {
  expect(ids('NSX-web')).toEqual(['dvportgroup-4', 'dvportgroup-5']);
  expect(ids('DSwitch-B/NSX-web')).toEqual(['dvportgroup-5']);
  expect(index.spell(index.byIdOf('dvportgroup-4')!)).toBe('DVS0/NSX-web');
  expect(() => index.one('NSX-web', 'vms.portgroup')).toThrow(
    /2 port groups have that name: DVS0\/NSX-web \(distributed, switch DVS0\), DSwitch-B\/NSX-web \(distributed, switch DSwitch-B\); set vms.portgroup to the path of the one you mean, e.g. portgroup: DVS0\/NSX-web$/,
  );
});

it('a standard and a distributed port group of one name in one folder: the path is the standard one', () => {
  expect(ids('Shared')).toEqual(['network-2']);
  expect(ids('DVS0/Shared')).toEqual(['dvportgroup-6']);
  expect(index.spell(index.byIdOf('dvportgroup-6')!)).toBe('DVS0/Shared');
});

it('an unknown name is an error that says how names are written', () => {
  expect(() => index.one('VLAN-200', 'vms.portgroup')).toThrow(
    'vSphere port group "VLAN-200" not found in datacenter DC0: check vms.portgroup; write a port group\'s name, or its path below the datacenter\'s network folder (Prod/VLAN-100), with a "/" inside a name as %2f',
  );
});

it("checkPortgroup: the VM's network by what its NIC's backing names, whichever way the manifest writes it", () => {
  const check = (value: string, id: string) => checkPortgroup(index, value, id, 'network.portgroup');
  expect(check('Prod/VLAN-100', 'dvportgroup-1')).toEqual({ same: true });
  expect(check('VLAN 10/24', 'dvportgroup-3')).toEqual({ same: true });
  expect(check('Test/VLAN-100', 'dvportgroup-1')).toEqual({ same: false });
  // Ambiguous even though one of them is the VM's: refused with what to write, never a silent noop.
  expect(check('VLAN-100', 'dvportgroup-1')).toEqual({
    same: false,
    refused: expect.stringContaining(
      'set network.portgroup to the path of the one you mean, e.g. portgroup: Prod/VLAN-100',
    ),
  });
  expect(checkPortgroup(undefined, 'VLAN-100', 'dvportgroup-1', 'network.portgroup')).toBeUndefined();
});

describe("a value that could name the VM's own port group but resolves to another: refused, never a move", () => {
  // An admin migrated the VM from the standard VLAN-100 at the network folder's root to the
  // distributed Prod/VLAN-100; the manifest still says VLAN-100 (the path of the standard one).
  const migrated = NetworkIndex.fromObjects('DC0', [
    folder('group-n1', 'network', 'datacenter-1', 'Datacenter'),
    folder('group-n2', 'Prod', 'group-n1'),
    std('network-9', 'VLAN-100', 'group-n1'),
    sw('dvs-1', 'DSwitch'),
    dvpg('dvportgroup-9', 'VLAN-100', 'group-n2', 'dvs-1'),
  ]);

  it('a standard port group at the root and the VM on a distributed one of that name in a folder', () => {
    expect(checkPortgroup(migrated, 'VLAN-100', 'dvportgroup-9', 'network.portgroup at systems/a.yaml:4:16')).toEqual({
      same: false,
      refused:
        'vSphere port group "VLAN-100" in datacenter DC0: the VM is on Prod/VLAN-100 (distributed, switch DSwitch), the manifest\'s value names VLAN-100 (standard); write the path you mean in network.portgroup at systems/a.yaml:4:16 (portgroup: Prod/VLAN-100 keeps it where it is; to move it to VLAN-100, move its NIC in vCenter)',
    });
    // The path the refusal offers is a noop; the VM on the standard one is a noop too.
    expect(checkPortgroup(migrated, 'Prod/VLAN-100', 'dvportgroup-9', 'network.portgroup')).toEqual({ same: true });
    expect(checkPortgroup(migrated, 'VLAN-100', 'network-9', 'network.portgroup')).toEqual({ same: true });
  });

  it('a standard and a distributed port group of one name in one folder: the VM on the distributed one', () => {
    const r = checkPortgroup(index, 'Shared', 'dvportgroup-6', 'vms.portgroup');
    expect(r).toEqual({
      same: false,
      refused:
        'vSphere port group "Shared" in datacenter DC0: the VM is on DVS0/Shared (distributed, switch DVS0), the manifest\'s value names Shared (standard); write the path you mean in vms.portgroup (portgroup: DVS0/Shared keeps it where it is; to move it to Shared, move its NIC in vCenter)',
    });
    expect(checkPortgroup(index, 'DVS0/Shared', 'dvportgroup-6', 'vms.portgroup')).toEqual({ same: true });
    // Moving the other way is named by a value the standard one cannot be read from: a move.
    expect(checkPortgroup(index, 'DVS0/Shared', 'network-2', 'vms.portgroup')).toEqual({ same: false });
  });

  it('a path naming a port group of the same name in another folder is a move the operator wrote', () => {
    expect(checkPortgroup(index, 'Test/VLAN-100', 'dvportgroup-1', 'network.portgroup')).toEqual({ same: false });
    expect(checkPortgroup(index, 'DSwitch-B/NSX-web', 'dvportgroup-4', 'network.portgroup')).toEqual({ same: false });
  });
});

describe('NSX opaque networks', () => {
  const nsx = NetworkIndex.fromObjects('DC0', [
    folder('group-n1', 'network', 'datacenter-1', 'Datacenter'),
    std('network-1', 'VM Network', 'group-n1'),
    opaque('network-o1', 'seg-web', 'group-n1', '6f4c7d2e-0000-4000-8000-000000000001'),
  ]);
  const SENTENCE =
    'vSphere port group "seg-web" is an NSX opaque network, which shipshape does not attach VMs to: set network.portgroup to a port group of a standard or distributed switch';

  it('a value naming one is a portgroup-name problem for plan and apply alike', () => {
    expect(nsx.problem('seg-web', 'network.portgroup')).toBe(SENTENCE);
    expect(() => nsx.one('seg-web', 'network.portgroup')).toThrow(SENTENCE);
    expect(checkPortgroup(nsx, 'seg-web', 'network-1', 'network.portgroup')).toEqual({
      same: false,
      refused: SENTENCE,
    });
  });

  it('a VM already on it (its NIC names the opaqueNetworkId) whose manifest names it is a noop, shown by its path', () => {
    const x =
      parseEnvelope(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><val>
      <VirtualDevice xsi:type="VirtualVmxnet3"><key>4000</key><backing xsi:type="VirtualEthernetCardOpaqueNetworkBackingInfo"><opaqueNetworkId>6f4c7d2e-0000-4000-8000-000000000001</opaqueNetworkId><opaqueNetworkType>nsx.LogicalSwitch</opaqueNetworkType></backing><controllerKey>100</controllerKey><unitNumber>7</unitNumber><addressType>manual</addressType><macAddress>00:50:56:AA:BB:CC</macAddress></VirtualDevice>
    </val></soapenv:Body></soapenv:Envelope>`);
    const names = networkNamesOf([opaque('network-o1', 'seg-web', 'group-n1', '6f4c7d2e-0000-4000-8000-000000000001')]);
    const nic = parseDevices(child(x, 'val')!, names).nics[0]!;
    expect([nic.network, nic.networkId]).toEqual(['seg-web', '6f4c7d2e-0000-4000-8000-000000000001']);
    expect(checkPortgroup(nsx, 'seg-web', nic.networkId, 'network.portgroup')).toEqual({ same: true });
    expect(nsx.spell(nsx.byIdOf(nic.networkId)!)).toBe('seg-web');
    // Named to move it to a standard port group: a move.
    expect(checkPortgroup(nsx, 'VM Network', nic.networkId, 'network.portgroup')).toEqual({ same: false });
  });
});
