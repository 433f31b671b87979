/**
 * Observe reads light, and heavy only what changed: against vcsim models of 10 and 1,000 VMs (all
 * carrying shipshape's marker), the round trips of an observe do not grow with the VM count, a
 * second observe with nothing changed reads no device list at all (same fields, from the device
 * cache in the state dir; no annotation or extraConfig either), a VM whose configuration changed is
 * read again (and only that one, marker and annotation included), and a corrupt cache costs one full
 * read, never the run. What the cache does not key on is still seen by the next observe: a move (pool,
 * host, folder), a template flag, a power cycle and a rename done in vCenter, also when vCenter kept
 * the changeVersion.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger, Observation } from '../../src/engine/contract';
import type { VmFields, VmHandle } from '../../src/providers/vsphere/fields';
import { deviceCacheFile } from '../../src/providers/vsphere/device-cache';
import { findByInventoryPath, retrieveObjects, runTask } from '../../src/providers/vsphere/inventory';
import { extraConfig } from '../../src/providers/vsphere/specs';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { ref, text, toRef, type MoRef } from '../../src/providers/vsphere/soap/xml';
import type { DesiredSystem } from '../../src/manifest/types';
import { adminClient, ctxFor, secret, siteFor, systemNamed, vmsOf } from '../helpers/vsphere-site';
import { startVcsim, type Vcsim } from '../helpers/vcsim';

// A page larger than the biggest model: vCenter pages at 500, which adds one round trip per 500
// VMs to both reads; one page each shows what the read costs apart from that.
const PAGE = 2000;

interface Run {
  sim: Vcsim;
  stateDir: string;
  provider(): VsphereProvider;
}

/** `systems`: the site's systems (a pinned host makes observe read which host each VM runs on). */
async function world(vms: number, args: string[] = [], systems?: DesiredSystem[]): Promise<Run> {
  const sim = await startVcsim({ args: ['-vm', String(vms), '-mark', 'debian12', ...args], readyTimeoutMs: 180_000 });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-light-'));
  const site = siteFor(sim, stateDir, { folder: '' });
  return {
    sim,
    stateDir,
    provider: () =>
      new VsphereProvider({ config: vmsOf(site), secret, stateDir, pageSize: PAGE, ...(systems ? { systems } : {}) }),
  };
}

async function observe(r: Run, log?: Logger): Promise<{ obs: Observation<VmFields, VmHandle>; p: VsphereProvider }> {
  const p = r.provider();
  const site = siteFor(r.sim, r.stateDir, { folder: '' });
  const ctx = ctxFor(site);
  const obs = await p.observe(log ? { ...ctx, log } : ctx);
  await p.close();
  return { obs, p };
}

const runs: Run[] = [];
afterAll(async () => {
  for (const r of runs) {
    await r.sim.stop();
    fs.rmSync(r.stateDir, { recursive: true, force: true });
  }
});

test('round trips stay constant from 10 to 1,000 VMs; a second observe with nothing changed reads no device list', async () => {
  const counts: Record<number, { cold: number; warm: number }> = {};
  for (const n of [10, 1000]) {
    const r = await world(n);
    runs.push(r);
    const cold = await observe(r);
    const owned = cold.obs.resources.filter((x) => x.owned);
    expect(owned).toHaveLength(n);
    expect(cold.p.lastObserve).toEqual({ devicesRead: n, fromCache: 0, configsRead: n });
    expect(owned.every((x) => x.handle!.hasDevices && x.fields.disks.length > 0 && x.fields.mac !== '')).toBe(true);

    const warm = await observe(r); // a new provider, as the next run would be: only the state dir is shared
    // …and no annotation or extraConfig either: the light read leaves them out, the cache has them.
    expect(warm.p.lastObserve).toEqual({ devicesRead: 0, fromCache: n, configsRead: 0 });
    // No system pins a host: which host a VM runs on is not read (it is compared only with a pinned host).
    expect(warm.obs.resources.every((x) => x.handle!.host === undefined)).toBe(true);
    const seen = (o: Observation<VmFields, VmHandle>) =>
      o.resources.map((x) => [x.id, x.system, x.owned, x.fields, x.handle!.cdromIso, x.handle!.folder]);
    expect(seen(warm.obs)).toEqual(seen(cold.obs));
    counts[n] = { cold: cold.obs.roundTrips, warm: warm.obs.roundTrips };
    await r.sim.stop();
  }
  expect(counts[1000]).toEqual(counts[10]);
  // The warm observe is the cold one without its device read.
  expect(counts[10]!.warm).toBe(counts[10]!.cold - 1);
}, 600_000);

