/**
 * What a real vCenter has that vcsim's default model does not: a datacenter inside a folder
 * (Europe/DC0, a common way to organise many datacenters; named by its path, or the error says
 * which path to write: for the site's, observe stops; for a system's placement, the plan blocks that
 * system), and a task that fails with
 * TaskInProgress because another task holds the VM (vCenter-like mode: a task rule).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateJournal } from '../../src/engine/journal';
import { findByInventoryPath, retrieveObjects, runTask } from '../../src/providers/vsphere/inventory';
import { child, ref, text, toRef } from '../../src/providers/vsphere/soap/xml';
import { applyVms } from '../helpers/vsphere-apply';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { adminClient, ctxFor, makeTemplates, secret, siteFor, systemNamed, vmsOf } from '../helpers/vsphere-site';
import { SIM_MODES, simControl, startVcsim, type Vcsim } from '../helpers/vcsim';

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  let root: string;

  beforeAll(async () => {
    sim = await startVcsim({ mode });
    await makeTemplates(sim, ['tpl-debian12', 'tpl-rocky9']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vs-real-'));
    // Move DC0 into a folder of the root folder, as sites with many datacenters do.
    const c = adminClient(sim);
    try {
      const sc = await c.serviceContent();
      const europe = toRef(
        child(await c.call('CreateFolder', ref('_this', sc.rootFolder) + text('name', 'Europe')), 'returnval'),
      )!;
      const dc = (await findByInventoryPath(c, 'DC0'))!;
      await runTask(c, 'MoveIntoFolder_Task', ref('_this', europe) + ref('list', dc), {
        timeoutMs: 30_000,
        what: 'move DC0 into Europe',
      });
      expect(await findByInventoryPath(c, 'Europe/DC0')).toEqual(dc);
    } finally {
      await c.logout();
    }
  }, 300_000);
  afterAll(async () => {
    await sim?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a datacenter in a folder: the VM is created there and the next plan is a noop, not a replace', async () => {
    const site = siteFor(sim, root, { datacenter: 'Europe/DC0' });
    const journal = new CreateJournal(path.join(root, 'journal-dc'));
    const want = [systemNamed('web-01')];
    const first = await applyVms(site, want, journal);
    expect(first.report.outcomes.filter((o) => o.status !== 'ok')).toEqual([]);
    const again = await applyVms(site, want, journal);
    const vm = again.plan.actions.find((a) => a.system === 'web-01')!;
    expect({ action: vm.action, changes: vm.changes }).toEqual({ action: 'noop', changes: [] });
  }, 180_000);

  it('a datastore and a port group named as ESXi and admins name them (`datastore1 (1)`, `VLAN-100 (Prod)`): the VM is created on them and the next plan is a noop', async () => {
    // A host's second local datastore as ESXi names it, and a port group named as admins do.
    const c = adminClient(sim);
    try {
      const host = (await findByInventoryPath(c, 'Europe/DC0/host/DC0_C0/DC0_C0_H0'))!;
      const [h] = await retrieveObjects(c, [host], [{ type: 'HostSystem', paths: ['configManager.datastoreSystem'] }]);
      const dss = toRef(h!.props.get('configManager.datastoreSystem'))!;
      const dir = fs.mkdtempSync(path.join(root, 'ds-'));
      await c.call('CreateLocalDatastore', ref('_this', dss) + text('name', 'datastore1 (1)') + text('path', dir));
      const dvs = (await findByInventoryPath(c, 'Europe/DC0/network/DVS0'))!;
      await runTask(
        c,
        'AddDVPortgroup_Task',
        ref('_this', dvs) + `<spec>${text('name', 'VLAN-100 (Prod)')}${text('type', 'earlyBinding')}</spec>`,
        { timeoutMs: 30_000, what: 'add port group' },
      );
    } finally {
      await c.logout();
    }
    const site = siteFor(sim, root, {
      datacenter: 'Europe/DC0',
      datastore: 'datastore1 (1)',
      portgroup: 'VLAN-100 (Prod)',
    });
    const journal = new CreateJournal(path.join(root, 'journal-names'));
    const want = [systemNamed('names-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:15' } })];
    const first = await applyVms(site, want, journal);
    expect(first.report.outcomes.filter((o) => o.status !== 'ok')).toEqual([]);
    const again = await applyVms(site, want, journal);
    const vm = again.plan.actions.find((a) => a.system === 'names-01')!;
    expect({ action: vm.action, changes: vm.changes }).toEqual({ action: 'noop', changes: [] });
  }, 180_000);

  it('a datacenter in a folder named as the vSphere Client shows it: the error gives the path to write', async () => {
    const p = new VsphereProvider({ config: vmsOf(siteFor(sim, root)), secret });
    try {
      await expect(p.observe(ctxFor(siteFor(sim, root)))).rejects.toThrow(
        /vSphere datacenter "DC0" not found at https:\/\/127\.0\.0\.1:\d+: it is in a folder; set vms\.datacenter: Europe\/DC0$/,
      );
    } finally {
      await p.close();
    }
    // With the repo's shipshape.yaml, the error says where it sets the datacenter.
    const repo = fs.mkdtempSync(path.join(root, 'repo-'));
    fs.writeFileSync(path.join(repo, 'shipshape.yaml'), 'spec:\n  vms:\n    datacenter: DC0\n');
    const q = new VsphereProvider({ config: vmsOf(siteFor(sim, repo)), secret });
    try {
      await expect(q.observe(ctxFor(siteFor(sim, repo)))).rejects.toThrow(
        /vSphere datacenter "DC0" not found at https:\/\/127\.0\.0\.1:\d+ \(vms\.datacenter, set at shipshape\.yaml:3:17\): it is in a folder; set vms\.datacenter: Europe\/DC0$/,
      );
    } finally {
      await q.close();
    }
  }, 60_000);

  it('a system placed in a datacenter named as the vSphere Client shows it, when it sits in a folder: its create is blocked in the plan saying the path to write, the others go ahead, apply refuses it on its own', async () => {
    const site = siteFor(sim, root, { datacenter: 'Europe/DC0' });
    const journal = new CreateJournal(path.join(root, 'journal-dc-name'));
    const lost = (n: number) =>
      systemNamed(`dcname-0${n}`, {
        placement: { datacenter: 'DC0' },
        sources: { 'placement.datacenter': { file: `systems/dcname-0${n}.yaml`, line: 6, col: 17 } },
        network: { net: 'dev-net', ip: 'auto', mac: `00:50:56:01:02:2${n}` },
      });
    const fine = systemNamed('dcname-09', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:29' } });
    const sentence = (n: number) =>
      `vSphere datacenter "DC0" not found (placement.datacenter, set at systems/dcname-0${n}.yaml:6:17): it is in a folder; set placement.datacenter: Europe/DC0`;
    const want = [lost(1), fine];
    const r = await applyVms(site, want, journal, { systems: want });
    const vm = (s: string) => r.plan.actions.find((a) => a.system === s && a.kind === 'vm')!;
    expect({
      action: vm('dcname-01').action,
      refusal: vm('dcname-01').refusal,
      blocked: vm('dcname-01').blocked,
    }).toEqual({
      action: 'create',
      refusal: 'placement-missing',
      blocked: `placement: ${sentence(1)}`,
    });
    expect(vm('dcname-09')).toMatchObject({ action: 'create' });
    expect(vm('dcname-09').blocked).toBeUndefined();
    expect(Object.fromEntries(r.report.outcomes.map((o) => [o.system, o.status]))).toEqual({
      'dcname-01': 'blocked',
      'dcname-09': 'ok',
    });
    // Apply refuses it on its own (the plan did not see it, or the datacenter went since).
    const p = new VsphereProvider({ config: vmsOf(site), secret });
    try {
      const sys = lost(1);
      const made = await p
        .create(sys, p.desired(sys, { ip: '', mac: sys.network.mac })!, { ip: '', mac: sys.network.mac }, ctxFor(site))
        .catch((e: unknown) => e);
      expect(made).toMatchObject({ refusal: 'placement-missing', outcome: 'refused', message: sentence(1) });
    } finally {
      await p.close();
    }
    // What to write is read once per observe, whatever the number of systems naming a missing datacenter.
    const trips = async (systems: ReturnType<typeof lost>[]) => {
      const q = new VsphereProvider({ config: vmsOf(site), secret, systems });
      try {
        return (await q.observe(ctxFor(site))).roundTrips;
      } finally {
        await q.close();
      }
    };
    expect(await trips([lost(1), lost(2), lost(3), lost(4)])).toBe(await trips([lost(1)]));
  }, 180_000);

  if (mode === 'vcenter-like')
    it('TaskInProgress on power-on (another task holds the VM): waited out and retried, the create succeeds', async () => {
      const site = siteFor(sim, root, { datacenter: 'Europe/DC0' });
      const journal = new CreateJournal(path.join(root, 'journal-busy'));
      await simControl(sim, 'task-rule', {
        method: 'PowerOnVM_Task',
        name: 'web-02',
        fault: 'TaskInProgress',
        count: 1,
      });
      const want = [systemNamed('web-02', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:04' } })];
      const { report } = await applyVms(site, want, journal);
      expect(report.outcomes.filter((o) => o.status !== 'ok')).toEqual([]);
      const again = await applyVms(site, want, journal);
      expect(again.plan.actions.find((a) => a.system === 'web-02')!.action).toBe('noop');
    }, 180_000);

  if (mode === 'vcenter-like')
    it('NoPermission on the clone: one line naming the VM, the privilege and the object; not retried; the next run creates it', async () => {
      const site = siteFor(sim, root, { datacenter: 'Europe/DC0' });
      const journal = new CreateJournal(path.join(root, 'journal-perm'));
      await simControl(sim, 'task-rule', {
        method: 'CloneVM_Task',
        name: 'web-03',
        fault: 'NoPermission',
        fields: { privilegeId: 'VirtualMachine.Provisioning.Clone', objectType: 'Folder', object: 'group-v3' },
        count: 1,
      });
      const want = [systemNamed('web-03', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:05' } })];
      const first = await applyVms(site, want, journal);
      const failed = first.report.outcomes.filter((o) => o.status !== 'ok');
      expect(failed).toHaveLength(1);
      const line = JSON.stringify(failed[0]);
      expect(line).toContain('clone web-03 from template tpl-debian12');
      expect(line).toContain('Permission to perform this operation was denied.');
      expect(line).toContain('lacks the privilege VirtualMachine.Provisioning.Clone on Folder:group-v3');
      expect(first.report.journalLeft).toEqual([]);
      const second = await applyVms(site, want, journal);
      expect(second.plan.actions.find((a) => a.system === 'web-03')!.action).toBe('create');
      expect(second.report.ok).toBe(true);
    }, 180_000);

  it('a template in a folder of its own: named by the vSphere Client name, the error gives the path; with the path, the clone works', async () => {
    const c = adminClient(sim);
    try {
      const vmFolder = (await findByInventoryPath(c, 'Europe/DC0/vm'))!;
      const folder = toRef(
        child(await c.call('CreateFolder', ref('_this', vmFolder) + text('name', 'Templates')), 'returnval'),
      )!;
      const tpl = (await findByInventoryPath(c, 'Europe/DC0/vm/tpl-rocky9'))!;
      await runTask(c, 'MoveIntoFolder_Task', ref('_this', folder) + ref('list', tpl), {
        timeoutMs: 30_000,
        what: 'move tpl-rocky9 into Templates',
      });
    } finally {
      await c.logout();
    }
    const want = [
      systemNamed('db-01', { os: 'rocky9', network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:06' } }),
    ];
    const byName = siteFor(sim, root, { datacenter: 'Europe/DC0' });
    const first = await applyVms(byName, want, new CreateJournal(path.join(root, 'journal-tpl1')));
    // The plan already knows (observe's read lists the templates with their folders): blocked, nothing cloned.
    const blocked = first.plan.actions.find((a) => a.system === 'db-01' && a.kind === 'vm');
    expect([blocked?.refusal, blocked?.blocked]).toEqual([
      'template-missing',
      'os: vSphere template "Europe/DC0/vm/tpl-rocky9" not found (vms.templates.rocky9); it is below the VM folder as Templates/tpl-rocky9: set vms.templates.rocky9 to that path',
    ]);
    expect(first.report.outcomes.find((o) => o.system === 'db-01')?.status).toBe('blocked');
    const byPath = siteFor(sim, root, {
      datacenter: 'Europe/DC0',
      templates: { debian12: 'tpl-debian12', rocky9: 'Templates/tpl-rocky9' },
    });
    const journal = new CreateJournal(path.join(root, 'journal-tpl2'));
    expect((await applyVms(byPath, want, journal)).report.ok).toBe(true);
    expect((await applyVms(byPath, want, journal)).plan.actions.find((a) => a.system === 'db-01')!.action).toBe('noop');
  }, 180_000);
});
