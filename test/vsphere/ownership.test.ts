/**
 * Ownership markers bound to the site, against vcsim. The attack: anyone who may edit a VM's
 * advanced settings writes `shipshape.owner`/`shipshape.system` (or copies a real VM's markers,
 * seal included) onto their VM; a tombstone or manifest of that name then changes or deletes it.
 * With `ownership:` in the site, only a marker sealed by the site's key for that very VM counts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SecretRef, SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import { retrieveObjects, runTask } from '../../src/providers/vsphere/inventory';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { ref } from '../../src/providers/vsphere/soap/xml';
import { extraConfig } from '../../src/providers/vsphere/specs';
import { lastPerKey } from '../../src/providers/vsphere/vm';
import { adminClient, ctxFor, makeTemplates, secret, siteFor, systemNamed, vmsOf } from '../helpers/vsphere-site';
import { startVcsim, type Vcsim } from '../helpers/vcsim';

const KEY = 'the-site-ownership-key-0123456789';
const sealingSecret = async (r: SecretRef) => (r.ref === '${env:OWNERSHIP_KEY}' ? KEY : secret(r));
let sim: Vcsim;
let root: string;
let sealed: SiteConfig;
let legacy: SiteConfig;
const providers: VsphereProvider[] = [];
const provider = () => {
  const p = new VsphereProvider({ config: vmsOf(legacy), secret: sealingSecret, guestShutdownTimeoutMs: 5000 });
  providers.push(p);
  return p;
};

beforeAll(async () => {
  sim = await startVcsim();
  await makeTemplates(sim, ['tpl-debian12', 'tpl-rocky9']);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-own-'));
  legacy = siteFor(sim, root);
  sealed = { ...legacy, ownership: { siteId: 'prod', key: { ref: '${env:OWNERSHIP_KEY}' } } };
}, 300_000);
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await sim?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const resolved = (s: DesiredSystem) => ({ ip: '198.51.100.9', mac: s.network.mac });
async function create(s: DesiredSystem, site: SiteConfig) {
  const p = provider();
  return p.create(s, p.desired(s, resolved(s))!, resolved(s), ctxFor(site));
}
async function observed(site: SiteConfig) {
  return (await provider().observe(ctxFor(site))).resources;
}
async function extra(vm: string): Promise<Map<string, string>> {
  const c = adminClient(sim);
  try {
    const [o] = await retrieveObjects(
      c,
      [{ type: 'VirtualMachine', value: vm }],
      [{ type: 'VirtualMachine', paths: ['config.extraConfig'] }],
    );
    return lastPerKey(o?.props.get('config.extraConfig'));
  } finally {
    await c.logout();
  }
}
/** What a colleague with "edit advanced settings" can do. */
async function edit(vm: string, entries: [string, string][]): Promise<void> {
  const c = adminClient(sim);
  try {
    await runTask(
      c,
      'ReconfigVM_Task',
      ref('_this', { type: 'VirtualMachine', value: vm }) + `<spec>${extraConfig(entries)}</spec>`,
      { timeoutMs: 30_000, what: 'edit by hand' },
    );
  } finally {
    await c.logout();
  }
}

test('a forged or copied marker is not-owned: reported, never changed or deleted', async () => {
  const real = systemNamed('real-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:0a:01' } });
  const made = await create(real, sealed);
  expect(made.owned).toBe(true);
  const seal = (await extra(made.id)).get('shipshape.seal');
  expect(seal).toMatch(/^v1:[0-9a-f]{40}$/);

  // Someone's VM, marked by hand as shipshape's "intruder-01" (what the old code accepted).
  const intruder = systemNamed('intruder-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:0a:02' } });
  const theirs = await create(intruder, legacy);
  const seen = (await observed(sealed)).find((r) => r.id === theirs.id)!;
  expect(seen).toMatchObject({ system: 'intruder-01', owned: false });
  // A tombstone for intruder-01 would delete it: the provider refuses on what the VM carries now.
  await expect(
    provider().delete({ ...intruder, state: 'absent' }, { ...seen, owned: true }, ctxFor(sealed)),
  ).rejects.toThrow(/refusing to delete VM .* sealed by this site/);

  // Copying the real VM's marker and seal onto another VM does not work either: the seal names the VM.
  await edit(theirs.id, [
    ['shipshape.system', 'real-01'],
    ['shipshape.os', 'debian12'],
    ['shipshape.seal', seal!],
  ]);
  const all = await observed(sealed);
  expect(all.filter((r) => r.system === 'real-01').map((r) => [r.id, r.owned])).toEqual(
    expect.arrayContaining([
      [made.id, true],
      [theirs.id, false],
    ]),
  );
  // Apply for real-01 converges the real VM only (no "two VMs carry its marker"), and leaves the copy as it was.
  const again = await create({ ...real, cpu: 2 }, sealed);
  expect(again.id).toBe(made.id);
  expect((await extra(theirs.id)).get('shipshape.system')).toBe('real-01');
  const still = (await observed(sealed)).find((r) => r.id === theirs.id)!;
  expect(still.owned).toBe(false);
}, 120_000);

test("`ownership seal` migrates an existing site: the VMs its manifests name get this site's seal, once", async () => {
  const old = systemNamed('old-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:0a:03' } });
  const made = await create(old, legacy);
  expect((await observed(sealed)).find((r) => r.id === made.id)!.owned).toBe(false);
  const first = await provider().sealMarkers(ctxFor(sealed), new Set(['old-01']));
  expect(first.sealed).toEqual([`vm old-01: old-01 (${made.id})`]);
  expect((await observed(sealed)).find((r) => r.id === made.id)!.owned).toBe(true);
  expect((await provider().sealMarkers(ctxFor(sealed), new Set(['old-01']))).sealed).toEqual([]);
}, 120_000);
