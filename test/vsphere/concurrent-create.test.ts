/**
 * Creates at the site's default concurrency do not flake: 15 new systems (two disks each, like the
 * lab's web-live profile) are created in one apply against vcsim with no failure, each VM with
 * its MAC, both disks and the marker, and no create journal left.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SiteConfig } from '../../src/manifest/site';
import { CreateJournal } from '../../src/engine/journal';
import { applyVms } from '../helpers/vsphere-apply';
import { makeTemplates, siteFor, systemNamed } from '../helpers/vsphere-site';
import { startVcsim, type Vcsim } from '../helpers/vcsim';

let sim: Vcsim;
let site: SiteConfig;
let root: string;

beforeAll(async () => {
  sim = await startVcsim({ args: ['-delay', '20'] }); // slower calls, like a loaded lab: widens the window between clone and reconfigure
  await makeTemplates(sim, ['tpl-debian12']);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vs-many-'));
  site = siteFor(sim, root);
}, 300_000);
afterAll(async () => {
  await sim?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const systems = (n: number) =>
  Array.from({ length: n }, (_, i) => {
    const hex = (i + 16).toString(16).padStart(2, '0');
    return systemNamed(`many-${String(i).padStart(2, '0')}`, {
      disks: [{ sizeGiB: 40 }, { sizeGiB: 100 }],
      network: { net: 'dev-net', ip: 'auto', mac: `00:50:56:03:00:${hex}` },
    });
  });

test('15 new systems at the default concurrency: every create succeeds, the next plan is empty', async () => {
  const journal = new CreateJournal(path.join(root, 'journal'));
  const want = systems(15);
  expect(site.defaults.concurrency).toBe(4);
  const { report } = await applyVms(site, want, journal);
  expect(report.outcomes.filter((o) => o.status !== 'ok')).toEqual([]);
  expect(report).toMatchObject({ ok: true, journalLeft: [] });
  const next = await applyVms(site, want, journal);
  expect(next.plan.actions.filter((a) => a.action !== 'noop')).toEqual([]);
}, 300_000);
