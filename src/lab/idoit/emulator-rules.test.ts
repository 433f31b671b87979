/** The envelope, batch, auth, persistence and validation rules of the emulator (reference §1, §2, §4). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from './index';

const KEY = 'k3y';
let dir: string;
let emu: IdoitEmulator;

async function post(
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; json: any; headers: Headers }> {
  const res = await fetch(emu.endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-RPC-Auth-Username': 'bot',
      'X-RPC-Auth-Password': 'pw',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}
const rpc = (method: string, params: Record<string, unknown> = {}, id: unknown = 1) => ({
  version: '2.0',
  method,
  params: { apikey: KEY, ...params },
  id,
});

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-rules-'));
  emu = await startIdoitEmulator({
    stateFile: path.join(dir, 'state.json'),
    apiKey: KEY,
    users: [{ username: 'bot', password: 'pw' }],
    nets: [
      { title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1', dhcp: [{ from: '10.1.0.200', to: '10.1.0.250' }] },
    ],
  });
});
afterAll(async () => {
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('envelope and batches', () => {
  it('rejects an empty batch with one -32600 error', async () => {
    const r = await post([]);
    expect(r.json).toMatchObject({ id: null, error: { code: -32600 } });
  });
  it('rejects duplicate ids with one -32603 error and runs nothing', async () => {
    const r = await post([
      rpc('cmdb.object.create', { type: 'C__OBJTYPE__SERVER', title: 'dup' }, 7),
      rpc('idoit.version', {}, 7),
    ]);
    expect(Array.isArray(r.json)).toBe(false);
    expect(r.json).toMatchObject({ id: null, error: { code: -32603 } });
    const found = await post(rpc('cmdb.objects.read', { filter: { title: 'dup' } }));
    expect(found.json.result).toEqual([]);
  });
  it('rejects mixed api keys with one -32602 error', async () => {
    const r = await post([
      rpc('idoit.version', {}, 1),
      { ...rpc('idoit.version', {}, 2), params: { apikey: 'other' } },
    ]);
    expect(r.json).toMatchObject({ id: null, error: { code: -32602 } });
  });
  it('answers non-object batch elements with -32604 each', async () => {
    const r = await post([1, 2]);
    expect(r.json).toHaveLength(2);
    expect(r.json[0]).toMatchObject({ id: null, error: { code: -32604 } });
  });
  it('answers a batch of notifications with an empty body', async () => {
    const { id: _id, ...note } = rpc('idoit.version');
    void _id;
    const r = await post([note, note]);
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
  });
  it('rejects a null id, a missing version and missing params', async () => {
    expect((await post(rpc('idoit.version', {}, null))).json).toMatchObject({ id: null, error: { code: -32603 } });
    expect((await post({ method: 'idoit.version', params: { apikey: KEY }, id: 3 })).json.error.code).toBe(-32600);
    expect((await post({ version: '2.0', method: 'idoit.version', id: 4 })).json.error.code).toBe(-32604);
  });
  it('rejects a wrong content type and malformed JSON', async () => {
    expect((await post(rpc('idoit.version'), { 'Content-Type': 'text/plain' })).json.error.code).toBe(-32600);
    expect((await post('{nope')).json.error.code).toBe(-32700);
  });
  it('routes unknown namespaces, models and options like i-doit', async () => {
    expect((await post(rpc('nope.x'))).json.error).toEqual({
      code: -32601,
      message: 'Method not found: API Namespace "nope" (isys_api_model_nope) does not exist.',
      data: null,
    });
    expect((await post(rpc('cmdb.nope'))).json.error.message).toBe(
      'Method not found: API Method "nope" (isys_api_model_cmdb_nope) does not exist.',
    );
    expect((await post(rpc('version'))).json.error.code).toBe(-32601);
    // A typo in the option falls back to read.
    expect((await post(rpc('cmdb.objects.foo', { filter: { title: 'lab-net' } }))).json.result[0].title).toBe(
      'lab-net',
    );
  });
});

describe('authentication', () => {
  it('rejects a wrong api key and wrong credentials with -32604', async () => {
    const bad = await post({ ...rpc('idoit.version'), params: { apikey: 'wrong' } });
    expect(bad.json.error).toEqual({
      code: -32604,
      message: 'Authentication error: Unable to login using given credentials and apiKey.',
      data: null,
    });
    expect((await post(rpc('idoit.version'), { 'X-RPC-Auth-Password': 'nope' })).json.error.code).toBe(-32604);
    const anon = await post(rpc('idoit.version'), { 'X-RPC-Auth-Username': '', 'X-RPC-Auth-Password': '' });
    expect(anon.json.error.code).toBe(-32604);
  });
  it('logs in, uses the session, logs out, and refuses the ended session', async () => {
    const login = await post(rpc('idoit.login'));
    const sid = login.json.result['session-id'];
    expect(login.headers.get('x-rpc-auth-session')).toBe(sid);
    const v = await post(rpc('idoit.version'), { 'X-RPC-Auth-Username': 'x', 'X-RPC-Auth-Session': sid });
    expect(v.json.result.login.username).toBe('bot');
    expect((await post(rpc('idoit.logout'), { 'X-RPC-Auth-Session': sid })).json.result).toEqual({
      message: 'Logout successful',
      result: true,
    });
    expect((await post(rpc('idoit.version'), { 'X-RPC-Auth-Session': sid })).json.error.code).toBe(-32604);
  });
});

describe('objects, categories and values', () => {
  it('stores a second object with the same sysid (no uniqueness by default) and refuses a duplicate IP in a net', async () => {
    const a = await post(rpc('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'a', sysid: 'S-A' }));
    const dupe = await post(
      rpc('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'b', sysid: 'S-A' }),
    );
    expect(dupe.json.result.id).toBeGreaterThan(a.json.result.id);
    const both = (await post(rpc('cmdb.objects.read', { filter: { sysid: 'S-A' } }))).json.result;
    expect(both.map((o: any) => o.title)).toEqual(['a', 'b']);
    const net = (await post(rpc('cmdb.objects.read', { filter: { type: 'C__OBJTYPE__LAYER3_NET', title: 'lab-net' } })))
      .json.result[0].id;
    const taken = await post(
      rpc('cmdb.category.save', {
        object: a.json.result.id,
        category: 'C__CATG__IP',
        data: { net, ipv4_address: '10.1.0.1' },
      }),
    );
    expect(taken.json.error.message).toBe(
      'Internal error: There was a validation error: ipv4_address(text): The selected IP-address is already being used in "gw-lab-net" (#' +
        (net + 1) +
        ').',
    );
    const bad = await post(
      rpc('cmdb.category.save', {
        object: a.json.result.id,
        category: 'C__CATG__IP',
        data: { net, ipv4_address: '10.1.0.300' },
      }),
    );
    expect(bad.json.error.data).toEqual({ ipv4_address: 'Please check your entered IP address!' });
  });
  it('reads dialogs as objects, accepts ids, constants and titles on write', async () => {
    const o = (await post(rpc('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'mem' }))).json.result
      .id;
    await post([
      rpc(
        'cmdb.category.save',
        { object: o, category: 'C__CATG__MEMORY', data: { capacity: 4, unit: 'C__MEMORY_UNIT__GB' } },
        1,
      ),
      rpc('cmdb.category.save', { object: o, category: 'C__CATG__MEMORY', data: { capacity: 512, unit: 'MB' } }, 2),
    ]);
    const mem = (await post(rpc('cmdb.category.read', { objID: o, category: 'C__CATG__MEMORY' }))).json.result;
    expect(mem.map((m: any) => [m.capacity, m.unit.title, typeof m.id])).toEqual([
      [{ title: 4 }, 'GB', 'string'],
      [{ title: 512 }, 'MB', 'string'],
    ]);
    const units = (await post(rpc('cmdb.dialog.read', { category: 'C__CATG__MEMORY', property: 'unit' }))).json.result;
    expect(units).toContainEqual({ id: '3', const: 'C__MEMORY_UNIT__GB', title: 'GB' });
    const wrongType = await post(
      rpc('cmdb.category.save', { object: o, category: 'C__CATG__CPU', data: { cores: '4' } }),
    );
    expect(wrongType.json.error).toMatchObject({ code: -32603, data: { cores: expect.any(String) } });
  });
  it('reports unknown objects, missing parameters and missing entries', async () => {
    expect(
      (await post(rpc('cmdb.category.save', { object: 999999, category: 'C__CATG__CPU', data: {} }))).json.error,
    ).toEqual({
      code: -32099,
      message:
        'i-doit system error: (object) ObjectId needs to be a integer value which references an existing object.',
      data: null,
    });
    expect((await post(rpc('cmdb.category.read', { objID: 999999, category: 'C__CATG__CPU' }))).json.result).toEqual(
      [],
    );
    expect((await post(rpc('cmdb.category.save', { category: 'C__CATG__CPU', data: {} }))).json.error.message).toBe(
      "Invalid parameters: Mandatory parameter 'object' not found in your request.",
    );
    expect((await post(rpc('cmdb.category.read', { objID: 20 }))).json.error.message).toMatch(
      /^Invalid parameters: Category type missing/,
    );
    const o = (await post(rpc('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'p' }))).json.result
      .id;
    expect(
      (await post(rpc('cmdb.category.purge', { object: o, category: 'C__CATG__CPU', entry: 4242 }))).json.error.message,
    ).toBe(
      `Invalid parameters: Unable to find entry for id 4242. Please ensure that entry is owned by object ${o} and has a valid status.`,
    );
    expect(
      (await post(rpc('cmdb.category.purge', { object: o, category: 'C__CATG__VIRTUAL_MACHINE' }))).json.error.message,
    ).toBe(`Invalid parameters: Object ${o} does not own an entry in category 'Virtual machine'.`);
  });
  it('lists archived objects only with the status constant, refuses illegal status changes, purges from any status', async () => {
    const o = (await post(rpc('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'life' }))).json.result
      .id;
    expect((await post(rpc('cmdb.object.recycle', { object: o }))).json.error.code).toBe(-32099);
    expect((await post(rpc('cmdb.object.archive', { object: o }))).json.result.message).toBe(
      `Object ${o} has been archived.`,
    );
    expect((await post(rpc('cmdb.object.archive', { object: o }))).json.error.code).toBe(-32099);
    expect((await post(rpc('cmdb.objects.read', { filter: { title: 'life' } }))).json.result).toEqual([]);
    expect(
      (await post(rpc('cmdb.objects.read', { filter: { title: 'life', status: 'C__RECORD_STATUS__ARCHIVED' } }))).json
        .result,
    ).toHaveLength(1);
    const r = await post([rpc('cmdb.object.delete', { object: o }, 1), rpc('cmdb.object.delete', { object: o }, 2)]);
    expect(r.json[1].error.code).toBe(-32099);
    const normal = (await post(rpc('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'gone' }))).json
      .result.id;
    for (const id of [o, normal]) {
      expect((await post(rpc('cmdb.object.purge', { object: id }))).json.result.message).toBe(
        `Object ${id} has been purged.`,
      );
      expect((await post(rpc('cmdb.object.read', { id }))).json.result).toEqual([]);
    }
  });
});

describe('persistence', () => {
  it('keeps objects across a restart from the same state file', async () => {
    const o = (await post(rpc('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'survivor' }))).json
      .result.id;
    await emu.close();
    emu = await startIdoitEmulator({
      stateFile: path.join(dir, 'state.json'),
      apiKey: KEY,
      users: [{ username: 'bot', password: 'pw' }],
      nets: [{ title: 'lab-net', cidr: '10.1.0.0/24' }],
    });
    const r = await post(rpc('cmdb.objects.read', { filter: { title: 'survivor' } }));
    expect(r.json.result[0].id).toBe(o);
    expect(
      (await post(rpc('cmdb.objects.read', { filter: { type: 'C__OBJTYPE__LAYER3_NET', title: 'lab-net' } }))).json
        .result,
    ).toHaveLength(1);
  });
});
