/** `shipshape status` reads install state from the state dir and shows it per declared system. */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../src/cli/main';
import { startAttempt } from '../../src/providers/install/attempt';
import { moved } from '../../src/providers/install/state';
import { InstallStore, installStateDir } from '../../src/providers/install/store';

const ROOT = path.join(__dirname, '..', '..', 'examples', 'lab');
let dir: string;
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

it('lists every declared system with its install state; exit 2 when an install failed', async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-status-'));
  const store = new InstallStore(installStateDir(dir));
  const render = () => ({ answerFile: 'x', bootScript: '#!ipxe\nexit\n' });
  const now = new Date('2026-01-02T03:04:05Z');
  await startAttempt(store, {
    system: 'web-dev-01',
    mac: '00:50:56:00:00:01',
    os: 'debian12',
    bootPath: 'dhcp',
    tokenTtlMs: 60_000,
    now,
    render,
  });
  const { record } = await startAttempt(store, {
    system: 'db-dev-01',
    mac: '00:50:56:00:00:02',
    os: 'rocky9',
    bootPath: 'iso',
    tokenTtlMs: 60_000,
    now,
    render,
  });
  await store.put(moved(moved(record, 'installing', now), 'failed', now, { failureLog: 'boom' }));

  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: () => {}, isTty: false };
  const code = await main(['node', 'shipshape', '--state-dir', dir, 'status', '-C', ROOT], io);
  const text = out.join('');
  expect(code).toBe(2);
  expect(text).toMatch(/^db-dev-01\s+rocky9\s+failed\s+1\s+iso/m);
  expect(text).toMatch(/^web-dev-01\s+debian12\s+requested\s+1\s+dhcp/m);
  expect(text).toMatch(/^web-dev-02\s+not requested/m);
  expect(text).not.toContain('boom');

  out.length = 0;
  expect(await main(['node', 'shipshape', '--state-dir', dir, 'status', '-C', ROOT, '--format', 'json'], io)).toBe(2);
  expect(JSON.parse(out.join('')).systems.find((s: { system: string }) => s.system === 'web-dev-01')).toMatchObject({
    state: 'requested',
    os: 'debian12',
  });
});
