/** What differs between the API add-on generations the emulator plays (versions.ts, README.md). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startIdoitEmulator, type ApiVersion, type IdoitEmulator } from './index';

const KEY = 'k3y';
let dir: string;
const emus: IdoitEmulator[] = [];

async function start(apiVersion: ApiVersion, extra: { quickPurge?: boolean; users?: boolean } = {}) {
  const emu = await startIdoitEmulator({
    stateFile: path.join(dir, `${apiVersion}-${emus.length}.json`),
    apiKey: KEY,
    apiVersion,
    ...(extra.users === false ? {} : { users: [{ username: 'bot', password: 'pw' }] }),
    ...(extra.quickPurge !== undefined ? { quickPurge: extra.quickPurge } : {}),
    nets: [{ title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1' }],
  });
  emus.push(emu);
  let n = 0;
  const post = async (
    body: unknown,
    headers: Record<string, string> = { 'X-RPC-Auth-Username': 'bot', 'X-RPC-Auth-Password': 'pw' },
  ): Promise<any> => {
    const res = await fetch(emu.endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return res.json();
  };
  const rpc = (method: string, params: Record<string, unknown> = {}) => ({
    version: '2.0',
    method,
    params: { apikey: KEY, ...params },
    id: ++n,
  });
  const call = async (method: string, params: Record<string, unknown> = {}) => post(rpc(method, params));
  return { emu, post, rpc, call };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-versions-'));
});
afterAll(async () => {
  for (const e of emus) await e.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.each(['1.10', '1.14', '2.x'] as const)('API add-on %s', (v) => {
  it('reports its core version', async () => {
    const { call } = await start(v);
    expect((await call('idoit.version')).result.version).toBe({ '1.10': '1.12.4', '1.14': '1.14.2', '2.x': '25' }[v]);
  });

  it(
    v === '1.10' ? 'ignores a sysid given to cmdb.object.create' : 'stores a sysid given to cmdb.object.create',
    async () => {
      const { call } = await start(v);
      const id = (await call('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'x', sysid: 'MINE-1' }))
        .result.id;
      const row = (await call('cmdb.object.read', { id })).result;
      if (v === '1.10') expect(row.sysid).toMatch(/^SYSID_/);
      else expect(row.sysid).toBe('MINE-1');
      // The core keeps a SYSID an object has: writing it through the General category changes nothing.
      await call('cmdb.category.save', { object: id, category: 'C__CATG__GLOBAL', data: { sysid: 'OTHER' } });
      expect((await call('cmdb.object.read', { id })).result.sysid).toBe(row.sysid);
    },
  );

  it("answers an expired session per request with the version's code", async () => {
    const { post, rpc, emu } = await start(v);
    const sid = (await post(rpc('idoit.login'))).result['session-id'];
    emu.expireSessions();
    const r = await post([rpc('idoit.version'), rpc('idoit.version')], { 'X-RPC-Auth-Session': sid });
    expect(r).toHaveLength(2);
    const code = v === '2.x' ? -32604 : -32099;
    for (const e of r) expect(e.error.code).toBe(code);
    if (v !== '2.x') expect(r[0].error.message).toBe('i-doit system error: Unable to get user by sessionId');
  });

  it(v === '1.10' ? 'purges only with quick-purge on' : 'purges without quick-purge', async () => {
    const off = await start(v, { quickPurge: false });
    const id = (await off.call('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'p' })).result.id;
    const r = await off.call('cmdb.object.purge', { object: id });
    if (v === '1.10')
      expect(r.error).toEqual({ code: -32099, message: 'i-doit system error: Quickpurge is not enabled', data: null });
    else expect(r.result.message).toBe(`Object ${id} has been purged.`);
    const on = await start(v, { quickPurge: true });
    const id2 = (await on.call('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'p' })).result.id;
    expect((await on.call('cmdb.object.purge', { object: id2 })).result.success).toBe(true);
  });

  it(
    v === '1.10'
      ? 'refuses requests without user credentials (api.authenticated-users-only on)'
      : 'runs key-only requests as "Api System" when no users are configured',
    async () => {
      const { post, rpc } = await start(v, { users: false });
      const r = await post(rpc('idoit.version'), {});
      if (v === '1.10') expect(r.error.code).toBe(-32604);
      else expect(r.result.login.name).toBe('Api System');
    },
  );

  it(`keeps the operating system single-value and ${v === '2.x' ? 'ignores' : 'refuses'} an entry id on save`, async () => {
    const { call } = await start(v);
    const vm = (await call('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'os' })).result.id;
    const os1 = (await call('cmdb.object.create', { type: 'C__OBJTYPE__OPERATING_SYSTEM', title: 'Debian 12' })).result
      .id;
    const os2 = (await call('cmdb.object.create', { type: 'C__OBJTYPE__OPERATING_SYSTEM', title: 'Rocky 9' })).result
      .id;
    const first = (
      await call('cmdb.category.save', {
        object: vm,
        category: 'C__CATG__OPERATING_SYSTEM',
        data: { application: os1 },
      })
    ).result.entry;
    const again = await call('cmdb.category.save', {
      object: vm,
      category: 'C__CATG__OPERATING_SYSTEM',
      entry: first,
      data: { application: os2 },
    });
    if (v === '2.x') expect(again.result.entry).toBe(first);
    else expect(again.error.message).toMatch(/EntryId needs to be empty/);
    const plain = await call('cmdb.category.save', {
      object: vm,
      category: 'C__CATG__OPERATING_SYSTEM',
      data: { application: os2 },
    });
    expect(plain.result.entry).toBe(first);
    const read = (await call('cmdb.category.read', { objID: vm, category: 'C__CATG__OPERATING_SYSTEM' })).result;
    expect(read.map((e: any) => e.application.title)).toEqual(['Rocky 9']);
  });
});

describe('the same on every version', () => {
  it('counts only normal entries on normal objects as "in use" and reads port addresses without ref_title', async () => {
    const { call } = await start('2.x');
    const net = (await call('cmdb.objects.read', { filter: { type: 'C__OBJTYPE__LAYER3_NET', title: 'lab-net' } }))
      .result[0].id;
    const old = (
      await call('cmdb.object.create', {
        type: 'C__OBJTYPE__SERVER',
        title: 'old',
        categories: { C__CATG__IP: [{ net, ipv4_address: '10.1.0.5', hostname: 'old' }] },
      })
    ).result;
    await call('cmdb.object.archive', { object: old.id });
    const list = (await call('cmdb.category.read', { objID: net, category: 'C__CATS__NET_IP_ADDRESSES', status: -1 }))
      .result;
    expect(list.map((e: any) => e.title)).toEqual(['10.1.0.1']);
    const fresh = (await call('cmdb.object.create', { type: 'C__OBJTYPE__SERVER', title: 'new' })).result.id;
    const saved = (
      await call('cmdb.category.save', {
        object: fresh,
        category: 'C__CATG__IP',
        data: { net, ipv4_address: '10.1.0.5', hostname: 'new' },
      })
    ).result.entry;
    expect((await call('cmdb.object.recycle', { object: old.id })).result.success).toBe(true);
    const port = (
      await call('cmdb.category.save', {
        object: fresh,
        category: 'C__CATG__NETWORK_PORT',
        data: { title: 'eth0', addresses: [saved] },
      })
    ).result.entry;
    const read = (await call('cmdb.category.read', { objID: fresh, category: 'C__CATG__NETWORK_PORT' })).result;
    expect(read[0].id).toBe(String(port));
    expect(read[0].addresses).toEqual([{ id: String(saved), title: '10.1.0.5', hostname: 'new', type: 'C__CATG__IP' }]);
  });

  it('keeps an object whose categories failed, with the error in place of the entry', async () => {
    const { call } = await start('1.10');
    const r = (
      await call('cmdb.object.create', {
        type: 'C__OBJTYPE__VIRTUAL_SERVER',
        title: 'half',
        categories: { C__CATG__CPU: [{ cores: 2 }], C__CATG__MEMORY: [{ capacity: 'lots' }] },
      })
    ).result;
    expect(r.categories.C__CATG__CPU).toEqual([expect.any(Number)]);
    expect(r.categories.C__CATG__MEMORY[0]).toMatch(/validation error/);
    expect((await call('cmdb.object.read', { id: r.id })).result.title).toBe('half');
  });

  it('lists the default virtualization systems', async () => {
    const { call } = await start('1.14');
    const list = (await call('cmdb.dialog.read', { category: 'C__CATG__VIRTUAL_MACHINE', property: 'system' })).result;
    expect(list[0]).toEqual({ id: '1', const: null, title: 'VMWare ESX' });
    expect(list[1].title).toBe('VMWare Workstation');
    expect(list.slice(10).map((x: any) => x.title)).toEqual(['KVM', 'QEMU']);
  });
});
