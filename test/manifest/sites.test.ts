/**
 * Several sites in one repo (sites/<name>.yaml): which site a system belongs to, per-site slices,
 * and the cross-site mistakes validation reports with file:line:col.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRepo } from '../../src/manifest';
import { setAt, siteKeyAt } from '../../src/manifest/site-keys';
import * as yamlLib from '../../src/manifest/yaml-lib';
import { whereWritten } from '../../src/cli/hints';
import { lines, makeRepo, system } from './tmp-repo';

const site = (nets: string, zone: string) => `apiVersion: shipshape.dev/v1
kind: Site
spec:
  nets:
${nets}
  dns:
    zones:
      - name: ${zone}
        backend: rfc2136
        server: { host: 127.0.0.1, port: 53 }
        tsig: { name: k, algorithm: hmac-sha256, secret: "\${env:SHIPSHAPE_TSIG}" }
`;

const BERLIN = site(
  '    ber-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: ber.example.com }',
  'ber.example.com',
);
const PARIS = site(
  '    par-net: { cidr: 203.0.113.0/24, gateway: 203.0.113.1, domain: par.example.com }',
  'par.example.com',
);

const TWO_SITES = {
  'shipshape.yaml': null,
  'sites/berlin.yaml': BERLIN,
  'sites/paris.yaml': PARIS,
  'profiles/base.yaml':
    'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: base }\nspec:\n  cpu: 2\n  memoryMiB: 2048\n  disks: [{ sizeGiB: 20 }]\n  os: debian12\n',
  'profiles/paris.yaml':
    'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: paris }\nspec:\n  extends: base\n  site: paris\n  network: { net: par-net }\n',
};

async function loadSites(files: Record<string, string | null>, site?: string) {
  return loadRepo(await makeRepo({ ...TWO_SITES, ...files }), site === undefined ? {} : { site });
}

describe('a repo with sites/', () => {
  it('places systems by folder, by spec.site and through a profile, and slices per site', async () => {
    const files = {
      'systems/berlin/web-01.yaml': system('web-01', 'profile: base', 'network: { net: ber-net }'),
      'systems/db-01.yaml': system('db-01', 'profile: base', 'site: berlin', 'network: { net: ber-net }'),
      'systems/shop-01.yaml': system('shop-01', 'profile: paris'),
    };
    const all = await loadSites(files);
    expect(lines(all)).toEqual([]);
    expect(all.site).toBeUndefined(); // no site chosen: commands run them one after another
    expect(all.sites!.map((s) => [s.name, s.file, s.systems.map((x) => x.name)])).toEqual([
      ['berlin', 'sites/berlin.yaml', ['db-01', 'web-01']],
      ['paris', 'sites/paris.yaml', ['shop-01']],
    ]);
    const paris = await loadSites(files, 'paris');
    expect(paris.ok).toBe(true);
    expect(Object.keys(paris.site!.nets)).toEqual(['par-net']);
    expect(paris.systems.map((s) => [s.name, s.site, s.dns.domain])).toEqual([['shop-01', 'paris', 'par.example.com']]);
  });

  it('reports a net or zone of another site, a system without site, an unknown site and a folder that contradicts spec.site', async () => {
    const r = await loadSites({
      'systems/berlin/web-01.yaml': system('web-01', 'profile: base', 'network: { net: par-net }'),
      'systems/berlin/web-02.yaml': system(
        'web-02',
        'profile: base',
        'network: { net: ber-net }',
        'dns: { domain: par.example.com }',
      ),
      'systems/lost-01.yaml': system('lost-01', 'profile: base', 'network: { net: ber-net }'),
      'systems/typo-01.yaml': system('typo-01', 'profile: base', 'site: berln', 'network: { net: ber-net }'),
      'systems/berlin/odd-01.yaml': system('odd-01', 'profile: base', 'site: paris', 'network: { net: par-net }'),
    });
    expect(r.ok).toBe(false);
    expect(lines(r)).toEqual([
      'systems/berlin/odd-01.yaml:7:9: system `odd-01` lives in systems/berlin/ but says site `paris`: move the file to systems/paris/ or drop the site',
      'systems/berlin/web-01.yaml:7:19: net `par-net` belongs to site `paris` (sites/paris.yaml), but system `web-01` is in site `berlin` (sites/berlin.yaml): use a net of berlin (ber-net), or move the system to site paris',
      'systems/berlin/web-02.yaml:8:18: domain `par.example.com` is in zone par.example.com of site `paris` (sites/paris.yaml), but system `web-02` is in site `berlin`, which serves no zone for it: add the zone to sites/berlin.yaml or move the system to site paris',
      'systems/lost-01.yaml:4:9: system `lost-01` belongs to no site: set spec.site (one of berlin, paris), use a profile that sets it, or put the file under systems/<site>/',
      'systems/typo-01.yaml:7:9: unknown site `berln` (did you mean `berlin`?): sites are sites/<name>.yaml (berlin, paris)',
    ]);
  });

  it('reports one DNS name in two sites that serve the same zone, and allows it when they do not', async () => {
    const shared = site(
      '    par-net: { cidr: 203.0.113.0/24, gateway: 203.0.113.1, domain: ber.example.com }',
      'ber.example.com',
    );
    const files = {
      'systems/berlin/web-01.yaml': system('web-01', 'profile: base', 'network: { net: ber-net }'),
      'systems/paris/web-01.yaml': system('web-01', 'profile: base', 'network: { net: par-net }'),
    };
    const clash = await loadSites({ ...files, 'sites/paris.yaml': shared });
    expect(lines(clash)).toEqual([
      'systems/paris/web-01.yaml:4:9: DNS name web-01.ber.example.com of `web-01` (site paris) clashes with DNS name web-01.ber.example.com of `web-01` (site berlin, systems/berlin/web-01.yaml:4:9): both sites serve zone ber.example.com, so both would write it; rename one of them',
    ]);
    const apart = await loadSites(files);
    expect(lines(apart)).toEqual([]);
    expect(apart.sites!.map((s) => s.systems.map((x) => `${x.name}.${x.dns.domain}`))).toEqual([
      ['web-01.ber.example.com'],
      ['web-01.par.example.com'],
    ]);
  });

  it('refuses shipshape.yaml beside sites/, a site file whose name disagrees, and an unknown --site', async () => {
    const r = await loadRepo(
      await makeRepo({
        ...TWO_SITES,
        'shipshape.yaml': BERLIN,
        'sites/paris.yaml': PARIS.replace('kind: Site\n', 'kind: Site\nmetadata: { name: rome }\n'),
      }),
      { site: 'oslo' },
    );
    expect(lines(r)).toEqual([
      'shipshape.yaml:1:1: the repo has both shipshape.yaml and sites/: a repo with several sites keeps each in sites/<name>.yaml; move shipshape.yaml to sites/<name>.yaml',
      'sites/:1:1: --site oslo: no such site; the repo has berlin, paris (sites/<name>.yaml)',
      'sites/paris.yaml:3:19: site name `rome` does not match its file: expected `paris` (sites/paris.yaml)',
      'systems/:1:1: warning: no systems/ directory: the repo declares no systems (nothing will be created; nothing is deleted without a tombstone)',
    ]);
  });

  it("names where a key is set in the loaded site's own file, not in every site's, and parses it once while it is unchanged", async () => {
    const dir = await makeRepo({ ...TWO_SITES, 'systems/paris/shop-01.yaml': system('shop-01', 'profile: paris') });
    const paris = (await loadRepo(dir, { site: 'paris' })).site!;
    expect(paris.file).toBe('sites/paris.yaml');
    // Both site files set dns.zones at the same line: a refusal about paris names paris's only.
    expect(setAt(paris, 'dns.zones')).toBe('sites/paris.yaml:8:7');
    expect(siteKeyAt(paris, 'dns.zones.nope')).toEqual({ key: 'dns.zones', at: ['sites/paris.yaml:8:7'] });
    expect(whereWritten(paris, 'backend: rfc2136')).toEqual(['sites/paris.yaml:9:9']);
    // A plan asks for every blocked system: the file is parsed once, and again once it changed.
    const parse = jest.spyOn(yamlLib, 'yamlLib');
    try {
      for (let i = 0; i < 20; i++) expect(setAt(paris, 'nets.par-net')).toBe('sites/paris.yaml:5:14');
      expect(parse).not.toHaveBeenCalled();
      writeFileSync(join(dir, 'sites/paris.yaml'), `# moved down a line\n${PARIS}`);
      expect(setAt(paris, 'nets.par-net')).toBe('sites/paris.yaml:6:14');
    } finally {
      parse.mockRestore();
    }
  });

  it('keeps a repo with one shipshape.yaml as it was', async () => {
    const r = await loadRepo(
      await makeRepo({ 'systems/web-01.yaml': system('web-01', 'profile: base', 'site: elsewhere') }),
    );
    expect(r.sites).toBeUndefined();
    expect(r.site!.file).toBe('shipshape.yaml');
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:9: site `elsewhere`: this repo has one site (shipshape.yaml without metadata.name); remove spec.site, or keep several sites in sites/<name>.yaml',
    ]);
  });
});