describe('10 VMs', () => {
  let r: Run;
  beforeAll(async () => {
    r = await world(10);
    runs.push(r);
  }, 180_000);

  test('a VM whose configuration changed is read again, and only that one', async () => {
    const first = await observe(r);
    const target = first.obs.resources.find((x) => x.owned)!;
    const c = adminClient(r.sim);
    await runTask(c, 'ReconfigVM_Task', ref('_this', target.handle!.ref) + '<spec><memoryMB>3072</memoryMB></spec>', {
      timeoutMs: 30_000,
      what: 'test reconfigure',
    });
    await c.logout();
    const next = await observe(r);
    expect(next.p.lastObserve).toEqual({ devicesRead: 1, fromCache: 9, configsRead: 1 });
    expect(next.obs.resources.find((x) => x.id === target.id)!.fields.memoryMiB).toBe(3072);
  }, 120_000);

  test('a corrupt device cache is moved aside with a warning and costs one full read', async () => {
    await observe(r);
    const site = siteFor(r.sim, r.stateDir, { folder: '' });
    const file = deviceCacheFile(r.stateDir, vmsOf(site));
    expect(fs.existsSync(file)).toBe(true);
    fs.writeFileSync(file, '{garbage');
    const warnings: string[] = [];
    const log: Logger = {
      info: () => {},
      debug: () => {},
      error: () => {},
      warn: (o: object | string, m?: string) => void warnings.push(typeof o === 'string' ? o : (m ?? '')),
    };
    const again = await observe(r, log);
    expect(again.p.lastObserve).toEqual({ devicesRead: 10, fromCache: 0, configsRead: 10 });
    expect(warnings.join('\n')).toMatch(/device cache was corrupt .*moved aside/);
    expect(fs.readdirSync(path.dirname(file)).some((f) => f.includes('.corrupt-'))).toBe(true);
    expect((await observe(r)).p.lastObserve).toEqual({ devicesRead: 0, fromCache: 10, configsRead: 0 });
  }, 120_000);

  test('a marker or annotation edited in vCenter is seen by the next observe: only those VMs are read again', async () => {
    const before = await observe(r);
    expect(before.p.lastObserve!.configsRead).toBe(0);
    const [unmarked, annotated] = before.obs.resources.filter((x) => x.owned);
    const c = adminClient(r.sim);
    const reconfigure = (vm: VmHandle, spec: string) =>
      runTask(c, 'ReconfigVM_Task', ref('_this', vm.ref) + `<spec>${spec}</spec>`, { timeoutMs: 30_000, what: 'test' });
    // An empty value removes the key (vCenter; vcsim appends it, and readers take the last entry).
    await reconfigure(unmarked!.handle!, extraConfig([['shipshape.owner', '']]));
    await reconfigure(annotated!.handle!, '<annotation>edited by hand</annotation>');
    await c.logout();
    const next = await observe(r);
    // Two configs read again; the one VM still ours reads its device list, the other eight come from the cache.
    expect(next.p.lastObserve).toEqual({ devicesRead: 1, fromCache: 8, configsRead: 2 });
    const now = (id: string) => next.obs.resources.find((x) => x.id === id)!;
    expect(now(unmarked!.id).owned).toBe(false);
    expect(now(annotated!.id).owned).toBe(true);
    expect(now(annotated!.id).fields.annotation).toBe('edited by hand');
    const after = await observe(r);
    expect(after.p.lastObserve).toEqual({ devicesRead: 0, fromCache: 9, configsRead: 0 });
    expect(after.obs.resources.find((x) => x.id === unmarked!.id)!.owned).toBe(false);
  }, 120_000);
});

