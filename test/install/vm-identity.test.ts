/**
 * An install record belongs to the VM it installed. A VM destroyed behind shipshape's back and made
 * again (another instanceUuid) is not installed, whatever the state dir says: the plan shows the
 * install, and apply installs the new VM instead of taking the old record's `built` for it. The
 * planner sees the install records after the vm step (observeAll observes install after it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Provider, Resolved } from '../../src/engine/contract';
import { observeAll } from '../../src/cli/pipeline';
import { loadRepo } from '../../src/manifest';
import type { SiteConfig } from '../../src/manifest/site';
import { plan } from '../../src/plan/planner';
import { InstallProvider } from '../../src/providers/install/provider';
import type { InstallRecord } from '../../src/providers/install/state';
import { InstallStore } from '../../src/providers/install/store';
import { MemoryProvider } from '../support/memory-provider';
import { context, site as baseSite, system } from '../support/fixtures';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-install-vm-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const site = {
  ...baseSite,
  vms: { backend: 'vsphere' },
  provisioning: { baseUrl: 'http://127.0.0.1:9', installTimeoutMinutes: 5 },
} as unknown as SiteConfig;

/** A vm step whose VM of web-01 has the given instanceUuid and install marker (none: no VM yet). */
function vmStep(uuid?: string, marker?: string): Provider {
  const p = new MemoryProvider('vm', () => ({ cpu: 2 }));
  if (uuid) p.seed('web-01', { cpu: 2 });
  return Object.assign(p, {
    resolve: (_s: unknown, observed: unknown, resolved: Resolved): Resolved =>
      observed && uuid
        ? { ...resolved, vmInstanceUuid: uuid, ...(marker ? { vmInstall: { marker, os: 'debian12' } } : {}) }
        : resolved,
  });
}

async function planWith(stateDir: string, vm: Provider) {
  const { os: catalog } = await loadRepo(path.join(__dirname, '..', '..', 'examples', 'lab'));
  const install = new InstallProvider({ os: catalog, dir: stateDir, secret: async () => '' });
  const providers = [vm, install];
  const systems = [system('web-01')];
  const observations = await observeAll(providers, context(site), systems);
  const p = plan({ systems, site, providers, observations, maxDeletes: 3, now: new Date() });
  return p.actions.filter((a) => a.kind === 'install').map((a) => a.action);
}

async function builtRecord(stateDir: string, over: Partial<InstallRecord> = {}): Promise<void> {
  const store = new InstallStore(stateDir);
  await store.init();
  await store.put({
    system: 'web-01',
    mac: '00:50:56:00:00:01',
    os: 'debian12',
    bootPath: 'dhcp',
    state: 'built',
    requestedAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    attempt: 1,
    history: [],
    ...over,
  });
}

test('a built record of the VM the system has now: nothing to install', async () => {
  const d = path.join(dir, 'same');
  await builtRecord(d, { vmInstanceUuid: 'uuid-a' });
  expect(await planWith(d, vmStep('uuid-a', 'built'))).toEqual(['noop']);
});

test('a built record of a VM since destroyed and made again: the new VM is installed', async () => {
  const d = path.join(dir, 'recreated');
  await builtRecord(d, { vmInstanceUuid: 'uuid-a' });
  expect(await planWith(d, vmStep('uuid-b'))).toEqual(['create']);
});

test('a built record whose VM is gone, with the VM to be made in this plan: installed after it is made', async () => {
  const d = path.join(dir, 'gone');
  await builtRecord(d, { vmInstanceUuid: 'uuid-a' });
  expect(await planWith(d, vmStep())).toEqual(['create']);
});

test('a record from before records named their VM counts only while the VM says it is built', async () => {
  const d = path.join(dir, 'legacy');
  await builtRecord(d);
  expect(await planWith(d, vmStep('uuid-c', 'built'))).toEqual(['noop']);
  expect(await planWith(d, vmStep('uuid-c'))).toEqual(['create']);
});

test('the install record of a system declared absent is deleted, whatever VM it names', async () => {
  const d = path.join(dir, 'absent');
  await builtRecord(d, { vmInstanceUuid: 'uuid-a' });
  const { os: catalog } = await loadRepo(path.join(__dirname, '..', '..', 'examples', 'lab'));
  const systems = [{ ...system('web-01'), state: 'absent' as const }];
  const install = new InstallProvider({ os: catalog, dir: d, secret: async () => '', systems });
  const providers = [vmStep(), install];
  const observations = await observeAll(providers, context(site), systems);
  const p = plan({ systems, site, providers, observations, maxDeletes: 3, now: new Date() });
  expect(p.actions.filter((a) => a.kind === 'install').map((a) => a.action)).toEqual(['delete']);
});
