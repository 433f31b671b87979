/** desired()/diff() are pure: what the plan shows for a VM. */
import { systemNamed } from '../../../test/helpers/vsphere-site';
import { desiredVm, diffVm, type VmFields } from './fields';
import { markerOf, parseDevices } from './vm';
import { parseEnvelope, child } from './soap/xml';

const site = {
  datastore: 'LocalDS_0',
  portgroup: 'DC0_DVPG0',
  datacenter: 'DC0',
  cluster: 'DC0_C0',
  resourcePool: 'web',
  folder: 'shipshape',
};
const sys = systemNamed('web-01', { disks: [{ sizeGiB: 10 }, { sizeGiB: 20, datastore: 'LocalDS_1' }] });
const want = desiredVm(sys, { ip: '198.51.100.5', mac: '' }, site)!;
const have = (over: Partial<VmFields>): VmFields => ({ ...want, ...over });

test('desired fields fill the site defaults for datastore and port group', () => {
  expect(want.disks).toEqual([
    { sizeGiB: 10, datastore: 'LocalDS_0' },
    { sizeGiB: 20, datastore: 'LocalDS_1' },
  ]);
  expect(want.portgroup).toBe('DC0_DVPG0');
  expect(desiredVm({ ...sys, state: 'absent' }, { ip: '', mac: '' }, site)).toBeNull();
});

test('an identical VM has no changes', () => {
  expect(diffVm(sys, want, have({}))).toEqual([]);
});

test('CPU on a running VM needs power-off and names its manifest source; on a stopped VM it does not', () => {
  const allowed = { ...sys, lifecycle: { ...sys.lifecycle, powerPolicy: 'allow-poweroff' as const } };
  const running = diffVm(allowed, want, have({ cpu: 1 }));
  expect(running).toEqual([{ path: 'cpu', from: 1, to: 2, source: 'systems/web-01.yaml:7:8', needsPowerOff: true }]);
  // Under powerPolicy: never, the same change is refused: the plan blocks it, as apply would.
  expect(diffVm(sys, want, have({ cpu: 1 }))).toEqual([
    expect.objectContaining({
      path: 'cpu',
      needsPowerOff: true,
      refusal: 'power-policy',
      refused: expect.stringContaining('set lifecycle.powerPolicy: allow-poweroff in systems/web-01.yaml'),
    }),
  ]);
  const stopped = diffVm(sys, want, have({ cpu: 1, power: 'poweredOff' }));
  expect(stopped.find((c) => c.path === 'cpu')!.needsPowerOff).toBeUndefined();
});

test('a new MAC on a running VM needs power-off (the plan says so); on a stopped VM, or one without a NIC yet, it does not', () => {
  const mac = (over: Partial<VmFields>) =>
    diffVm(sys, want, have({ mac: '00:50:56:00:00:99', ...over })).find((c) => c.path === 'mac')!;
  expect(mac({})).toMatchObject({ from: '00:50:56:00:00:99', to: want.mac, needsPowerOff: true });
  expect(mac({ power: 'poweredOff' }).needsPowerOff).toBeUndefined();
  expect(mac({ mac: '' }).needsPowerOff).toBeUndefined();
});

test('growing a disk is a change, shrinking is refused with a reason, a missing disk is added', () => {
  expect(diffVm(sys, want, have({ disks: [{ sizeGiB: 5, datastore: 'LocalDS_0' }, want.disks[1]!] }))).toEqual([
    { path: 'disks[0].sizeGiB', from: 5, to: 10 },
  ]);
  const shrink = diffVm(sys, want, have({ disks: [{ sizeGiB: 50, datastore: 'LocalDS_0' }, want.disks[1]!] }));
  expect(shrink[0]!.refused).toMatch(/cannot shrink to 10 GiB/);
  expect(diffVm(sys, want, have({ disks: [want.disks[0]!] }))).toEqual([
    { path: 'disks[1]', from: null, to: { sizeGiB: 20, datastore: 'LocalDS_1' } },
  ]);
});

test('an extra disk and a datastore move are refused, never planned as changes', () => {
  const extra = diffVm(sys, want, have({ disks: [...want.disks, { sizeGiB: 1, datastore: 'LocalDS_0' }] }));
  expect(extra).toHaveLength(1);
  expect(extra[0]!.refused).toMatch(/never removes disks/);
  expect(
    diffVm(sys, want, have({ disks: [{ sizeGiB: 10, datastore: 'LocalDS_9' }, want.disks[1]!] }))[0]!.refused,
  ).toMatch(/does not move disks/);
});

test('another OS forces a replacement; MAC compares case-insensitively through desired()', () => {
  expect(diffVm(sys, want, have({ os: 'rocky9' }))[0]).toMatchObject({ path: 'os', forcesReplace: true });
  const upper = desiredVm(
    { ...sys, network: { ...sys.network, mac: '00:50:56:AB:CD:EF' } },
    { ip: '', mac: '' },
    site,
  )!;
  expect(upper.mac).toBe('00:50:56:ab:cd:ef');
});