describe('two clusters of two hosts: what happens in vCenter between two runs', () => {
  let r: Run;
  beforeAll(async () => {
    // A system that pins a host: observe then reads which host every VM runs on.
    r = await world(
      6,
      ['-cluster', '2', '-host', '2'],
      [systemNamed('pinned', { placement: { cluster: 'DC0_C1', host: 'DC0_C1_H0', folder: '' } })],
    );
    runs.push(r);
  }, 180_000);

  const byName = (o: Observation<VmFields, VmHandle>, name: string) => o.resources.find((x) => x.fields.name === name);
  /** Rewrites the cached changeVersion of `vm` to the one it has now, as if vCenter had not changed it. */
  async function keepChangeVersion(vm: MoRef): Promise<void> {
    const c = adminClient(r.sim);
    const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['config.changeVersion'] }]);
    await c.logout();
    const file = deviceCacheFile(r.stateDir, vmsOf(siteFor(r.sim, r.stateDir, { folder: '' })));
    const body = JSON.parse(fs.readFileSync(file, 'utf8')) as { configs: Record<string, { cv: string }> };
    body.configs[vm.value]!.cv = o!.props.get('config.changeVersion')!.text;
    fs.writeFileSync(file, JSON.stringify(body));
  }

  test('a move, a folder move, a power cycle, a rename and a template flag are seen by the next observe', async () => {
    const first = await observe(r);
    const [moved, filed, cycled, renamed, templated] = first.obs.resources.filter(
      (x) => x.owned && x.fields.placement?.cluster === 'DC0_C0',
    );
    expect(templated).toBeDefined();
    expect((await observe(r)).p.lastObserve).toMatchObject({ devicesRead: 0, configsRead: 0 });

    const c = adminClient(r.sim);
    const task = (method: string, inner: string) => runTask(c, method, inner, { timeoutMs: 30_000, what: method });
    const at = async (p: string) => (await findByInventoryPath(c, p))!;
    await task(
      'RelocateVM_Task',
      ref('_this', moved!.handle!.ref) +
        `<spec>${ref('pool', await at('DC0/host/DC0_C1/Resources'))}${ref('host', await at('DC0/host/DC0_C1/DC0_C1_H1'))}</spec>`,
    );
    const folder = toRef(
      (await c.call('CreateFolder', ref('_this', await at('DC0/vm')) + text('name', 'elsewhere'))).children[0],
    )!;
    await task('MoveIntoFolder_Task', ref('_this', folder) + ref('list', filed!.handle!.ref));
    await task('PowerOffVM_Task', ref('_this', cycled!.handle!.ref));
    await new Promise((res) => setTimeout(res, 1100)); // a boot time of another second
    await task('PowerOnVM_Task', ref('_this', cycled!.handle!.ref));
    await task('Rename_Task', ref('_this', renamed!.handle!.ref) + text('newName', 'renamed-in-vcenter'));
    await task('PowerOffVM_Task', ref('_this', templated!.handle!.ref));
    await c.call('MarkAsTemplate', ref('_this', templated!.handle!.ref));
    await c.logout();

    const next = (await observe(r)).obs;
    const now = (id: string) => next.resources.find((x) => x.id === id);
    expect(now(moved!.id)!.fields.placement).toMatchObject({ cluster: 'DC0_C1', resourcePool: '' });
    expect(now(moved!.id)!.handle!.host).toBe('DC0_C1_H1');
    expect(moved!.handle!.host).toMatch(/^DC0_C0_H/);
    expect(now(filed!.id)!.fields.placement!.folder).toBe('elsewhere');
    expect(now(filed!.id)!.handle!.folder).toBe('elsewhere');
    expect(now(cycled!.id)!.handle!.bootTime).toBeDefined();
    expect(now(cycled!.id)!.handle!.bootTime).not.toBe(cycled!.handle!.bootTime);
    expect(now(renamed!.id)!.fields.name).toBe('renamed-in-vcenter');
    expect(now(templated!.id)).toBeUndefined(); // templates are no systems' VMs
    // Nothing else moved, and the run after it reads nothing again.
    for (const x of first.obs.resources)
      if (![moved, filed, cycled, renamed, templated].includes(x))
        expect(now(x.id)!.fields.placement).toEqual(x.fields.placement);
    const after = await observe(r);
    expect(after.p.lastObserve!.configsRead).toBe(0);
    expect(byName(after.obs, 'renamed-in-vcenter')!.fields.placement).toEqual(now(renamed!.id)!.fields.placement);
    expect(after.obs.resources.find((x) => x.id === templated!.id)).toBeUndefined();
  }, 120_000);

  test('a template flag set or cleared while vCenter kept the changeVersion is still seen', async () => {
    const first = await observe(r);
    const vm = first.obs.resources.find((x) => x.owned && x.fields.power === 'poweredOn')!;
    const c = adminClient(r.sim);
    await runTask(c, 'PowerOffVM_Task', ref('_this', vm.handle!.ref), { timeoutMs: 30_000, what: 'power off' });
    await c.call('MarkAsTemplate', ref('_this', vm.handle!.ref));
    await keepChangeVersion(vm.handle!.ref);
    // The cache says "a VM" at the current changeVersion, but no pool lists it any more.
    expect(byName((await observe(r)).obs, vm.fields.name)).toBeUndefined();

    const pool = (await findByInventoryPath(c, `DC0/host/${vm.fields.placement!.cluster}/Resources`))!;
    await c.call('MarkAsVirtualMachine', ref('_this', vm.handle!.ref) + ref('pool', pool));
    await c.logout();
    await keepChangeVersion(vm.handle!.ref);
    // The cache says "a template" at the current changeVersion, but a pool lists it again.
    const back = byName((await observe(r)).obs, vm.fields.name);
    expect(back).toMatchObject({ id: vm.id, owned: true });
    expect(back!.fields.placement).toEqual(vm.fields.placement);
  }, 120_000);
});
