/**
 * Port groups as real vCenters hold them: in folders of the datacenter's network folder
 * (`Prod/VLAN-100`), distributed port groups of switches in those folders, one name in two folders,
 * and a name with `/` (vCenter stores `VLAN 10/24` as `VLAN 10%2f24`; vcsim stores names as given,
 * so the setup gives it the name vCenter would store). A VM is created on each and the next plan is
 * a noop; a bare name two port groups share is blocked by the plan, naming the paths to write; a
 * network folder renamed shows in the next plan by its new path, with the VM's devices from the cache.
 * A VM an admin migrated to a distributed port group of the name a standard one at the folder's root
 * has is refused, never moved back; a VM on an NSX opaque network its manifest names is a noop, and a
 * new VM on one is refused by the plan (vcsim's `-nsx 1`: an OpaqueNetwork `DC0_NSX0`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateJournal } from '../../src/engine/journal';
import type { VimClient } from '../../src/providers/vsphere/client';
import { findByInventoryPath, retrieveObjects, runTask } from '../../src/providers/vsphere/inventory';
import { child, childText, children, ref, text, toRef, type MoRef } from '../../src/providers/vsphere/soap/xml';
import { serialize, withChild } from '../../src/providers/vsphere/specs';
import { applyVms } from '../helpers/vsphere-apply';
import { adminClient, makeTemplates, siteFor, systemNamed } from '../helpers/vsphere-site';
import { SIM_MODES, startVcsim, type Vcsim } from '../helpers/vcsim';

const task = (what: string) => ({ timeoutMs: 30_000, what });

/** A distributed switch in `folder` with the cluster's hosts as members, and its port groups. */
async function switchWith(c: VimClient, folder: MoRef, name: string, hosts: MoRef[], portgroups: string[]) {
  const made = await runTask(
    c,
    'CreateDVS_Task',
    ref('_this', folder) + `<spec><configSpec xsi:type="VMwareDVSConfigSpec">${text('name', name)}</configSpec></spec>`,
    task(`create ${name}`),
  );
  const dvs = toRef(made)!;
  const members = hosts.map((h) => `<host>${text('operation', 'add')}${ref('host', h)}</host>`).join('');
  await runTask(
    c,
    'ReconfigureDvs_Task',
    ref('_this', dvs) + `<spec xsi:type="VMwareDVSConfigSpec">${members}</spec>`,
    task(`add hosts to ${name}`),
  );
  for (const pg of portgroups)
    await runTask(
      c,
      'AddDVPortgroup_Task',
      ref('_this', dvs) + `<spec>${text('name', pg)}${text('type', 'earlyBinding')}</spec>`,
      task(`add ${pg}`),
    );
}

/** What the VM's first NIC's backing names: the port group key or the network reference. */
async function nicOf(c: VimClient, name: string): Promise<{ type?: string; id?: string }> {
  const vm = (await findByInventoryPath(c, `DC0/vm/shipshape/${name}`))!;
  const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['config.hardware.device'] }]);
  const nic = children(o!.props.get('config.hardware.device')).find((d) => childText(d, 'macAddress') !== undefined)!;
  const backing = child(nic, 'backing');
  const key = childText(child(backing, 'port'), 'portgroupKey');
  return {
    type: backing?.xsiType,
    id: key ?? toRef(child(backing, 'network'))?.value ?? childText(backing, 'opaqueNetworkId'),
  };
}

