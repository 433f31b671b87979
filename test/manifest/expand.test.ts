/** Profile expansion: system over profile over parent; maps merge key by key; lists replace; provenance kept. */
import { createHash } from 'crypto';
import { derivedMac } from '../../src/manifest';
import type { DesiredSystem } from '../../src/manifest';
import { cleanupRepos, lines, load, system } from './tmp-repo';

afterAll(cleanupRepos);

const WEB_PROFILE = `apiVersion: shipshape.dev/v1
kind: Profile
metadata: { name: web }
spec:
  extends: base
  labels: { team: shop, env: dev }
  memoryMiB: 4096
  disks:
    - sizeGiB: 40
    - sizeGiB: 100
  dns: { aliases: [www, shop] }
  roles: [app/shop]
  lifecycle: { protect: true, powerPolicy: allow-poweroff }
`;

const BASE_WITH_LABELS = `apiVersion: shipshape.dev/v1
kind: Profile
metadata: { name: base }
spec:
  labels: { managed-by: shipshape, env: base }
  cpu: 2
  memoryMiB: 2048
  disks: [{ sizeGiB: 20 }]
  network: { net: dev-net, portgroup: PG_BASE }
  os: debian12
  lifecycle: { cmdbOnDelete: purge }
`;

async function expandOne(systemYaml: string): Promise<DesiredSystem> {
  const r = await load({
    'profiles/base.yaml': BASE_WITH_LABELS,
    'profiles/web.yaml': WEB_PROFILE,
    'systems/web-01.yaml': systemYaml,
  });
  expect(lines(r)).toEqual([]);
  return r.systems[0];
}

describe('profile expansion', () => {
  it('layers system over profile over parent profile, merging maps key by key', async () => {
    const s = await expandOne(
      'apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: web-01\n  labels: { env: test }\nspec:\n  profile: web\n  cpu: 8\n  lifecycle: { protect: false }\n',
    );
    expect(s.cpu).toBe(8); // system
    expect(s.memoryMiB).toBe(4096); // profile over parent
    expect(s.os).toBe('debian12'); // parent
    expect(s.labels).toEqual({ 'managed-by': 'shipshape', team: 'shop', env: 'test' });
    expect(s.lifecycle).toEqual({
      protect: false,
      vmOnDelete: 'destroy',
      cmdbOnDelete: 'purge',
      powerPolicy: 'allow-poweroff',
    });
    expect(s.network).toMatchObject({ net: 'dev-net', ip: 'auto', portgroup: 'PG_BASE' });
    expect(s.dns).toEqual({ domain: 'dev.example.com', aliases: ['www', 'shop'] });
    expect(s.roles).toEqual([{ name: 'app/shop', params: {} }]);
  });

  it('replaces lists as a whole (disks, roles, aliases)', async () => {
    const s = await expandOne(
      system('web-01', 'profile: web', 'disks: [{ sizeGiB: 60 }]', 'roles: []', 'dns: { aliases: [api] }'),
    );
    expect(s.disks).toEqual([{ sizeGiB: 60 }]);
    expect(s.roles).toEqual([]);
    expect(s.dns.aliases).toEqual(['api']);
  });

  it('remembers where every value was set', async () => {
    const s = await expandOne(system('web-01', 'profile: web', 'cpu: 8', 'network: { ip: 198.51.100.20 }'));
    expect(s.sources.cpu).toEqual({ file: 'systems/web-01.yaml', line: 7, col: 8 });
    expect(s.sources.memoryMiB).toEqual({ file: 'profiles/web.yaml', line: 7, col: 14 });
    expect(s.sources.os).toEqual({ file: 'profiles/base.yaml', line: 10, col: 7 });
    expect(s.sources['disks[1].sizeGiB']).toEqual({ file: 'profiles/web.yaml', line: 10, col: 16 });
    expect(s.sources['network.net']).toEqual({ file: 'profiles/base.yaml', line: 9, col: 19 });
    expect(s.sources['network.ip']).toEqual({ file: 'systems/web-01.yaml', line: 8, col: 18 });
    expect(s.sources['labels.team']).toEqual({ file: 'profiles/web.yaml', line: 6, col: 19 });
    // defaulted from the net's domain in shipshape.yaml
    expect(s.sources['dns.domain']).toEqual({ file: 'shipshape.yaml', line: 5, col: 70 });
    // defaults have no source
    expect(s.sources['lifecycle.vmOnDelete']).toBeUndefined();
    expect(s.file).toBe('systems/web-01.yaml');
  });

  it('derives a stable MAC in VMware’s manual range from the name, and lower-cases explicit ones', async () => {
    const h = createHash('sha256').update('web-01').digest();
    const want = `00:50:56:${[h[0] & 0x3f, h[1], h[2]].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    const s = await expandOne(system('web-01', 'profile: web'));
    expect(s.network.mac).toBe(want);
    expect(derivedMac('web-01')).toBe(want);
    for (const name of ['a', 'web-dev-01', 'db-live-17', 'x'.repeat(63)]) {
      expect(derivedMac(name)).toMatch(/^00:50:56:[0-3][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/);
    }
    const e = await expandOne(system('web-01', 'profile: web', 'network: { mac: "00:50:56:3F:AB:CD" }'));
    expect(e.network.mac).toBe('00:50:56:3f:ab:cd');
    // The MAC vCenter or ESXi generated for a VM someone else made (what `shipshape import` keeps) is valid: the
    // plan refuses only to give a VM a MAC outside the manual range (test/vsphere/provider.test.ts).
    for (const generated of ['00:50:56:9A:01:02', '00:0c:29:33:34:38'])
      expect((await expandOne(system('web-01', 'profile: web', `network: { mac: "${generated}" }`))).network.mac).toBe(
        generated.toLowerCase(),
      );
  });

  it('an explicit domain wins over the net’s default', async () => {
    const s = await expandOne(
      system('web-01', 'profile: web', 'network: { net: live-net }', 'dns: { domain: shop.live.example.com }'),
    );
    expect(s.dns.domain).toBe('shop.live.example.com');
    expect(s.sources['dns.domain']).toEqual({ file: 'systems/web-01.yaml', line: 8, col: 18 });
  });

  it('expands a tombstone without requiring the fields a present system needs', async () => {
    const r = await load({
      'systems/old-01.yaml': system('old-01', 'state: absent', 'lifecycle: { vmOnDelete: poweroff-keep }'),
    });
    expect(lines(r)).toEqual([]);
    expect(r.systems[0]).toMatchObject({ name: 'old-01', state: 'absent', lifecycle: { vmOnDelete: 'poweroff-keep' } });
  });

  it('reports each field a present system still lacks after expansion, at its spec', async () => {
    const r = await load({ 'systems/web-01.yaml': system('web-01', 'cpu: 2') });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:5:1: system `web-01` has no disks: set spec.disks or use a profile that sets it',
      'systems/web-01.yaml:5:1: system `web-01` has no memoryMiB: set spec.memoryMiB or use a profile that sets it',
      'systems/web-01.yaml:5:1: system `web-01` has no network.net: set spec.network.net or use a profile that sets it',
      'systems/web-01.yaml:5:1: system `web-01` has no os: set spec.os or use a profile that sets it',
    ]);
  });
});
