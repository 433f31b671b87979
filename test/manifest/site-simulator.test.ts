/** `vms.simulator` (backend vsphere) picks what `shipshape lab up` starts; a real site talks to its vCenter and may not set it. */
import type { LoadResult } from '../../src/manifest';
import { SITE, cleanupRepos, lines as allLines, load } from './tmp-repo';

const lines = (r: LoadResult) => allLines(r).filter((l) => !l.includes(': warning: '));
afterAll(cleanupRepos);

const VSPHERE = `  vms:
    backend: vsphere
    url: https://127.0.0.1:18989/sdk
    username: \${env:SHIPSHAPE_U}
    password: \${env:SHIPSHAPE_P}
    tls: { caFile: ca.pem }
    datacenter: DC0
    cluster: DC0_C0
    folder: shipshape
    datastore: LocalDS_0
    portgroup: DC0_DVPG0
    templates: { debian12: tpl-debian12 }
    simulator: vcenter-like
`;

it('vms.simulator is for lab sites: refused on a real site with where and what to do, accepted with lab: true', async () => {
  const site = SITE + VSPHERE;
  expect(lines(await load({ 'shipshape.yaml': site }))).toEqual([
    'shipshape.yaml:23:16: vms.simulator chooses the simulator `shipshape lab up` starts; a real site talks to its vCenter: remove it, or set lab: true',
  ]);
  const lab = await load({ 'shipshape.yaml': site.replace('spec:\n', 'spec:\n  lab: true\n') });
  expect(lines(lab)).toEqual([]);
  expect(lab.ok && lab.site?.vms?.simulator).toBe('vcenter-like');
});

it('only vcsim and vcenter-like are simulators', async () => {
  const r = await load({
    'shipshape.yaml': (SITE + VSPHERE)
      .replace('spec:\n', 'spec:\n  lab: true\n')
      .replace('simulator: vcenter-like', 'simulator: esxi'),
  });
  expect(r.ok).toBe(false);
  expect(lines(r).join('\n')).toMatch(/simulator/);
});
