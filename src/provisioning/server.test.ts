/**
 * The provisioning server on loopback with a real state directory: the install conversation an
 * installer has, the one-shot rule, what strangers learn (nothing), token expiry, the failed log's
 * bound and redaction, and the local mirror. "The system" asks from 127.0.0.1 (its recorded
 * address); a neighbour asks from another loopback address (security.test.ts).
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { startAttempt, waitForBuilt } from '../providers/install/attempt';
import { InstallFailedError, InstallTimeoutError } from '../providers/install/errors';
import { hashToken, InstallStore } from '../providers/install/store';
import { BOOT_FROM_DISK, startProvisioningServer, type ProvisioningServer } from './server';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const MAC = '00:50:56:01:02:03';
let dir: string;
let srv: ProvisioningServer;
let store: InstallStore;
let clock = new Date('2026-01-01T10:00:00Z');
const requests: { method: string; path: string; status: number }[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-prov-'));
  await fs.mkdir(path.join(dir, 'mirror', 'd-i'), { recursive: true });
  await fs.writeFile(path.join(dir, 'mirror', 'd-i', 'linux'), 'KERNEL');
  await fs.writeFile(path.join(dir, 'secret.txt'), 'outside the mirror');
  store = new InstallStore(path.join(dir, 'state'));
  srv = await startProvisioningServer({
    listen: '127.0.0.1:0',
    stateDir: store.dir,
    localMirrors: { debian12: path.join(dir, 'mirror') },
    failedLogMaxBytes: 1024,
    tokenTtlMs: 30 * 60_000,
    log: silent,
    now: () => clock,
    onRequest: (e) => requests.push(e),
  });
});
afterAll(async () => {
  await srv?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const get = (p: string) => fetch(`${srv.url}${p}`, { signal: AbortSignal.timeout(5000) });
const post = (p: string, body = '') =>
  fetch(`${srv.url}${p}`, { method: 'POST', body, signal: AbortSignal.timeout(5000) });

async function attempt(system: string, mac = MAC) {
  return startAttempt(store, {
    system,
    mac,
    ip: '127.0.0.1',
    os: 'debian12',
    bootPath: 'dhcp',
    tokenTtlMs: 30 * 60_000,
    now: clock,
    render: (t) => ({
      answerFile: `d-i passwd/root-password-crypted password $6$saltsalt$hashhashhash\n# callback /built/${t}\n`,
      bootScript: `#!ipxe\necho ${system}\n`,
    }),
  });
}

describe('an installation, as the installer sees it', () => {
  it('boot script → answer file → built; then the token is dead and the VM boots from disk', async () => {
    const { token } = await attempt('web-01');
    const boot = await get('/boot/00-50-56-01-02-03');
    expect(boot.status).toBe(200);
    expect(await boot.text()).toBe('#!ipxe\necho web-01\n');
    expect((await store.get('web-01'))!.state).toBe('booting');
    // The colon form iPXE sends URI-encoded works as well.
    expect((await get('/boot/00%3A50%3A56%3A01%3A02%3A03')).status).toBe(200);

    const answer = await get('/install/00-50-56-01-02-03');
    expect(answer.status).toBe(200);
    expect(await answer.text()).toContain(`/built/${token}`);
    expect((await store.get('web-01'))!.state).toBe('installing');

    expect((await post(`/built/${token}`, 'built')).status).toBe(204);
    const r = (await store.get('web-01'))!;
    expect(r.state).toBe('built');
    expect(r.tokenHash).toBeUndefined();
    // The second boot fetch wrote nothing.
    expect(r.history.map((h) => h.state)).toEqual(['requested', 'booting', 'installing', 'built']);
    // The password hash lived only for the install; the token's index went with it.
    expect(await fs.readdir(store.dir)).not.toContain('web-01.answer');
    expect(await fs.readdir(path.join(store.dir, 'by-token'))).toEqual([]);
    expect((await get('/install/00-50-56-01-02-03')).status).toBe(404);
    expect((await post(`/built/${token}`)).status).toBe(404);
    expect(await (await get('/boot/00-50-56-01-02-03')).text()).toBe(BOOT_FROM_DISK);
    expect(
      await waitForBuilt(store, 'web-01', { deadline: new Date(clock.getTime() + 1000), pollMs: 10, now: () => clock }),
    ).toMatchObject({ state: 'built' });
  });

  it('a failed install keeps only the tail of the log, without password hashes or the token, and the wait reports it', async () => {
    const { token } = await attempt('web-02', '00:50:56:01:02:04');
    await get('/install/00-50-56-01-02-04');
    const log = `${'x'.repeat(5000)}\nanaconda: using $6$saltsalt$hashhashhash for root\nfetched /install/${token}\nError: no space left on /dev/sda\n`;
    expect((await post(`/failed/${token}`, log)).status).toBe(204);
    const r = (await store.get('web-02'))!;
    expect(r.state).toBe('failed');
    expect(r.failureLog!.length).toBeLessThanOrEqual(1024);
    expect(r.failureLog).toContain('no space left on /dev/sda');
    expect(r.failureLog).not.toContain('hashhash');
    expect(r.failureLog).not.toContain(token);
    const err = await waitForBuilt(store, 'web-02', {
      deadline: new Date(clock.getTime() + 1000),
      pollMs: 10,
      now: () => clock,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstallFailedError);
    expect((err as Error).message).toContain('no space left on /dev/sda');
    expect((await post(`/progress/${token}`)).status).toBe(404);
    expect((await get('/install/00-50-56-01-02-04')).status).toBe(404);
  });

  it('a new attempt after a failure gets a new token; the old one stays dead', async () => {
    const first = (await store.get('web-02'))!;
    const { token, record } = await attempt('web-02', '00:50:56:01:02:04');
    expect(record.attempt).toBe(first.attempt + 1);
    expect(record.failureLog).toBeUndefined();
    expect((await get('/install/00-50-56-01-02-04')).status).toBe(200);
    expect((await post(`/progress/${token}`)).status).toBe(204);
  });

  it('built before the answer file was fetched is refused', async () => {
    const { token } = await attempt('web-03', '00:50:56:01:02:05');
    expect((await post(`/built/${token}`)).status).toBe(409);
    expect((await store.get('web-03'))!.state).toBe('requested');
  });
});

describe('what a stranger learns', () => {
  it('an unknown MAC, an unknown token and an unknown path get the same 404', async () => {
    const bodies = await Promise.all(
      [
        '/install/00-50-56-3f-ff-ff',
        `/install/${'A'.repeat(43)}`,
        '/install/x',
        '/admin',
        '/mirror/debian12/../secret.txt',
        '/mirror/__proto__/x',
        '/mirror/constructor/x',
        '/mirror/hasOwnProperty/x',
      ].map(async (p) => {
        const r = await get(p);
        return `${r.status} ${await r.text()}`;
      }),
    );
    expect(new Set(bodies)).toEqual(new Set(['404 not found\n']));
    expect((await post(`/built/${'B'.repeat(43)}`)).status).toBe(404);
  });

  it('/boot answers an unknown MAC, a malformed one and an installed system alike', async () => {
    const answers = await Promise.all(
      ['/boot/00-50-56-3f-ff-ff', '/boot/not-a-mac', '/boot/00-50-56-01-02-03'].map(async (p) => {
        const r = await get(p);
        return `${r.status} ${await r.text()}`;
      }),
    );
    expect(new Set(answers)).toEqual(new Set([`200 ${BOOT_FROM_DISK}`]));
  });

  it('a token expires without progress; progress renews it', async () => {
    const { token } = await attempt('web-04', '00:50:56:01:02:06');
    clock = new Date(clock.getTime() + 20 * 60_000);
    expect((await post(`/progress/${token}`)).status).toBe(204);
    clock = new Date(clock.getTime() + 20 * 60_000); // 40 min after start, 20 after progress: alive
    expect((await get('/install/00-50-56-01-02-06')).status).toBe(200);
    clock = new Date(clock.getTime() + 31 * 60_000);
    expect((await get('/install/00-50-56-01-02-06')).status).toBe(404);
    expect((await post(`/progress/${token}`)).status).toBe(404);
    expect(await (await get('/boot/00-50-56-01-02-06')).text()).toBe(BOOT_FROM_DISK);
  });

  it('the log never carries a whole token', () => {
    const paths = requests.map((r) => r.path).join('\n');
    expect(paths).toMatch(/\/progress\/[A-Za-z0-9_-]{4}…/);
    expect(paths).not.toMatch(/\/(built|failed|progress)\/[A-Za-z0-9_-]{5,}/);
  });
});

it('the deadline turns a silent install into timed-out and kills its token', async () => {
  const { token } = await attempt('web-05', '00:50:56:01:02:07');
  const err = await waitForBuilt(store, 'web-05', {
    deadline: new Date(clock.getTime() - 1),
    pollMs: 10,
    now: () => clock,
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InstallTimeoutError);
  expect((await store.get('web-05'))!.state).toBe('timed-out');
  expect((await post(`/progress/${token}`)).status).toBe(404);
  expect(await fs.readdir(path.join(store.dir, 'by-token'))).not.toContain(hashToken(token));
});

it('serves local mirror files, and nothing outside them', async () => {
  const r = await get('/mirror/debian12/d-i/linux');
  expect(r.status).toBe(200);
  expect(await r.text()).toBe('KERNEL');
  expect((await get('/mirror/debian12/d-i/..%2F..%2Fsecret.txt')).status).toBe(404);
  expect((await get('/mirror/rocky9/d-i/linux')).status).toBe(404);
});
