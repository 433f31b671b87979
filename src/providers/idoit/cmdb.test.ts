/** The `cmdb` provider after the `ip` step, against the i-doit emulator. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../lab/idoit';
import { UNKNOWN, UserError, type Resolved } from '../../engine/contract';
import type { SiteConfig } from '../../manifest/site';
import type { DesiredSystem } from '../../manifest/types';
import type { IdoitClient } from './client';
import { IdoitCmdbProvider } from './cmdb';
import { runStage, testContext, testSite, testSystem } from '../../../test/support/idoit-fixtures';
import { IdoitIpamProvider } from './ipam';
import { createIdoitClient } from './site-client';
import { EMULATED_VERSIONS } from '../../../test/idoit/emulated';

/** Objects that carry the system's marker: the SYSID where the add-on stored it, else the description's claim. */
async function markedObjects(raw: IdoitClient, name: string, status = 'C__RECORD_STATUS__NORMAL'): Promise<any[]> {
  const rows = await raw.call<any[]>('cmdb.objects.read', {
    filter: { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: name, status },
    categories: ['C__CATG__GLOBAL'],
  });
  return rows.filter(
    (r) =>
      r.sysid === `SHIPSHAPE-VM-${name}` ||
      String(r.categories.C__CATG__GLOBAL[0].description).startsWith(`shipshape-system=${name}\n`),
  );
}

const SECRETS: Record<string, string> = {
  '${env:IDOIT_API_KEY}': 'lab-key',
  '${env:IDOIT_USER}': 'shipshape',
  '${env:IDOIT_PASSWORD}': 'pw',
};
const secret = async (r: { ref: string }) => SECRETS[r.ref] ?? '';