/** What an admin does in the vSphere Client: the VM's first NIC onto another backing. */
async function moveNic(c: VimClient, name: string, backing: string) {
  const vm = (await findByInventoryPath(c, `DC0/vm/shipshape/${name}`))!;
  const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['config.hardware.device'] }]);
  const nic = children(o!.props.get('config.hardware.device')).find((d) => childText(d, 'macAddress') !== undefined)!;
  const node = withChild(nic, { name: 'backing', attrs: {}, text: '', children: [], xsiType: 'placeholder' }, [
    'key',
    'deviceInfo',
  ]);
  const device = serialize({ ...node, name: 'device' }).replace(/<backing xsi:type="placeholder"><\/backing>/, backing);
  await runTask(
    c,
    'ReconfigVM_Task',
    ref('_this', vm) + `<spec><deviceChange>${text('operation', 'edit')}${device}</deviceChange></spec>`,
    task(`move the NIC of ${name}`),
  );
}

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  let root: string;
  let c: VimClient;
  let hosts: MoRef[];
  const at = async (p: string) => (await findByInventoryPath(c, `DC0/network/${p}`))?.value;

  beforeAll(async () => {
    sim = await startVcsim({ mode, args: ['-nsx', '1'] });
    await makeTemplates(sim, ['tpl-debian12', 'tpl-rocky9']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vs-net-'));
    c = adminClient(sim);
    const net = (await findByInventoryPath(c, 'DC0/network'))!;
    const folder = async (name: string) =>
      toRef(child(await c.call('CreateFolder', ref('_this', net) + text('name', name)), 'returnval'))!;
    const [prod, test] = [await folder('Prod'), await folder('Test')];
    const cluster = (await findByInventoryPath(c, 'DC0/host/DC0_C0'))!;
    const [cl] = await retrieveObjects(c, [cluster], [{ type: 'ClusterComputeResource', paths: ['host'] }]);
    hosts = children(cl!.props.get('host')).map((n) => toRef(n)!);
    // A standard port group moved into a folder; a switch per folder, both with a VLAN-100.
    const vmNetwork = (await findByInventoryPath(c, 'DC0/network/VM Network'))!;
    await runTask(c, 'MoveIntoFolder_Task', ref('_this', prod) + ref('list', vmNetwork), task('move VM Network'));
    await switchWith(c, prod, 'DSwitch-Prod', hosts, ['VLAN-100', 'VLAN 10%2f24']);
    await switchWith(c, test, 'DSwitch-Test', hosts, ['VLAN-100']);
    // NSX segments may share a name in one folder (vcsim allows it for names starting `NSX-`):
    // one on DVS0 and one on a second switch, both directly in the network folder.
    const dvs0 = (await findByInventoryPath(c, 'DC0/network/DVS0'))!;
    await runTask(
      c,
      'AddDVPortgroup_Task',
      ref('_this', dvs0) + `<spec>${text('name', 'NSX-web')}${text('type', 'earlyBinding')}</spec>`,
      task('add NSX-web to DVS0'),
    );
    await switchWith(c, net, 'DSwitch-B', hosts, ['NSX-web']);
  }, 300_000);
  afterAll(async () => {
    await c?.logout();
    await sim?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const vm = (name: string, portgroup: string, mac: string) =>
    systemNamed(name, { network: { net: 'dev-net', ip: 'auto', mac, portgroup } });

  it('a distributed port group in a network subfolder, by its path: the NIC is on it and the next plan is a noop', async () => {
    const site = siteFor(sim, root);
    const journal = new CreateJournal(path.join(root, 'journal-dvpg'));
    const want = [vm('net-01', 'Prod/VLAN-100', '00:50:56:01:03:01')];
    const first = await applyVms(site, want, journal);
    expect(first.report.outcomes.filter((o) => o.status !== 'ok')).toEqual([]);
    expect(await nicOf(c, 'net-01')).toEqual({
      type: 'VirtualEthernetCardDistributedVirtualPortBackingInfo',
      id: await at('Prod/VLAN-100'),
    });
    const again = await applyVms(site, want, journal);
    const a = again.plan.actions.find((x) => x.system === 'net-01')!;
    expect({ action: a.action, changes: a.changes }).toEqual({ action: 'noop', changes: [] });
    // Moved to the other folder's VLAN-100: planned from the path observe shows, applied, then a noop.
    const moved = [vm('net-01', 'Test/VLAN-100', '00:50:56:01:03:01')];
    const third = await applyVms(site, moved, journal);
    const u = third.plan.actions.find((x) => x.system === 'net-01')!;
    expect(u.changes.map((ch) => [ch.path, ch.from, ch.to])).toEqual([['portgroup', 'Prod/VLAN-100', 'Test/VLAN-100']]);
    expect(third.report.ok).toBe(true);
    expect((await nicOf(c, 'net-01')).id).toBe(await at('Test/VLAN-100'));
    expect((await applyVms(site, moved, journal)).plan.actions.find((x) => x.system === 'net-01')!.action).toBe('noop');
  }, 180_000);

  it('a standard port group in a network subfolder, by its path and by its bare name: a noop either way', async () => {
    const site = siteFor(sim, root);
    const journal = new CreateJournal(path.join(root, 'journal-std'));
    const byPath = [vm('net-02', 'Prod/VM Network', '00:50:56:01:03:02')];
    expect((await applyVms(site, byPath, journal)).report.ok).toBe(true);
    expect(await nicOf(c, 'net-02')).toEqual({
      type: 'VirtualEthernetCardNetworkBackingInfo',
      id: await at('Prod/VM Network'),
    });
    expect((await applyVms(site, byPath, journal)).plan.actions.find((x) => x.system === 'net-02')!.action).toBe(
      'noop',
    );
    const byName = [vm('net-02', 'VM Network', '00:50:56:01:03:02')];
    expect((await applyVms(site, byName, journal)).plan.actions.find((x) => x.system === 'net-02')!.action).toBe(
      'noop',
    );
  }, 180_000);

  it('a name with `/` as the vSphere Client shows it (`VLAN 10/24`): created on it, a noop, and a noop by its stored path too', async () => {
    const site = siteFor(sim, root, { portgroup: 'VLAN 10/24' });
    const journal = new CreateJournal(path.join(root, 'journal-slash'));
    const want = [systemNamed('net-03', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:03:03' } })];
    expect((await applyVms(site, want, journal)).report.ok).toBe(true);
    expect((await nicOf(c, 'net-03')).id).toBe(await at('Prod/VLAN 10%2f24'));
    expect((await applyVms(site, want, journal)).plan.actions.find((x) => x.system === 'net-03')!.action).toBe('noop');
    const stored = siteFor(sim, root, { portgroup: 'Prod/VLAN 10%2f24' });
    expect((await applyVms(stored, want, journal)).plan.actions.find((x) => x.system === 'net-03')!.action).toBe(
      'noop',
    );
  }, 180_000);

  it('two port groups of one name in one folder (NSX segments): named through the switch, created on it, a noop', async () => {
    const site = siteFor(sim, root);
    const journal = new CreateJournal(path.join(root, 'journal-nsx'));
    const want = [vm('net-06', 'DSwitch-B/NSX-web', '00:50:56:01:03:06')];
    expect((await applyVms(site, want, journal)).report.ok).toBe(true);
    const dvsB = (await findByInventoryPath(c, 'DC0/network/DSwitch-B'))!;
    const pgs = await retrieveObjects(c, [dvsB], [{ type: dvsB.type, paths: ['portgroup'] }]);
    const onB = children(pgs[0]!.props.get('portgroup')).map((n) => n.text);
    expect(onB).toContain((await nicOf(c, 'net-06')).id);
    expect((await applyVms(site, want, journal)).plan.actions.find((x) => x.system === 'net-06')!.action).toBe('noop');
  }, 180_000);

  const AMBIGUOUS =
    'vSphere port group "VLAN-100" is ambiguous in datacenter DC0: 2 port groups have that name: Prod/VLAN-100 (distributed, switch DSwitch-Prod), Test/VLAN-100 (distributed, switch DSwitch-Test); set network.portgroup to the path of the one you mean, e.g. portgroup: Prod/VLAN-100';

  it('a bare name two folders share (`VLAN-100`): the plan blocks the create with the paths to write, and no VM is made', async () => {
    const site = siteFor(sim, root);
    const journal = new CreateJournal(path.join(root, 'journal-ambiguous'));
    const { plan, report } = await applyVms(site, [vm('net-04', 'VLAN-100', '00:50:56:01:03:04')], journal);
    const a = plan.actions.find((x) => x.system === 'net-04' && x.kind === 'vm')!;
    expect({ action: a.action, refusal: a.refusal, blocked: a.blocked }).toEqual({
      action: 'create',
      refusal: 'portgroup-name',
      blocked: `portgroup: ${AMBIGUOUS}`,
    });
    expect(report.ok).toBe(false);
    expect(await findByInventoryPath(c, 'DC0/vm/shipshape/net-04')).toBeUndefined();
  }, 180_000);

  it('an existing VM whose manifest names it by an ambiguous bare name: the update is blocked, never a silent noop', async () => {
    const site = siteFor(sim, root);
    const journal = new CreateJournal(path.join(root, 'journal-ambiguous-vm'));
    expect((await applyVms(site, [vm('net-05', 'Prod/VLAN-100', '00:50:56:01:03:05')], journal)).report.ok).toBe(true);
    const { plan } = await applyVms(site, [vm('net-05', 'VLAN-100', '00:50:56:01:03:05')], journal);
    const a = plan.actions.find((x) => x.system === 'net-05' && x.kind === 'vm')!;
    expect({ action: a.action, refusal: a.refusal, blocked: a.blocked }).toEqual({
      action: 'update',
      refusal: 'portgroup-name',
      blocked: `portgroup: ${AMBIGUOUS}`,
    });
    expect((await nicOf(c, 'net-05')).id).toBe(await at('Prod/VLAN-100'));
  }, 180_000);

  it('a network folder renamed: the next plan shows the port group by its new path (the device cache keeps what the NIC names)', async () => {
    const net = (await findByInventoryPath(c, 'DC0/network'))!;
    const lab = toRef(child(await c.call('CreateFolder', ref('_this', net) + text('name', 'Lab')), 'returnval'))!;
    await switchWith(c, lab, 'DSwitch-Lab', hosts, ['VLAN-400']);
    const site = siteFor(sim, root);
    const journal = new CreateJournal(path.join(root, 'journal-rename'));
    const o = { stateDir: path.join(root, 'state-rename') };
    const want = [vm('net-07', 'Lab/VLAN-400', '00:50:56:01:03:07')];
    expect((await applyVms(site, want, journal, o)).report.ok).toBe(true);
    expect((await applyVms(site, want, journal, o)).plan.actions.find((x) => x.system === 'net-07')!.action).toBe(
      'noop',
    );
    await runTask(c, 'Rename_Task', ref('_this', lab) + text('newName', 'Lab 2'), task('rename Lab'));
    const stale = (await applyVms(site, want, journal, o)).plan.actions.find((x) => x.system === 'net-07')!;
    expect(stale.changes.map((ch) => [ch.path, ch.from, ch.to, ch.refusal])).toEqual([
      ['portgroup', 'Lab 2/VLAN-400', 'Lab/VLAN-400', 'portgroup-name'],
    ]);
    expect(stale.blocked).toMatch(
      /vSphere port group "Lab\/VLAN-400" not found in datacenter DC0: check network.portgroup/,
    );
    const renamed = [vm('net-07', 'Lab 2/VLAN-400', '00:50:56:01:03:07')];
    expect((await applyVms(site, renamed, journal, o)).plan.actions.find((x) => x.system === 'net-07')!.action).toBe(
      'noop',
    );
  }, 180_000);

  it('an NSX opaque network: a VM on it whose manifest names it is a noop; a new VM on it is refused by the plan', async () => {
    const site = siteFor(sim, root);
    const journal = new CreateJournal(path.join(root, 'journal-opaque'));
    const nsx = (await findByInventoryPath(c, 'DC0/network/DC0_NSX0'))!;
    const [o] = await retrieveObjects(c, [nsx], [{ type: 'OpaqueNetwork', paths: ['summary'] }]);
    const id = childText(o!.props.get('summary'), 'opaqueNetworkId')!;
    const type = childText(o!.props.get('summary'), 'opaqueNetworkType') ?? 'nsx.LogicalSwitch';
    // The precondition the rest stands on: the simulator gives its NSX network an id (a NIC attached with none would match anything).
    expect(id).toMatch(/^\S+$/);
    expect((await applyVms(site, [vm('net-09', 'Prod/VLAN-100', '00:50:56:01:03:09')], journal)).report.ok).toBe(true);
    // Attached by NSX (or an admin), not by shipshape: its backing names the network's opaqueNetworkId.
    await moveNic(
      c,
      'net-09',
      `<backing xsi:type="VirtualEthernetCardOpaqueNetworkBackingInfo">${text('opaqueNetworkId', id)}${text('opaqueNetworkType', type)}</backing>`,
    );
    expect(await nicOf(c, 'net-09')).toEqual({ type: 'VirtualEthernetCardOpaqueNetworkBackingInfo', id });
    const onNsx = [vm('net-09', 'DC0_NSX0', '00:50:56:01:03:09')];
    const again = await applyVms(site, onNsx, journal);
    const a = again.plan.actions.find((x) => x.system === 'net-09' && x.kind === 'vm')!;
    expect({ action: a.action, changes: a.changes }).toEqual({ action: 'noop', changes: [] });
    expect(again.report.ok).toBe(true);
    // A new VM on it: the plan says what apply would, and nothing is made.
    const { plan, report } = await applyVms(site, [vm('net-10', 'DC0_NSX0', '00:50:56:01:03:10')], journal);
    const n = plan.actions.find((x) => x.system === 'net-10' && x.kind === 'vm')!;
    expect({ action: n.action, refusal: n.refusal, blocked: n.blocked }).toEqual({
      action: 'create',
      refusal: 'portgroup-name',
      blocked:
        'portgroup: vSphere port group "DC0_NSX0" is an NSX opaque network, which shipshape does not attach VMs to: set network.portgroup to a port group of a standard or distributed switch',
    });
    expect(report.ok).toBe(false);
    expect(await findByInventoryPath(c, 'DC0/vm/shipshape/net-10')).toBeUndefined();
  }, 180_000);

  // Last: the standard VLAN-100 it adds at the network folder's root makes the bare `VLAN-100` the
  // tests above find ambiguous name that one by path.
  it('a VM on the distributed Prod/VLAN-100 whose manifest says VLAN-100, a standard port group at the root: refused, the NIC stays', async () => {
    const site = siteFor(sim, root);
    const journal = new CreateJournal(path.join(root, 'journal-migrated'));
    expect((await applyVms(site, [vm('net-08', 'Prod/VLAN-100', '00:50:56:01:03:08')], journal)).report.ok).toBe(true);
    // The standard port group the VM was on before an admin migrated it: on every host's vSwitch0.
    for (const h of hosts) {
      const [hs] = await retrieveObjects(c, [h], [{ type: 'HostSystem', paths: ['configManager.networkSystem'] }]);
      const ns = toRef(hs!.props.get('configManager.networkSystem'))!;
      await c.call(
        'AddPortGroup',
        ref('_this', ns) +
          `<portgrp>${text('name', 'VLAN-100')}${text('vlanId', '100')}${text('vswitchName', 'vSwitch0')}<policy></policy></portgrp>`,
      );
    }
    expect(await at('VLAN-100')).toMatch(/^network-/);
    const { plan, report } = await applyVms(site, [vm('net-08', 'VLAN-100', '00:50:56:01:03:08')], journal);
    const a = plan.actions.find((x) => x.system === 'net-08' && x.kind === 'vm')!;
    expect({ action: a.action, refusal: a.refusal, blocked: a.blocked }).toEqual({
      action: 'update',
      refusal: 'portgroup-name',
      blocked:
        'portgroup: vSphere port group "VLAN-100" in datacenter DC0: the VM is on Prod/VLAN-100 (distributed, switch DSwitch-Prod), the manifest\'s value names VLAN-100 (standard); write the path you mean in network.portgroup (portgroup: Prod/VLAN-100 keeps it where it is; to move it to VLAN-100, move its NIC in vCenter)',
    });
    expect(report.ok).toBe(false);
    expect((await nicOf(c, 'net-08')).id).toBe(await at('Prod/VLAN-100'));
    // The path the refusal offers is a noop.
    const kept = await applyVms(site, [vm('net-08', 'Prod/VLAN-100', '00:50:56:01:03:08')], journal);
    expect(kept.plan.actions.find((x) => x.system === 'net-08')!.action).toBe('noop');
  }, 180_000);
});
