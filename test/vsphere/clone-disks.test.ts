/**
 * Each clone has a disk of its own, as on vCenter. vcsim 0.24.2 handed a clone the template's device
 * objects (vmware/govmomi#2706), so the next clone of the template rewrote the disk path the earlier
 * clone showed; a disk grow of the earlier VM (sent as read) then pointed it at the later VM's files,
 * and destroying one VM deleted the other's disk: every later grow of the survivor failed with
 * FileNotFound. The random-edit convergence test met it as a disk grow failing three rounds in a row
 * (seed 666768, edit 141). The harness now keeps clones apart (tools/vcsim/clonedisks.go). It also gives
 * every clone an instanceUuid of its own: vcsim derived it from the VM's path, so a VM made again
 * under the same name came back with the old one, and an install record could not tell them apart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateJournal } from '../../src/engine/journal';
import type { SiteConfig } from '../../src/manifest/site';
import { findByInventoryPath, retrieveObjects, runTask } from '../../src/providers/vsphere/inventory';
import { reconfigSpec } from '../../src/providers/vsphere/specs';
import { parseDevices } from '../../src/providers/vsphere/vm';
import { childText, ref } from '../../src/providers/vsphere/soap/xml';
import { applyVms } from '../helpers/vsphere-apply';
import { adminClient, cloneUnmarked, makeTemplates, siteFor, systemNamed } from '../helpers/vsphere-site';
import { SIM_MODES, startVcsim, type Vcsim } from '../helpers/vcsim';

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  let site: SiteConfig;
  let root: string;

  beforeAll(async () => {
    sim = await startVcsim({ mode });
    await makeTemplates(sim, ['tpl-debian12']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vs-clonedisks-'));
    site = siteFor(sim, root);
  }, 120_000);
  afterAll(async () => {
    await sim?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** The VM at `inventoryPath` (a clone in the site's folder, or the template) and its devices as read. */
  async function devicesOf(inventoryPath: string) {
    const c = adminClient(sim);
    try {
      const vm = await findByInventoryPath(c, inventoryPath);
      if (!vm) throw new Error(`no VM at ${inventoryPath}`);
      const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['config.hardware.device'] }]);
      return { vm, devices: parseDevices(o!.props.get('config.hardware.device')!, new Map()) };
    } finally {
      await c.logout();
    }
  }

  /** The file name of each disk of the VM at `inventoryPath`. */
  const diskFiles = async (inventoryPath: string): Promise<string[]> =>
    (await devicesOf(inventoryPath)).devices.disks.map(
      (d) =>
        childText(
          d.node.children.find((n) => n.name === 'backing'),
          'fileName',
        ) ?? '',
    );

  async function task(method: string, body: string): Promise<void> {
    const c = adminClient(sim);
    try {
      await runTask(c, method, body, { timeoutMs: 30_000, what: method });
    } finally {
      await c.logout();
    }
  }

  test('two clones of one template each get a disk in their own folder; destroying one leaves the other growable', async () => {
    const before = await diskFiles('DC0/vm/tpl-debian12');
    await cloneUnmarked(sim, 'twin-a');
    await cloneUnmarked(sim, 'twin-b');
    expect(await diskFiles('DC0/vm/shipshape/twin-a')).toEqual([expect.stringMatching(/^\[LocalDS_0\] twin-a\//)]);
    expect(await diskFiles('DC0/vm/shipshape/twin-b')).toEqual([expect.stringMatching(/^\[LocalDS_0\] twin-b\//)]);
    expect(await diskFiles('DC0/vm/tpl-debian12')).toEqual(before);
    const b = await devicesOf('DC0/vm/shipshape/twin-b');
    await task('Destroy_Task', ref('_this', b.vm));
    // A grow of twin-a's disk, sent as read (as shipshape and govc vm.disk.change do).
    const a = await devicesOf('DC0/vm/shipshape/twin-a');
    const grow = reconfigSpec(a.devices, {
      growDisks: [{ index: 0, sizeKiB: 2 * 1024 * 1024 }],
      addDisks: [],
      extraConfig: [],
    });
    await task('ReconfigVM_Task', ref('_this', a.vm) + grow);
    expect((await devicesOf('DC0/vm/shipshape/twin-a')).devices.disks.map((d) => d.sizeKiB)).toEqual([2 * 1024 * 1024]);
  }, 120_000);

  test('a VM destroyed and cloned again under the same name gets another instanceUuid, as vCenter gives it', async () => {
    const uuidOf = async (name: string): Promise<string> => {
      const c = adminClient(sim);
      try {
        const vm = (await findByInventoryPath(c, `DC0/vm/shipshape/${name}`))!;
        const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['config.instanceUuid'] }]);
        return o!.props.get('config.instanceUuid')!.text;
      } finally {
        await c.logout();
      }
    };
    await cloneUnmarked(sim, 'again');
    const first = await uuidOf('again');
    await task('Destroy_Task', ref('_this', (await devicesOf('DC0/vm/shipshape/again')).vm));
    await cloneUnmarked(sim, 'again');
    expect(await uuidOf('again')).not.toBe(first);
  }, 120_000);

  test('systems cloned in one apply, half of them destroyed, the rest grow their disks: apply succeeds, nothing to do after', async () => {
    const names = ['grow-0', 'grow-1', 'grow-2', 'grow-3', 'grow-4', 'grow-5'];
    const sys = (n: string, i: number, sizeGiB: number) =>
      systemNamed(n, {
        disks: [{ sizeGiB }],
        network: { net: 'dev-net', ip: 'auto', mac: `00:50:56:06:00:0${i}` },
      });
    const journal = new CreateJournal(path.join(root, 'journal-grow'));
    // One apply clones all of them at once: their clones interleave with each other's converge reads.
    const made = await applyVms(
      site,
      names.map((n, i) => sys(n, i, 10)),
      journal,
      { concurrency: names.length },
    );
    expect(made.report.outcomes.filter((o) => o.status === 'failed' || o.status === 'blocked')).toEqual([]);
    for (const n of names)
      expect([n, await diskFiles(`DC0/vm/shipshape/${n}`)]).toEqual([
        n,
        [expect.stringMatching(new RegExp(`^\\[LocalDS_0\\] ${n}/`))],
      ]);
    const keep = names.filter((_, i) => i % 2 === 0);
    const gone = names.filter((_, i) => i % 2 === 1);
    const tombstones = gone.map((n, i) => ({ ...sys(n, 2 * i + 1, 10), state: 'absent' as const }));
    const removed = await applyVms(site, [...keep.map((n, i) => sys(n, 2 * i, 10)), ...tombstones], journal);
    expect(removed.report.outcomes.filter((o) => o.status === 'failed' || o.status === 'blocked')).toEqual([]);
    const grown = keep.map((n, i) => sys(n, 2 * i, 14));
    const grow = await applyVms(site, [...grown, ...tombstones], journal);
    expect(grow.report.outcomes.filter((o) => o.status === 'failed' || o.status === 'blocked')).toEqual([]);
    const after = await applyVms(site, [...grown, ...tombstones], journal);
    expect(after.plan.actions.filter((a) => a.action !== 'noop').map((a) => `${a.system} ${a.action}`)).toEqual([]);
  }, 300_000);
});
