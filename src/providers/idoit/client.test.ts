/** The i-doit client against the emulator: sessions, batches, typed errors, timeouts and retries. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../lab/idoit';
import { PROFILES } from '../../lab/idoit';
import { TransientError, UserError } from '../../engine/contract';
import { IdoitClient, SUPPORTED_VERSIONS, type IdoitClientOptions } from './client';
import { IdoitAuthError, IdoitError } from './errors';
import { EMULATED_VERSIONS } from '../../../test/idoit/emulated';

const KEY = 'api-key-7f3a9c';
const PASSWORD = 'pw-s3cret-91';
describe.each(EMULATED_VERSIONS)('i-doit API add-on %s', (apiVersion) => {
  let dir: string;
  let emu: IdoitEmulator;

  const client = (o: Partial<IdoitClientOptions> = {}) =>
    new IdoitClient({
      url: emu.url,
      apiKey: async () => KEY,
      username: async () => 'bot',
      password: async () => PASSWORD,
      timeoutMs: 2000,
      retryDelayMs: 10,
      ...o,
    });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-client-'));
    emu = await startIdoitEmulator({
      stateFile: path.join(dir, 'state.json'),
      apiKey: KEY,
      users: [{ username: 'bot', password: PASSWORD }],
      apiVersion,
    });
  });
  afterAll(async () => {
    await emu?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => emu.resetStats());

  it('logs in once per run, batches many calls into one request and logs out at close', async () => {
    const c = client();
    const created = await c.batchOrThrow(
      Array.from({ length: 40 }, (_, i) => ({
        method: 'cmdb.object.create',
        params: { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: `batch-${i}` },
      })),
    );
    expect(created).toHaveLength(40);
    const reads = await c.batchOrThrow(
      created.map((r) => ({ method: 'cmdb.object.read', params: { id: (r as { id: number }).id } })),
    );
    expect(reads.map((r) => (r as { title: string }).title)).toEqual(
      Array.from({ length: 40 }, (_, i) => `batch-${i}`),
    );
    await c.close();
    const s = emu.stats();
    expect(s.byMethod['idoit.login']).toBe(1);
    expect(s.byMethod['idoit.logout']).toBe(1);
    expect(s.httpRequests).toBe(5); // login, idoit.version (once per run), 40 creates, 40 reads, logout
  });

  it('logs in again when the session expired and finishes the call', async () => {
    const c = client();
    await c.call('idoit.version');
    emu.expireSessions();
    const v = await c.call<{ login: { username: string } }>('idoit.version');
    expect(v.login.username).toBe('bot');
    expect(emu.stats().byMethod['idoit.login']).toBe(2);
    await c.close();
  });

  it('logs in again only once when parallel calls all meet the expired session', async () => {
    const c = client();
    await c.call('idoit.version');
    emu.expireSessions();
    emu.resetStats();
    const all = await Promise.all(Array.from({ length: 6 }, () => c.call<{ type: string }>('idoit.version')));
    expect(all.every((v) => v.type === 'PRO')).toBe(true);
    expect(emu.stats().byMethod['idoit.login']).toBe(1);
    await c.close();
  });

  it('gives a clear auth error for a wrong API key or password, without the secrets', async () => {
    for (const c of [
      client({ apiKey: async () => 'wrong-key-123' }),
      client({ password: async () => 'wrong-pw-456' }),
    ]) {
      const err = await c.call('idoit.version').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IdoitAuthError);
      const msg = (err as Error).message;
      expect(msg).toContain('refused the credentials');
      expect(msg).toContain('Check apiKey');
      for (const secret of ['wrong-key-123', 'wrong-pw-456', KEY, PASSWORD]) expect(msg).not.toContain(secret);
    }
  });

  it('carries i-doit message and error.data in typed errors', async () => {
    const c = client();
    const o = await c.call<{ id: number }>('cmdb.object.create', {
      type: 'C__OBJTYPE__VIRTUAL_SERVER',
      title: 'typed',
    });
    const err = (await c
      .call('cmdb.category.save', { object: o.id, category: 'C__CATG__CPU', data: { speed: 1 } })
      .catch((e: unknown) => e)) as IdoitError;
    expect(err).toBeInstanceOf(IdoitError);
    expect(err.code).toBe(-32603);
    expect(err.idoitMessage).toBe('Internal error: There was an validation error');
    expect(err.data).toEqual({ speed: "(unknown) Property 'speed' is unknown." });
    expect(err.message).toContain('cmdb.category.save');
    await c.close();
  });

  it('retries a read after a timeout and a 503, but hands a failed write to the engine as transient', async () => {
    const c = client({ timeoutMs: 300 });
    await c.call('idoit.version'); // session first
    emu.injectFaults({ count: 2, stallMs: 1500 });
    expect(await c.call<{ type: string }>('idoit.version')).toMatchObject({ type: 'PRO' });
    emu.injectFaults({ count: 1, status: 503 });
    expect(await c.call<{ type: string }>('idoit.version')).toMatchObject({ type: 'PRO' });
    emu.resetStats();
    emu.injectFaults({ count: 1, status: 503 });
    const err = await c
      .call('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'once' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(emu.stats().httpRequests).toBe(1);
    await c.close();
  });

  it('stops after the retry budget with a timeout error naming the endpoint', async () => {
    const c = client({ timeoutMs: 200, retries: 1, username: undefined, password: undefined });
    emu.injectFaults({ count: 2, stallMs: 1000 });
    const err = (await c.call('idoit.version').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toContain('timed out after 200 ms');
    expect(err.message).toContain(emu.endpoint);
  });

  it('reads idoit.version once per run, however many calls follow', async () => {
    const c = client();
    for (let i = 0; i < 3; i++) await c.call('cmdb.objects.read', { filter: { type: 'C__OBJTYPE__LAYER3_NET' } });
    expect(await c.about()).toEqual({ server: `i-doit ${PROFILES[apiVersion].coreVersion} PRO`, url: emu.endpoint });
    expect(emu.stats().byMethod['idoit.version']).toBe(1);
    await c.close();
  });

  it('refuses an i-doit older than 1.12 and names the supported versions', async () => {
    const old = await startIdoitEmulator({
      stateFile: path.join(dir, 'old.json'),
      apiKey: KEY,
      users: [{ username: 'bot', password: PASSWORD }],
      apiVersion,
      coreVersion: '1.11.2',
    });
    try {
      const c = new IdoitClient({
        url: old.url,
        apiKey: async () => KEY,
        username: async () => 'bot',
        password: async () => PASSWORD,
      });
      const err = (await c.call('cmdb.objects.read', {}).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(UserError);
      expect(err.message).toBe(
        `i-doit at ${old.endpoint} reports version "1.11.2", which shipshape does not support; supported: ${SUPPORTED_VERSIONS}.`,
      );
      expect(old.stats().byMethod['cmdb.objects.read']).toBeUndefined();
      await c.close();
    } finally {
      await old.close();
    }
  });

  it(
    apiVersion === '1.10'
      ? 'says to add user credentials when the add-on accepts users only'
      : 'works with the API key alone where the add-on allows it',
    async () => {
      const keyOnly = await startIdoitEmulator({ stateFile: path.join(dir, 'key-only.json'), apiKey: KEY, apiVersion });
      try {
        const c = new IdoitClient({ url: keyOnly.url, apiKey: async () => KEY });
        const r = await c.call<{ login: { name: string } }>('idoit.version').catch((e: unknown) => e);
        if (apiVersion === '1.10') {
          expect(r).toBeInstanceOf(IdoitAuthError);
          expect((r as Error).message).toMatch(
            /api\.authenticated-users-only.*set username and password in the ipam \/ cmdb sections \(backend: idoit\) of shipshape\.yaml\.$/,
          );
        } else expect((r as { login: { name: string } }).login.name).toBe('Api System');
      } finally {
        await keyOnly.close();
      }
    },
  );
});
