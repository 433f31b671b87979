/**
 * The wait for an installer's verdict ends when the provisioning server writes it into the shared
 * store (another InstallStore on the same folder, as the server in another process has), not at the
 * next poll: on a real site the poll interval would otherwise be added to every install.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { startAttempt, waitForBuilt } from './attempt';
import { InstallFailedError } from './errors';
import { moved } from './state';
import { InstallStore } from './store';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-attempt-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function started(store: InstallStore, system: string) {
  return startAttempt(store, {
    system,
    mac: '00:50:56:aa:bb:01',
    os: 'debian12',
    bootPath: 'dhcp',
    tokenTtlMs: 3_600_000,
    now: new Date(),
    render: () => ({ answerFile: 'a', bootScript: '#!ipxe\nexit\n' }),
  });
}

const POLL_MS = 60_000;
const deadline = () => new Date(Date.now() + 3_600_000);

describe('waiting for the installer', () => {
  it('ends when the server records `built`, long before the next poll', async () => {
    const apply = new InstallStore(dir);
    const server = new InstallStore(dir);
    const { record } = await started(apply, 'web-01');
    const t0 = Date.now();
    let wrote: Promise<void> | undefined;
    setTimeout(() => (wrote = server.put(moved(moved(record, 'installing', new Date()), 'built', new Date()))), 200);
    const done = await waitForBuilt(apply, 'web-01', { deadline: deadline(), pollMs: POLL_MS });
    expect(done.state).toBe('built');
    expect(Date.now() - t0).toBeLessThan(5_000);
    await wrote;
  });

  it('ends with the failure the server records, and waits for the right system only', async () => {
    const apply = new InstallStore(dir);
    const server = new InstallStore(dir);
    const one = await started(apply, 'web-01');
    const two = await started(apply, 'web-02');
    const t0 = Date.now();
    let secondDone = false;
    const second = waitForBuilt(apply, 'web-02', { deadline: deadline(), pollMs: POLL_MS }).finally(() => {
      secondDone = true;
    });
    let wrote: Promise<void> | undefined;
    setTimeout(
      () =>
        (wrote = server.put(
          moved(moved(one.record, 'installing', new Date()), 'failed', new Date(), { failureLog: 'disk full' }),
        )),
      200,
    );
    await expect(waitForBuilt(apply, 'web-01', { deadline: deadline(), pollMs: POLL_MS })).rejects.toThrow(
      InstallFailedError,
    );
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(secondDone).toBe(false);
    await wrote;
    await server.put(moved(moved(two.record, 'installing', new Date()), 'built', new Date()));
    expect((await second).state).toBe('built');
  });
});
