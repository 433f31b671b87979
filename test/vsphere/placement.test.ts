/**
 * Placement against vcsim with two clusters and two datastores (`-cluster 2 -ds 2`): a system placed
 * in the second cluster, a folder of its own and the second datastore is cloned there; a changed
 * cluster, pool host or folder is planned as a live move (no power-off, no replace) and applied with
 * RelocateVM_Task / MoveIntoFolder_Task; another datacenter is planned as a replace.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateJournal } from '../../src/engine/journal';
import type { SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import { retrieveView } from '../../src/providers/vsphere/inventory';
import { toRef } from '../../src/providers/vsphere/soap/xml';
import { parseDevices } from '../../src/providers/vsphere/vm';
import { applyVms } from '../helpers/vsphere-apply';
import { silentLog } from '../helpers/log';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { adminClient, makeTemplates, secret, siteFor, systemNamed, vmsOf } from '../helpers/vsphere-site';
import { SIM_MODES, startVcsim, type Vcsim } from '../helpers/vcsim';

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  let site: SiteConfig;
  let root: string;
  let journal: CreateJournal;

  beforeAll(async () => {
    sim = await startVcsim({ mode, args: ['-cluster', '2', '-ds', '2'] });
    await makeTemplates(sim, ['tpl-debian12']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-placement-'));
    site = siteFor(sim, root);
    journal = CreateJournal.forRepo(path.join(root, 'state'), root, silentLog);
  }, 300_000);
  afterAll(async () => {
    await sim?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Where vCenter says the VM is: its cluster (through its pool), host, folder and disk datastores, by name. */
  async function whereIs(
    name: string,
  ): Promise<{ cluster: string; host: string; folder: string; datastores: string[] }> {
    const c = adminClient(sim);
    try {
      const sc = await c.serviceContent();
      const all = await retrieveView(c, sc.rootFolder, [
        { type: 'VirtualMachine', paths: ['name', 'resourcePool', 'runtime.host', 'parent', 'config.hardware.device'] },
        { type: 'ResourcePool', paths: ['parent'] },
        { type: 'ClusterComputeResource', paths: ['name'] },
        { type: 'HostSystem', paths: ['name'] },
        { type: 'Folder', paths: ['name'] },
      ]);
      const byRef = new Map(all.map((o) => [o.obj.value, o]));
      const vm = all.find((o) => o.obj.type === 'VirtualMachine' && o.props.get('name')?.text === name)!;
      let pool = byRef.get(toRef(vm.props.get('resourcePool'))!.value)!;
      while (pool.obj.type === 'ResourcePool') pool = byRef.get(toRef(pool.props.get('parent'))!.value)!;
      const disks = parseDevices(vm.props.get('config.hardware.device')!, new Map()).disks;
      return {
        cluster: pool.props.get('name')!.text,
        host: byRef.get(toRef(vm.props.get('runtime.host'))!.value)!.props.get('name')!.text,
        folder: byRef.get(toRef(vm.props.get('parent'))!.value)!.props.get('name')!.text,
        datastores: disks.map((d) => d.datastore),
      };
    } finally {
      await c.logout();
    }
  }

  const placed = (over: Partial<DesiredSystem['placement']>): DesiredSystem =>
    systemNamed('db-01', {
      placement: { cluster: 'DC0_C1', host: 'DC0_C1_H0', folder: 'shipshape/db', datastore: 'LocalDS_1', ...over },
      sources: { 'placement.cluster': { file: 'profiles/db.yaml', line: 5, col: 14 } },
    });
  const run = (systems: DesiredSystem[]) => applyVms(site, systems, journal, { systems });

  it('clones into the placement: second cluster, own folder, second datastore; then plans nothing', async () => {
    const first = await run([placed({})]);
    expect(first.report.ok).toBe(true);
    expect(await whereIs('db-01')).toEqual({
      cluster: 'DC0_C1',
      host: 'DC0_C1_H0',
      folder: 'db',
      datastores: ['LocalDS_1'],
    });
    // The CMDB documents the placement's cluster as the VM's host.
    expect(new VsphereProvider({ config: vmsOf(site), secret }).promises(placed({}))).toEqual({ host: 'DC0_C1' });
    const again = await run([placed({})]);
    const vm = again.plan.actions.find((a) => a.kind === 'vm')!;
    expect({ action: vm.action, changes: vm.changes }).toEqual({ action: 'noop', changes: [] });
  }, 120_000);

  it('plans a move to another cluster and host as a live relocation, applies it, and converges', async () => {
    const moved = placed({ cluster: 'DC0_C0', host: 'DC0_C0_H0', folder: 'shipshape' });
    const r = await run([moved]);
    const vm = r.plan.actions.find((a) => a.kind === 'vm')!;
    expect(vm.action).toBe('update');
    expect(vm.changes).toEqual([
      { path: 'placement.cluster', from: 'DC0_C1', to: 'DC0_C0', source: 'profiles/db.yaml:5:14' },
      { path: 'placement.folder', from: 'shipshape/db', to: 'shipshape' },
      { path: 'placement.host', from: 'DC0_C1_H0', to: 'DC0_C0_H0' },
    ]);
    expect(r.report.ok).toBe(true);
    expect(await whereIs('db-01')).toMatchObject({ cluster: 'DC0_C0', host: 'DC0_C0_H0', folder: 'shipshape' });
    const again = await run([moved]);
    expect(again.plan.actions.find((a) => a.kind === 'vm')!.action).toBe('noop');
  }, 120_000);

  it('plans another datacenter as a replace', async () => {
    const r = await applyVms(site, [placed({ datacenter: 'DC1' })], journal, { systems: [placed({})] }).catch(
      (e: Error) => e,
    );
    // The plan is made before anything runs: it says replace, and the create in DC1 fails (vcsim has no DC1).
    expect(r).not.toBeInstanceOf(Error);
    const vm = (r as Awaited<ReturnType<typeof applyVms>>).plan.actions.find((a) => a.kind === 'vm')!;
    expect(vm.action).toBe('replace');
    expect(vm.changes.find((c) => c.path === 'placement.datacenter')).toMatchObject({
      from: 'DC0',
      to: 'DC1',
      forcesReplace: true,
    });
  }, 120_000);
});