// vcsim appends extraConfig values where vCenter replaces them: the last entry per key wins and an
// empty value means the key was deleted.
test('the marker is read from the last extraConfig entry per key', () => {
  const ec = (pairs: [string, string][]): Map<string, string> => {
    const m = new Map<string, string>();
    for (const [k, v] of pairs) {
      if (v === '') m.delete(k);
      else m.set(k, v);
    }
    return m;
  };
  expect(
    markerOf({
      extraConfig: ec([
        ['shipshape.owner', 'shipshape'],
        ['shipshape.system', 'a'],
        ['shipshape.system', 'b'],
      ]),
    })?.system,
  ).toBe('b');
  expect(
    markerOf({
      extraConfig: ec([
        ['shipshape.owner', 'shipshape'],
        ['shipshape.system', 'a'],
        ['shipshape.system', ''],
      ]),
    }),
  ).toBeUndefined();
});

test('devices: disks with size and datastore, NIC with MAC and port group name, ISO CD-ROM', () => {
  const x =
    parseEnvelope(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><val>
    <VirtualDevice xsi:type="VirtualDisk"><key>2000</key><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds-a] web/web.vmdk</fileName></backing><controllerKey>1000</controllerKey><unitNumber>0</unitNumber><capacityInKB>10485760</capacityInKB><capacityInBytes>10737418240</capacityInBytes></VirtualDevice>
    <VirtualDevice xsi:type="VirtualVmxnet3"><key>4000</key><backing xsi:type="VirtualEthernetCardDistributedVirtualPortBackingInfo"><port><switchUuid>u</switchUuid><portgroupKey>dvportgroup-13</portgroupKey></port></backing><controllerKey>100</controllerKey><unitNumber>7</unitNumber><addressType>manual</addressType><macAddress>00:50:56:AA:BB:CC</macAddress></VirtualDevice>
    <VirtualDevice xsi:type="VirtualCdrom"><key>3000</key><backing xsi:type="VirtualCdromIsoBackingInfo"><fileName>[ds-a] iso/d12.iso</fileName></backing><controllerKey>200</controllerKey><unitNumber>0</unitNumber></VirtualDevice>
  </val></soapenv:Body></soapenv:Envelope>`);
  const d = parseDevices(child(x, 'val')!, new Map([['dvportgroup-13', 'DC0_DVPG0']]));
  expect(d.disks.map((k) => [k.sizeKiB, k.datastore])).toEqual([[10485760, 'ds-a']]);
  expect(d.nics.map((n) => [n.mac, n.network])).toEqual([['00:50:56:aa:bb:cc', 'DC0_DVPG0']]);
  expect(d.cdroms[0]!.iso).toBe('[ds-a] iso/d12.iso');
});

test('placement: the site defaults, a profile or system override (a cluster of its own starts at its root pool), datastore for disks that name none', () => {
  expect(want.placement).toEqual({ datacenter: 'DC0', cluster: 'DC0_C0', resourcePool: 'web', folder: 'shipshape' });
  const placed = systemNamed('db-01', {
    placement: { cluster: 'DC0_C1', folder: 'prod/db', host: 'DC0_C1_H0', datastore: 'LocalDS_1' },
    disks: [{ sizeGiB: 10 }, { sizeGiB: 20, datastore: 'LocalDS_0' }],
  });
  const w = desiredVm(placed, { ip: '', mac: '' }, site)!;
  expect(w.placement).toEqual({
    datacenter: 'DC0',
    cluster: 'DC0_C1',
    resourcePool: '',
    folder: 'prod/db',
    host: 'DC0_C1_H0',
  });
  expect(w.disks.map((d) => d.datastore)).toEqual(['LocalDS_1', 'LocalDS_0']);
});

test('placement changes: cluster, pool, folder and a pinned host are live moves; another datacenter forces a replace; an unread placement is not compared', () => {
  const sources = { ...sys.sources, 'placement.cluster': { file: 'profiles/db.yaml', line: 4, col: 12 } };
  const moved = { ...sys, sources, placement: { cluster: 'DC0_C1', host: 'DC0_C1_H0' } };
  const w = desiredVm(moved, { ip: '', mac: '' }, site)!;
  const here = { datacenter: 'DC0', cluster: 'DC0_C0', resourcePool: 'web', folder: 'other' };
  expect(diffVm(moved, w, have({ placement: here }), 'DC0_C0_H0')).toEqual([
    { path: 'placement.cluster', from: 'DC0_C0', to: 'DC0_C1', source: 'profiles/db.yaml:4:12' },
    { path: 'placement.resourcePool', from: 'web', to: '' },
    { path: 'placement.folder', from: 'other', to: 'shipshape' },
    { path: 'placement.host', from: 'DC0_C0_H0', to: 'DC0_C1_H0' },
  ]);
  expect(diffVm(sys, want, have({ placement: { ...want.placement!, datacenter: 'DC1' } }))).toEqual([
    { path: 'placement.datacenter', from: 'DC1', to: 'DC0', forcesReplace: true },
  ]);
  // Without a pinned host the host DRS chose is not a change.
  expect(diffVm(sys, want, have({}), 'DC0_C0_H1')).toEqual([]);
  const { placement: _unread, ...unread } = want;
  expect(diffVm(sys, want, unread)).toEqual([]);
});
