/**
 * Real vCenters keep datacenters in folders (`Europe/DC1`) and templates in a folder of their own
 * (`Templates/debian12`): the site config takes both as inventory paths, the way
 * SearchIndex.FindByInventoryPath names them. Port groups take a path below the network folder and
 * names with `/` (as the vSphere Client shows them, or `%2f` as vCenter stores them).
 */
import type { LoadResult } from '../../src/manifest';
import { SITE, cleanupRepos, lines as allLines, load } from './tmp-repo';

const lines = (r: LoadResult) => allLines(r).filter((l) => !l.includes(': warning: '));
afterAll(cleanupRepos);

const vsphere = (datacenter: string, template: string) => `  vms:
    backend: vsphere
    url: https://vcenter.example.com/sdk
    username: \${env:SHIPSHAPE_U}
    password: \${env:SHIPSHAPE_P}
    datacenter: ${datacenter}
    cluster: C0
    folder: shipshape
    datastore: ds0
    portgroup: pg0
    templates: { debian12: ${template} }
`;

it('a datacenter in folders and a template in a folder are written as their paths', async () => {
  const r = await load({ 'shipshape.yaml': SITE + vsphere('Europe/Frankfurt DC', 'Templates/tpl-debian12') });
  expect(lines(r)).toEqual([]);
  expect(r.ok && r.site?.vms).toMatchObject({
    datacenter: 'Europe/Frankfurt DC',
    templates: { debian12: 'Templates/tpl-debian12' },
  });
});

it('an empty path part is still refused, with the shape to write', async () => {
  const r = await load({ 'shipshape.yaml': SITE + vsphere('Europe//DC1', 'tpl-debian12') });
  expect(r.ok).toBe(false);
  expect(lines(r).join('\n')).toMatch(/datacenter.*Europe\/DC1/);
});

it("names as ESXi and vCenter give them are accepted: a second host's local datastore `datastore1 (1)`, a port group `VLAN-100 (Prod)`, a folder `Linux: Web & DB`", async () => {
  const site = (SITE + vsphere('Europe/DC1', 'Templates/tpl-debian12'))
    .replace('datastore: ds0', 'datastore: datastore1 (1)')
    .replace('portgroup: pg0', 'portgroup: VLAN-100 (Prod)')
    .replace('folder: shipshape', 'folder: "Linux: Web & DB/shipshape"');
  const r = await load({ 'shipshape.yaml': site });
  expect(lines(r)).toEqual([]);
  expect(r.ok && r.site?.vms).toMatchObject({
    datastore: 'datastore1 (1)',
    portgroup: 'VLAN-100 (Prod)',
    folder: 'Linux: Web & DB/shipshape',
  });
});

it('a port group with `/` in its name (as the vSphere Client shows it, or as vCenter stores it) and a port group path are accepted', async () => {
  for (const pg of ['VLAN 10.0.0.0/24', 'Prod/VLAN 10.0.0.0%2f24', 'Prod/DSwitch-A/VLAN-100']) {
    const r = await load({
      'shipshape.yaml': SITE + vsphere('DC1', 'tpl-debian12').replace('portgroup: pg0', `portgroup: ${pg}`),
    });
    expect(lines(r)).toEqual([]);
    expect(r.ok && r.site?.vms).toMatchObject({ portgroup: pg });
  }
});

it('a port group with a bare `%` or `\\` is refused at its line, saying how vCenter writes them', async () => {
  const r = await load({
    'shipshape.yaml': SITE + vsphere('DC1', 'tpl-debian12').replace('portgroup: pg0', 'portgroup: VLAN 50%'),
  });
  expect(r.ok).toBe(false);
  expect(lines(r).join('\n')).toMatch(/shipshape\.yaml:\d+:\d+: .*portgroup.*`%` as `%25` and `\\` as `%5c`/);
});

it('a datastore with `/` (vCenter stores it as %2f) is still refused at its line with the characters a name may hold', async () => {
  const r = await load({
    'shipshape.yaml': SITE + vsphere('DC1', 'tpl-debian12').replace('datastore: ds0', 'datastore: ds 10/24'),
  });
  expect(r.ok).toBe(false);
  expect(lines(r).join('\n')).toMatch(
    /shipshape\.yaml:\d+:\d+: .*datastore.*a vSphere name of letters, digits, spaces and `_ \. - \( \) \+ , : @ # &`/,
  );
});
