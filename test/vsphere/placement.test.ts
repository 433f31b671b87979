/**
 * Placement against vcsim with two clusters and two datastores (`-cluster 2 -ds 2`): a system placed
 * in the second cluster, a folder of its own and the second datastore is cloned there; a changed
 * cluster, pool host or folder is planned as a live move (no power-off, no replace) and applied with
 * RelocateVM_Task / MoveIntoFolder_Task; another datacenter is planned as a replace. A move to a
 * cluster, pool or host vCenter lacks, a new disk on a datastore it lacks, and another datacenter it
 * lacks are blocked in the plan (placement-missing) with the sentence apply refuses with; the VM stays.
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
import type { FieldChange } from '../../src/engine/contract';
import { applyVms } from '../helpers/vsphere-apply';
import { silentLog } from '../helpers/log';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { adminClient, ctxFor, makeTemplates, secret, siteFor, systemNamed, vmsOf } from '../helpers/vsphere-site';
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

  it('a move to a cluster, pool or host vCenter lacks, or a new disk on a datastore it lacks: the plan blocks the update (placement-missing) with the sentence apply refuses with, and the VM stays', async () => {
    // db-01 runs in DC0_C0 on DC0_C0_H0, folder shipshape, its disk on LocalDS_1 (the test before).
    const here = { cluster: 'DC0_C0', host: 'DC0_C0_H0', folder: 'shipshape' };
    const cases: [DesiredSystem, string, string][] = [
      [
        placed({ ...here, cluster: 'DC0_C9', host: undefined }),
        'placement.cluster',
        'vSphere cluster "DC0/host/DC0_C9" not found (placement.cluster, set at profiles/db.yaml:5:14): fix the name, or make the cluster in vCenter',
      ],
      [
        placed({ ...here, resourcePool: 'no-pool' }),
        'placement.resourcePool',
        'vSphere resource pool "DC0/host/DC0_C0/Resources/no-pool" not found (placement.resourcePool): fix the name, or make the resource pool in vCenter',
      ],
      [
        placed({ ...here, host: 'DC0_C0_H9' }),
        'placement.host',
        'vSphere host "DC0/host/DC0_C0/DC0_C0_H9" not found (placement.host): fix the name, or make the host in vCenter',
      ],
      [
        {
          ...placed(here),
          disks: [{ sizeGiB: 10 }, { sizeGiB: 1, datastore: 'NoSuchDS' }],
        },
        'disks[1]',
        'vSphere datastore "DC0/datastore/NoSuchDS" not found (disks[1].datastore): fix the name, or make the datastore in vCenter',
      ],
    ];
    const before = await whereIs('db-01');
    for (const [sys, path, sentence] of cases) {
      // The plan, through the planner: an update blocked with the refusal's id and code; apply leaves the VM.
      const r = await run([sys]);
      const vm = r.plan.actions.find((a) => a.kind === 'vm')!;
      expect({ action: vm.action, refusal: vm.refusal, code: vm.blockedCode, blocked: vm.blocked }).toEqual({
        action: 'update',
        refusal: 'placement-missing',
        code: 'refused',
        blocked: `${path}: ${sentence}`,
      });
      expect(r.report.outcomes.map((o) => o.status)).toEqual(['blocked']);
      // Handed the changes unrefused (the name went missing after the plan), apply refuses on its own.
      const p = new VsphereProvider({ config: vmsOf(site), secret, systems: [sys] });
      try {
        const obs = await p.observe(ctxFor(site));
        const observed = obs.resources.find((x) => x.system === 'db-01' && x.owned)!;
        const desired = p.desired(sys, { ip: '', mac: sys.network.mac })!;
        const unrefused = p.diff(sys, desired, observed).map(({ refused: _r, refusal: _id, ...c }): FieldChange => c);
        await expect(
          p.update(sys, desired, observed, unrefused, { ip: '', mac: sys.network.mac }, ctxFor(site)),
        ).rejects.toMatchObject({ refusal: 'placement-missing', outcome: 'refused', message: sentence });
      } finally {
        await p.close();
      }
    }
    expect(await whereIs('db-01')).toEqual(before);
  }, 180_000);

  it('another datacenter vCenter lacks: the plan blocks the move (placement-missing), which would be a replace, saying which datacenters there are, and the VM is not destroyed', async () => {
    const elsewhere = systemNamed('db-01', {
      placement: { datacenter: 'DC1', cluster: 'DC0_C0', folder: 'shipshape', datastore: 'LocalDS_1' },
      sources: { 'placement.datacenter': { file: 'systems/db-01.yaml', line: 6, col: 17 } },
    });
    const sentence =
      'vSphere datacenter "DC1" not found (placement.datacenter, set at systems/db-01.yaml:6:17); set placement.datacenter to one of: DC0';
    const before = await whereIs('db-01');
    // Observe looks up every datacenter the systems name (the manifests' systems, as the CLI passes them).
    const r = await applyVms(site, [elsewhere], journal, { systems: [elsewhere] });
    const vm = r.plan.actions.find((a) => a.kind === 'vm')!;
    // Shown as the replace it would be (a reviewer sees a delete waits behind the refusal); blocked, nothing is deleted.
    expect({ action: vm.action, refusal: vm.refusal, blocked: vm.blocked }).toEqual({
      action: 'replace',
      refusal: 'placement-missing',
      blocked: `placement.datacenter: ${sentence}`,
    });
    expect(vm.changes.find((c) => c.path === 'placement.datacenter')).toMatchObject({
      from: 'DC0',
      to: 'DC1',
      forcesReplace: true,
    });
    expect(await whereIs('db-01')).toEqual(before);
    // Apply's create refuses it on its own (the plan's replace would reach it only after the delete): a
    // new system there (db-01's own create would find its VM and converge it instead).
    const fresh = { ...elsewhere, name: 'db-09', network: { ...elsewhere.network, mac: '00:50:56:01:02:39' } };
    const p = new VsphereProvider({ config: vmsOf(site), secret });
    try {
      const resolved = { ip: '', mac: fresh.network.mac };
      const created = await p
        .create(fresh, p.desired(fresh, resolved)!, resolved, ctxFor(site))
        .catch((e: unknown) => e);
      expect(created).toMatchObject({ refusal: 'placement-missing', outcome: 'refused', message: sentence });
    } finally {
      await p.close();
    }
  }, 120_000);
});
