/** `shipshape ownership seal` for i-doit: unsealed claims of declared systems get the site's seal once; others stay unsealed. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UNKNOWN } from '../../src/engine/contract';
import type { SecretRef, SiteConfig } from '../../src/manifest/site';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { IdoitCmdbProvider } from '../../src/providers/idoit/cmdb';
import { createIdoitClient } from '../../src/providers/idoit/site-client';
import { testContext, testSite, testSystem } from '../support/idoit-fixtures';

const SECRETS: Record<string, string> = {
  '${env:IDOIT_API_KEY}': 'k',
  '${env:OWNERSHIP_KEY}': 'the-seal-test-key-0123456789',
};
const secret = async (r: SecretRef) => SECRETS[r.ref] ?? '';
let dir: string;
let emu: IdoitEmulator;
let plain: SiteConfig;
let sealed: SiteConfig;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-idoit-seal-'));
  emu = await startIdoitEmulator({ stateFile: path.join(dir, 'state.json'), apiKey: 'k', quickPurge: true });
  const base = testSite(emu.url, []);
  plain = { ...base, ipam: { ...base.ipam!, username: undefined, password: undefined } as never };
  plain = { ...plain, cmdb: plain.ipam };
  sealed = { ...plain, ownership: { siteId: 'prod', key: { ref: '${env:OWNERSHIP_KEY}' } } };
});
afterAll(async () => {
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const cmdb = (site: SiteConfig) => new IdoitCmdbProvider({ client: createIdoitClient(site, secret), site });
const owned = async (site: SiteConfig) => {
  const p = cmdb(site);
  const r = (await p.observe(testContext(site))).resources.filter((x) => x.owned).map((x) => x.system);
  await p.close();
  return r.sort();
};

test('declared systems are sealed once, an undeclared claim stays unsealed and not owned', async () => {
  const p = cmdb(plain);
  await p.observe(testContext(plain));
  for (const name of ['web-01', 'stray-01']) {
    const s = testSystem(name);
    await p.create(
      s,
      p.desired(s, { ip: UNKNOWN, mac: s.network.mac })!,
      { ip: UNKNOWN, mac: s.network.mac },
      testContext(plain),
    );
  }
  await p.close();
  expect(await owned(plain)).toEqual(['stray-01', 'web-01']);
  expect(await owned(sealed)).toEqual([]);
  const s = cmdb(sealed);
  expect(await s.sealMarkers(testContext(sealed), new Set(['web-01']))).toEqual({
    sealed: [expect.stringMatching(/^i-doit web-01: object #\d+$/)],
    skipped: [],
  });
  expect(await s.sealMarkers(testContext(sealed), new Set(['web-01']))).toEqual({ sealed: [], skipped: [] });
  await s.close();
  expect(await owned(sealed)).toEqual(['web-01']);
});
