/**
 * Shards within a site (`spec.shards`): which shard a system belongs to (its net's), the narrowed load a
 * `--shard` run works on, and the overlaps and gaps validation reports with file:line:col and what to do.
 */
import { loadRepo } from '../../src/manifest';
import { cleanupRepos, lines, makeRepo, system } from './tmp-repo';

afterAll(cleanupRepos);

const zone = (name: string) => `      - name: ${name}
        backend: rfc2136
        server: { host: 127.0.0.1, port: 53 }
        tsig: { name: k, algorithm: hmac-sha256, secret: "\${env:SHIPSHAPE_TSIG}" }
`;
const server = (name: string, net: string) => `      - name: ${name}
        backend: kea
        nets: [${net}]
        ssh: { host: 127.0.0.1, port: 22, user: root, privateKey: "\${env:SHIPSHAPE_SSH_KEY}", knownHosts: known_hosts }
        controlSocket: /run/kea/${name}.sock
        configPath: /etc/kea/${name}.conf
`;

const site = (shards: string) => `apiVersion: shipshape.dev/v1
kind: Site
spec:
  nets:
    dev-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: dev.example.com }
    live-net: { cidr: 203.0.113.0/24, gateway: 203.0.113.1, domain: live.example.com }
  dns:
    zones:
${zone('dev.example.com')}${zone('live.example.com')}  dhcp:
    servers:
${server('dhcp-dev', 'dev-net')}${server('dhcp-live', 'live-net')}  shards:
${shards}`;

const TWO_SHARDS = site(
  [
    '    dev: { nets: [dev-net], zones: [dev.example.com], dhcpServers: [dhcp-dev] }',
    '    live: { nets: [live-net], zones: [live.example.com], dhcpServers: [dhcp-live] }',
    '',
  ].join('\n'),
);

const SYSTEMS = {
  'systems/web-01.yaml': system('web-01', 'profile: base'),
  'systems/shop-01.yaml': system('shop-01', 'profile: base', 'network: { net: live-net }'),
};

const load = async (files: Record<string, string | null>, opts: { shard?: string } = {}) =>
  loadRepo(await makeRepo({ ...SYSTEMS, ...files }), opts);

it('a system belongs to the shard of its net; a --shard load holds only its systems, nets, zones and DHCP servers', async () => {
  const all = await load({ 'shipshape.yaml': TWO_SHARDS });
  expect(lines(all)).toEqual([]);
  expect(all.systems.map((s) => s.name)).toEqual(['shop-01', 'web-01']);

  const live = await load({ 'shipshape.yaml': TWO_SHARDS }, { shard: 'live' });
  expect(live.ok).toBe(true);
  expect(live.systems.map((s) => s.name)).toEqual(['shop-01']);
  expect(live.shard).toEqual({
    name: 'live',
    others: ['web-01'],
    shardOf: { 'web-01': 'dev' },
    elsewhere: [expect.objectContaining({ name: 'web-01', network: expect.objectContaining({ net: 'dev-net' }) })],
  });
  expect(Object.keys(live.site!.nets)).toEqual(['live-net']);
  expect(live.site!.dns.zones.map((z) => z.name)).toEqual(['live.example.com']);
  expect(live.site!.dhcp.servers.map((d) => d.name)).toEqual(['dhcp-live']);

  const unknown = await load({ 'shipshape.yaml': TWO_SHARDS }, { shard: 'prod' });
  expect(lines(unknown)).toEqual([
    'shipshape.yaml:1:1: --shard prod: no such shard; the site has dev, live (spec.shards)',
  ]);
});

it('a net, zone or DHCP server in two shards is an error at the second, naming the first', async () => {
  const r = await load({
    'shipshape.yaml': site(
      [
        '    dev: { nets: [dev-net], zones: [dev.example.com], dhcpServers: [dhcp-dev] }',
        '    live: { nets: [live-net, dev-net], zones: [live.example.com, dev.example.com], dhcpServers: [dhcp-live] }',
        '',
      ].join('\n'),
    ),
  });
  expect(lines(r)).toEqual([
    'shipshape.yaml:33:30: net `dev-net` is in shard `dev` (shipshape.yaml:32:19) and in shard `live`: shards own disjoint nets (two workers would write it at the same time); remove it from one of them',
    'shipshape.yaml:33:66: DNS zone `dev.example.com` is in shard `dev` (shipshape.yaml:32:37) and in shard `live`: shards own disjoint DNS zones (two workers would write it at the same time); remove it from one of them',
  ]);
});

it('a name left out, an unknown name, and a DHCP server or domain of another shard are errors', async () => {
  const r = await load({
    'shipshape.yaml': site(
      [
        '    dev: { nets: [dev-net], zones: [dev.example.com], dhcpServers: [dhcp-dev, dhcp-live] }',
        '    live: { nets: [live-net, lab-net] }',
        '',
      ].join('\n'),
    ),
    'systems/web-02.yaml': system(
      'web-02',
      'profile: base',
      'network: { net: live-net }',
      'dns: { domain: dev.example.com }',
    ),
  });
  expect(lines(r)).toEqual([
    'shipshape.yaml:27:16: DHCP server `dhcp-live` is in shard `dev` but serves net `live-net` of shard `live`: a DHCP server belongs to the shard of the nets it serves; move the server or the net to one shard',
    'shipshape.yaml:31:3: DNS zone `live.example.com` is in no shard: on a site with shards every net, DNS zone and DHCP server belongs to exactly one; add it to the zones of one of dev, live',
    'shipshape.yaml:33:30: shard `live` names net `lab-net`, which nets does not declare (declared: dev-net, live-net): fix the name or declare it',
    "systems/web-02.yaml:8:18: system `web-02` is in shard `live` (net live-net) but its domain dev.example.com is in zone dev.example.com of shard `dev`: use a domain of its shard's zones, or a net of shard dev",
  ]);
});

it('a dependency across shards is an error: separate workers cannot wait for each other', async () => {
  const r = await load({
    'shipshape.yaml': TWO_SHARDS,
    'environments/shop.yaml':
      'apiVersion: shipshape.dev/v1\nkind: Environment\nmetadata: { name: shop }\nspec:\n  tiers:\n    - { name: db, systems: [web-01] }\n    - { name: shop, systems: [shop-01], dependsOn: [db] }\n',
  });
  expect(lines(r)).toEqual([
    "systems/shop-01.yaml:4:9: system `shop-01` (shard `live`) depends on `web-01` (shard `dev`): shards are reconciled by separate workers, which cannot wait for each other; put both systems' nets in one shard, or drop the dependency",
  ]);
});

it('a tombstone names its net on a site with shards: the shard that deletes it', async () => {
  const r = await load({
    'shipshape.yaml': TWO_SHARDS,
    'systems/old-01.yaml': system('old-01', 'state: absent'),
    'systems/old-02.yaml': system('old-02', 'state: absent', 'network: { net: live-net }'),
  });
  expect(lines(r)).toEqual([
    "systems/old-01.yaml:6:10: system `old-01` is declared absent but names no net: on a site with shards a tombstone's net says which shard's run deletes it; add `network: { net: NAME }` with the net it is in",
  ]);
  const live = await load(
    {
      'shipshape.yaml': TWO_SHARDS,
      'systems/old-02.yaml': system('old-02', 'state: absent', 'network: { net: live-net }'),
    },
    { shard: 'live' },
  );
  expect(live.systems.map((s) => [s.name, s.state])).toEqual([
    ['old-02', 'absent'],
    ['shop-01', 'present'],
  ]);
});