describe.each(EMULATED_VERSIONS)('i-doit API add-on %s', (apiVersion) => {
  let dir: string;
  let emu: IdoitEmulator;
  let site: SiteConfig;
  let raw: IdoitClient;

  /** ip stage then cmdb stage, one shared client (one login) as a run does. */
  async function apply(systems: DesiredSystem[]) {
    const client = createIdoitClient(site, secret);
    const ip = new IdoitIpamProvider({ client, site });
    const cmdb = new IdoitCmdbProvider({ client, site });
    const ctx = testContext(site);
    const ipStage = await runStage(ip, systems, ctx);
    const resolved = new Map<string, Resolved>(
      [...ipStage.resolved].map(([k, v]) => [
        k,
        { ...v, mac: systems.find((s) => s.name === k)!.network.mac, host: 'esx-01' },
      ]),
    );
    const cmdbStage = await runStage(cmdb, systems, ctx, resolved);
    await cmdb.close();
    return { ipStage, cmdbStage, ip, cmdb, resolved };
  }

  async function categories(name: string): Promise<Record<string, any>> {
    const id = (await markedObjects(raw, name))[0]?.id;
    const row = (
      await raw.call<any[]>('cmdb.objects.read', {
        filter: { ids: [id] },
        categories: [
          'C__CATG__GLOBAL',
          'C__CATG__CPU',
          'C__CATG__MEMORY',
          'C__CATG__DRIVE',
          'C__CATG__OPERATING_SYSTEM',
          'C__CATG__NETWORK_PORT',
          'C__CATG__VIRTUAL_MACHINE',
          'C__CATG__IP',
        ],
      })
    )[0];
    return row?.categories;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-cmdb-'));
    emu = await startIdoitEmulator({
      stateFile: path.join(dir, 'state.json'),
      apiKey: 'lab-key',
      users: [{ username: 'shipshape', password: 'pw' }],
      nets: [{ title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1' }],
      apiVersion,
      quickPurge: true,
    });
    site = testSite(emu.url, [{ title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1', dnsServers: [] }]);
    raw = createIdoitClient(site, secret);
    await raw.call('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_HOST', title: 'esx-01' });
  });
  afterAll(async () => {
    await raw?.close();
    await emu?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const web = (over: Partial<DesiredSystem> = {}) =>
    testSystem('web-01', { network: { net: 'lab-net', ip: 'auto', mac: '00:50:56:00:10:01' }, ...over });

  it('documents a system in the object the ip step created', async () => {
    const { ipStage, cmdbStage } = await apply([web()]);
    expect(ipStage.created).toEqual(['web-01']);
    // The ip step made the object; the cmdb step found it by its marker and filled it.
    expect(cmdbStage.updated).toEqual(['web-01']);
    expect(await raw.call<unknown[]>('cmdb.objects.read', { filter: { title: 'web-01' } })).toHaveLength(1);
    const c = await categories('web-01');
    expect(c.C__CATG__GLOBAL[0].cmdb_status.title).toBe('in operation');
    expect(c.C__CATG__CPU.map((e: any) => e.cores)).toEqual(['2']);
    expect(c.C__CATG__MEMORY.map((e: any) => [e.capacity.title, e.unit.title])).toEqual([[4, 'GB']]);
    expect(c.C__CATG__DRIVE.map((e: any) => [e.capacity.title, e.unit.title])).toEqual([[40, 'GB']]);
    expect(c.C__CATG__OPERATING_SYSTEM[0].application.title).toBe('Debian 12');
    expect(c.C__CATG__NETWORK_PORT[0]).toMatchObject({
      title: 'eth0',
      mac: '00:50:56:00:10:01',
      addresses: [{ title: '10.1.0.2', type: 'C__CATG__IP' }],
    });
    expect(c.C__CATG__VIRTUAL_MACHINE[0]).toMatchObject({
      virtual_machine: { title: 'Yes' },
      hosts: { title: 'esx-01' },
    });
    expect(c.C__CATG__IP[0]).toMatchObject({
      hostname: 'web-01',
      domain: 'lab.example.org',
      ipv4_address: { ref_title: '10.1.0.2' },
      net: { title: 'lab-net' },
    });
  });

  it('changes nothing on a rerun', async () => {
    const { ipStage, cmdbStage } = await apply([web()]);
    expect(ipStage.unchanged).toEqual(['web-01']);
    expect(cmdbStage.unchanged).toEqual(['web-01']);
  });

  it('follows manifest changes with the manifest line as source, then settles', async () => {
    const changed = web({ cpu: 4, memoryMiB: 6144, disks: [{ sizeGiB: 40 }, { sizeGiB: 100 }] });
    const client = createIdoitClient(site, secret);
    const cmdb = new IdoitCmdbProvider({ client, site });
    const obs = await cmdb.observe(testContext(site));
    const mine = obs.resources.find((r) => r.system === 'web-01')!;
    const changes = cmdb.diff(
      changed,
      cmdb.desired(changed, { ip: '10.1.0.2', mac: '00:50:56:00:10:01', host: 'esx-01' })!,
      mine,
    );
    expect(changes.map((c) => c.path)).toEqual(['cpu', 'memoryMiB', 'disksGiB']);
    expect(changes[0]).toMatchObject({ from: 2, to: 4, source: 'systems/web-01.yaml:3:6' });
    await cmdb.close();
    const { cmdbStage } = await apply([changed]);
    expect(cmdbStage.updated).toEqual(['web-01']);
    const c = await categories('web-01');
    expect(c.C__CATG__CPU.map((e: any) => e.cores)).toEqual(['4']);
    expect(c.C__CATG__MEMORY.map((e: any) => [e.capacity.title, e.unit.title])).toEqual([[6, 'GB']]);
    expect(c.C__CATG__DRIVE.map((e: any) => e.capacity.title)).toEqual([40, 100]);
    expect((await apply([changed])).cmdbStage.unchanged).toEqual(['web-01']);
  });

  it('puts back what someone changed in the i-doit UI, keeping the marker', async () => {
    const c = await categories('web-01');
    const objId = Number(c.C__CATG__CPU[0].objID);
    await raw.batchOrThrow([
      {
        method: 'cmdb.category.save',
        params: { object: objId, category: 'C__CATG__CPU', entry: Number(c.C__CATG__CPU[0].id), data: { cores: 1 } },
      },
      {
        method: 'cmdb.category.save',
        params: { object: objId, category: 'C__CATG__GLOBAL', data: { title: 'renamed-by-hand' } },
      },
    ]);
    const changed = web({ cpu: 4, memoryMiB: 6144, disks: [{ sizeGiB: 40 }, { sizeGiB: 100 }] });
    const { cmdbStage } = await apply([changed]);
    expect(cmdbStage.updated).toEqual(['web-01']);
    const after = await categories('web-01');
    expect(after.C__CATG__CPU.map((e: any) => e.cores)).toEqual(['4']);
    expect(after.C__CATG__GLOBAL[0]).toMatchObject({ title: 'web-01' });
    expect(await markedObjects(raw, 'web-01')).toHaveLength(1);
  });

  it('relinks the network port when the ip step moved the address after the run observed', async () => {
    const ctx = testContext(site);
    const client = createIdoitClient(site, secret);
    const ip = new IdoitIpamProvider({ client, site });
    const cmdb = new IdoitCmdbProvider({ client, site });
    const s = web({
      cpu: 4,
      memoryMiB: 6144,
      disks: [{ sizeGiB: 40 }, { sizeGiB: 100 }],
      network: { net: 'lab-net', ip: '10.1.0.77', mac: '00:50:56:00:10:01' },
    });
    // The engine observes every kind first, then applies stage by stage.
    const [ipObs, cmdbObs] = [await ip.observe(ctx), await cmdb.observe(ctx)];
    const ipRes = ipObs.resources.find((r) => r.system === 'web-01')!;
    const moved = await ip.update(
      s,
      ip.desired(s)!,
      ipRes,
      ip.diff(s, ip.desired(s)!, ipRes),
      { ip: '10.1.0.77', mac: s.network.mac },
      ctx,
    );
    const resolved = ip.resolve(s, moved, { ip: UNKNOWN, mac: s.network.mac, host: 'esx-01' });
    const cmdbRes = cmdbObs.resources.find((r) => r.system === 'web-01')!;
    const desired = cmdb.desired(s, resolved)!;
    const changes = cmdb.diff(s, desired, cmdbRes);
    expect(changes.map((c) => c.path)).toEqual(['network.ip']);
    const after = await cmdb.update(s, desired, cmdbRes, changes, resolved, ctx);
    expect(after.fields.portIp).toBe('10.1.0.77');
    await client.close();
  });

  it('archives on delete (lifecycle archive), releases the address, and brings the object back when re-added', async () => {
    const s = web({ cpu: 4, memoryMiB: 6144, disks: [{ sizeGiB: 40 }, { sizeGiB: 100 }] });
    const { ip, cmdb } = await apply([s]);
    const ctx = testContext(site);
    // Deletes run in reverse stage order: cmdb first, then ip.
    await cmdb.delete(
      s,
      (await cmdb.observe(ctx)).resources.find((r) => r.system === 'web-01')!,
      ctx,
    );
    await ip.delete(
      s,
      (await ip.observe(ctx)).resources.find((r) => r.system === 'web-01')!,
      ctx,
    );
    expect(await markedObjects(raw, 'web-01', 'C__RECORD_STATUS__ARCHIVED')).toHaveLength(1);
    const net = (
      await raw.call<any[]>('cmdb.objects.read', { filter: { type: 'C__OBJTYPE__LAYER3_NET', title: 'lab-net' } })
    )[0].id;
    const held = (
      await raw.call<any[]>('cmdb.category.read', { objID: net, category: 'C__CATS__NET_IP_ADDRESSES', status: -1 })
    ).map((e) => e.title);
    expect(held).toEqual(['10.1.0.1']);
    await ip.close();
    const back = await apply([s]);
    expect(back.ipStage.updated).toEqual(['web-01']);
    expect(back.cmdbStage.updated).toEqual(['web-01']);
    expect(await markedObjects(raw, 'web-01')).toHaveLength(1);
  });

  it('purges on delete when the lifecycle says purge', async () => {
    const s = testSystem('tmp-01', {
      lifecycle: { protect: false, vmOnDelete: 'destroy', cmdbOnDelete: 'purge', powerPolicy: 'never' },
    });
    const { ip, cmdb } = await apply([s]);
    const ctx = testContext(site);
    await cmdb.delete(
      s,
      (await cmdb.observe(ctx)).resources.find((r) => r.system === 'tmp-01')!,
      ctx,
    );
    // The purge took the host address with it: the ip step has nothing left to release.
    expect((await ip.observe(ctx)).resources.find((r) => r.system === 'tmp-01')).toBeUndefined();
    for (const status of ['C__RECORD_STATUS__NORMAL', 'C__RECORD_STATUS__ARCHIVED', 'C__RECORD_STATUS__DELETED']) {
      expect(await markedObjects(raw, 'tmp-01', status)).toEqual([]);
    }
    await ip.close();
  });

  it('reports an unmarked object of the same name and never changes it', async () => {
    await raw.call('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'hand-made' });
    const cmdb = new IdoitCmdbProvider({ client: createIdoitClient(site, secret), site });
    const ctx = testContext(site);
    const theirs = (await cmdb.observe(ctx)).resources.find((r) => r.system === 'hand-made')!;
    expect(theirs.owned).toBe(false);
    const s = testSystem('hand-made');
    await expect(cmdb.delete(s, theirs, ctx)).rejects.toThrow(UserError);
    await expect(
      cmdb.update(s, cmdb.desired(s, { ip: '10.1.0.9', mac: '' })!, theirs, [], { ip: '', mac: '' }, ctx),
    ).rejects.toThrow(/carries no shipshape marker/);
    await cmdb.close();
  });

  it('changes the operating system the way this add-on accepts, and settles', async () => {
    const s = web({ os: 'Rocky 9' });
    const { cmdbStage } = await apply([s]);
    expect(cmdbStage.updated).toEqual(['web-01']);
    const c = await categories('web-01');
    expect(c.C__CATG__OPERATING_SYSTEM.map((e: any) => e.application.title)).toEqual(['Rocky 9']);
    expect((await apply([s])).cmdbStage.unchanged).toEqual(['web-01']);
  });

  it(
    apiVersion === '1.10'
      ? 'says which setting to change when quick-purge is off, and leaves the object deleted'
      : 'purges with quick-purge off',
    async () => {
      const off = await startIdoitEmulator({
        stateFile: path.join(dir, 'no-quickpurge.json'),
        apiKey: 'lab-key',
        users: [{ username: 'shipshape', password: 'pw' }],
        nets: [{ title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1' }],
        apiVersion,
        quickPurge: false,
      });
      try {
        const offSite = testSite(off.url, [
          { title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1', dnsServers: [] },
        ]);
        const s = testSystem('tmp-02', {
          lifecycle: { protect: false, vmOnDelete: 'destroy', cmdbOnDelete: 'purge', powerPolicy: 'never' },
        });
        const client = createIdoitClient(offSite, secret);
        const ip = new IdoitIpamProvider({ client, site: offSite });
        const cmdb = new IdoitCmdbProvider({ client, site: offSite });
        const ctx = testContext(offSite);
        await runStage(ip, [s], ctx);
        await runStage(cmdb, [s], ctx, new Map([['tmp-02', { ip: '10.1.0.2', mac: s.network.mac }]]));
        const mine = (await cmdb.observe(ctx)).resources.find((r) => r.system === 'tmp-02')!;
        const err = await cmdb.delete(s, mine, ctx).then(
          () => null,
          (e: unknown) => e,
        );
        const after = (await cmdb.observe(ctx)).resources.find((r) => r.system === 'tmp-02');
        if (apiVersion === '1.10') {
          expect(err).toBeInstanceOf(UserError);
          expect((err as Error).message).toMatch(/purges only with the tenant setting "cmdb\.quickpurge"/);
          // Deleted and retired: a tombstone plans nothing more for it, so the error does not repeat every run.
          expect(after).toMatchObject({ owned: true, retired: true, fields: { status: 'deleted' } });
        } else {
          expect(err).toBeNull();
          expect(after).toBeUndefined();
        }
        await client.close();
      } finally {
        await off.close();
      }
    },
  );
});

describe('the network port diff', () => {
  const site = testSite('https://idoit.invalid', [
    { title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1', dnsServers: [] },
  ]);
  const cmdb = new IdoitCmdbProvider({ client: {} as IdoitClient, site });
  const s = testSystem('web-01', { network: { net: 'lab-net', ip: 'auto', mac: '00:50:56:00:10:01' } });
  const observed = (portIp: string, ipEntry: number | null) => {
    const d = cmdb.desired(s, { ip: portIp, mac: s.network.mac })!;
    return {
      kind: 'cmdb' as const,
      system: s.name,
      id: '7',
      owned: true,
      fields: { ...d, host: null },
      handle: { objectId: 7, entries: {}, ipEntry },
    };
  };
  const paths = (portIp: string, ipEntry: number | null) =>
    cmdb.diff(s, cmdb.desired(s, { ip: UNKNOWN, mac: s.network.mac })!, observed(portIp, ipEntry)).map((c) => c.path);

  it('shows the port following an address the ip step allocates in this apply', () => {
    expect(paths('10.1.0.5', 11)).toEqual(['network.ip']);
  });

  it('shows no change the update cannot make: an object holding no host address, its port linking none', () => {
    expect(paths('', null)).toEqual([]);
  });
});
