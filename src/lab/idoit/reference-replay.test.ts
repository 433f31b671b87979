/**
 * Replays every example pair of the i-doit reference (§7, E1–E10, copied into reference-examples.json)
 * against the emulator, in order, over real HTTP, and compares the responses byte for byte (after JSON
 * normalisation, so key order counts too).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import examples from './reference-examples.json';
import { startIdoitEmulator, Store, type IdoitEmulator } from './index';

/** The world the examples assume: net 345 with its gateway 344 (10.20.30.1) and vm-db-01 (10.20.30.2). */
function seedReferenceWorld(file: string): void {
  const store = new Store(undefined, () => new Date('2024-02-01T10:00:00Z'));
  const t = '2024-02-01 10:00:00';
  const base = { status: 2, cmdbStatus: 6, created: t, updated: t, description: '', purpose: null, category: null };
  store.addObject({ ...base, id: 344, title: 'gw-10-20-30', typeId: 4 });
  store.addObject({ ...base, id: 345, title: 'srv-net-10.20.30.0', typeId: 31, updated: '2024-02-01 10:05:12' });
  store.addObject({ ...base, id: 5120, title: 'vm-db-01', typeId: 59 });
  store.addEntry(
    'C__CATS__NET',
    345,
    {
      title: '',
      type: 1,
      address: '10.20.30.0',
      netmask: '255.255.255.0',
      gateway: 880,
      range_from: '10.20.30.1',
      range_to: '10.20.30.254',
      cidr_suffix: 24,
      reverse_dns: '',
      description: '',
    },
    17,
  );
  const ip = {
    net: 345,
    net_type: 1,
    ipv4_assignment: 2,
    primary: 1,
    active: 1,
    ipv6_assignment: 1,
    ipv6_scope: 1,
    use_standard_gateway: 0,
  };
  store.addEntry(
    'C__CATG__IP',
    344,
    { ...ip, ipv4_address: '10.20.30.1', ipListId: 880, use_standard_gateway: 1 },
    880,
  );
  store.addEntry('C__CATG__IP', 5120, { ...ip, ipv4_address: '10.20.30.2', ipListId: 881, hostname: 'vm-db-01' }, 1100);
  store.state.nextObjectId = 5301;
  Object.assign(store.state.nextEntryId, {
    C__CATG__IP: 1207,
    C__CATS__NET_IP_ADDRESSES: 882,
    C__CATG__MEMORY: 912,
    C__CATG__CPU: 455,
  });
  store.save(file);
}

describe('i-doit emulator replays the reference examples', () => {
  let dir: string;
  let emu: IdoitEmulator;
  let session = '';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-replay-'));
    const stateFile = path.join(dir, 'state.json');
    seedReferenceWorld(stateFile);
    emu = await startIdoitEmulator({
      stateFile,
      apiKey: 'c1ia5q',
      users: [{ username: 'provisioner', password: 'secret', userid: '1021', name: 'Provisioning Bot', mail: '' }],
      newSessionId: () => '4n2q8mfkq1v0d7i3l5s9c6b2a1',
    });
  });

  afterAll(async () => {
    await emu?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has all ten examples to replay', () => {
    expect(examples.examples.map((e) => e.name)).toEqual(['E1', 'E2', 'E3', 'E4', 'E5', 'E6', 'E7', 'E8', 'E9', 'E10']);
  });

  for (const ex of examples.examples) {
    it(`${ex.name} — ${ex.title}`, async () => {
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        ...((ex as { requestHeaders?: Record<string, string> }).requestHeaders ?? {}),
      };
      if (!headers['X-RPC-Auth-Username']) headers['X-RPC-Auth-Session'] = session;
      const res = await fetch(emu.endpoint, { method: 'POST', headers, body: JSON.stringify(ex.request) });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toEqual(ex.response);
      expect(JSON.stringify(body)).toBe(JSON.stringify(ex.response));
      for (const [k, v] of Object.entries((ex as { responseHeaders?: Record<string, string> }).responseHeaders ?? {})) {
        expect(res.headers.get(k)).toBe(v);
      }
      if (ex.name === 'E1') session = res.headers.get('x-rpc-auth-session') ?? '';
    });
  }
});
