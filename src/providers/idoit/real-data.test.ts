/**
 * The `ip` and `cmdb` steps against an i-doit holding years of hand-entered data (the emulator): virtual
 * servers titled `WEB01` or `db01.corp.example.org` for machines the repo now declares as `web01`, `db01`,
 * and umlauts in titles and descriptions. A create would document such a machine a second time: the plan
 * must show the existing object (adopt it or rename), not create a twin.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../lab/idoit';
import { plan } from '../../plan/planner';
import type { DesiredSystem } from '../../manifest/types';
import type { SiteConfig } from '../../manifest/site';
import { testContext, testSite, testSystem } from '../../../test/support/idoit-fixtures';
import { IdoitCmdbProvider } from './cmdb';
import { IdoitIpamProvider } from './ipam';
import { createIdoitClient } from './site-client';

const SECRETS: Record<string, string> = {
  '${env:IDOIT_API_KEY}': 'lab-key',
  '${env:IDOIT_USER}': 'shipshape',
  '${env:IDOIT_PASSWORD}': 'pw',
};
const secret = async (r: { ref: string }) => SECRETS[r.ref] ?? '';

let dir: string;
let emu: IdoitEmulator;
let site: SiteConfig;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-real-'));
  emu = await startIdoitEmulator({
    stateFile: path.join(dir, 'idoit.json'),
    apiKey: 'lab-key',
    users: [{ username: 'shipshape', password: 'pw' }],
    nets: [{ title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1' }],
  });
  site = testSite(emu.url, [{ title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1', dnsServers: [] }]);
  const raw = createIdoitClient(site, secret);
  const net = (
    await raw.call<{ id: number; title: string }[]>('cmdb.objects.read', {
      filter: { type: 'C__OBJTYPE__LAYER3_NET' },
    })
  )[0]!.id;
  for (const [title, ip, description] of [
    ['WEB01', '10.1.0.21', 'Webserver Vertrieb, Ansprechpartner: Jürgen Müller'],
    ['db01.lab.example.org', '10.1.0.22', 'Datenbank (Größe: 2 TB)'],
    ['Kassensystem Köln', '10.1.0.23', ''],
  ] as const)
    await raw.call('cmdb.object.create', {
      type: 'C__OBJTYPE__VIRTUAL_SERVER',
      title,
      description,
      categories: { C__CATG__IP: [{ net, ipv4_address: ip }] },
    });
  await raw.close();
});
afterAll(async () => {
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function planOf(systems: DesiredSystem[]) {
  const providers = [
    new IdoitIpamProvider({ client: createIdoitClient(site, secret), site, systems }),
    new IdoitCmdbProvider({ client: createIdoitClient(site, secret), site }),
  ];
  const observations = new Map();
  for (const p of providers) observations.set(p.kind, await p.observe(testContext(site)));
  for (const p of providers) await p.close?.();
  return plan({ systems, site, providers, observations, maxDeletes: 3, now: new Date() });
}

test('an object titled WEB01 or db01.<domain> is the existing web01/db01 (adopt or rename), not a twin to create', async () => {
  const p = await planOf([testSystem('web01'), testSystem('db01'), testSystem('app01')]);
  const ip = (s: string) => p.actions.find((a) => a.system === s && a.kind === 'ip')!;
  for (const s of ['web01', 'db01']) {
    expect(ip(s)).toMatchObject({ action: 'create', blockedCode: 'collides' });
    expect(ip(s).blocked).toContain(`shipshape adopt ${s}`);
  }
  expect(ip('app01')).toMatchObject({ action: 'create' });
  expect(ip('app01').blocked).toBeUndefined();
  // Hand-entered objects no manifest names are reported as such, umlauts and all.
  expect(p.warnings).toContainEqual(expect.objectContaining({ code: 'unmanaged', system: 'kassensystem köln' }));
});

test('`shipshape adopt --accept-changes` takes the hand-titled objects over', async () => {
  const systems = [testSystem('web01'), testSystem('db01')];
  const ipam = new IdoitIpamProvider({ client: createIdoitClient(site, secret), site, systems });
  const obs = new Map([['ip' as const, await ipam.observe(testContext(site))]]);
  await ipam.close();
  const p = plan({
    systems,
    site,
    providers: [ipam],
    observations: obs,
    maxDeletes: 3,
    now: new Date(),
    adopt: { acceptChanges: true },
  });
  expect(p.actions.map((a) => [a.system, a.action, a.blocked])).toEqual([
    ['db01', 'adopt', undefined],
    ['web01', 'adopt', undefined],
  ]);
  // The host address gets the system's name (the hand entry had none); the address stays.
  for (const s of ['web01', 'db01'])
    expect(p.actions.find((a) => a.system === s)!.changes.find((c) => c.path === 'name')).toMatchObject({ to: s });
});
