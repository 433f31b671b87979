/** `shipshape validate` on environments and cross-references: membership, order, references, cycles. */
import type { LoadResult } from '../../src/manifest';
import { cleanupRepos, lines as allLines, load, system } from './tmp-repo';

const errors = (r: LoadResult) => allLines(r).filter((l) => !l.includes(': warning: '));

afterAll(cleanupRepos);

const WEB_ROLE = `apiVersion: shipshape.dev/v1
kind: Role
metadata: { name: app/web }
spec:
  params: { type: object, properties: { db: { type: string } } }
  steps:
    - file: { path: /etc/web/upstreams, template: templates/upstreams }
`;

const env = (tiers: string) =>
  `apiVersion: shipshape.dev/v1\nkind: Environment\nmetadata: { name: shop }\nspec:\n  tiers:\n${tiers}`;

const files = (over: Record<string, string | null> = {}) => ({
  'roles/app/web/role.yaml': WEB_ROLE,
  'roles/app/web/templates/upstreams': 'web {{ system.name }}\n',
  'systems/db-01.yaml': system('db-01', 'profile: base'),
  'systems/web-01.yaml': system(
    'web-01',
    'profile: base',
    'roles:',
    '  - name: app/web',
    '    params: { db: "{{ systems.db-01.ip }}:5432" }',
  ),
  'systems/lb-01.yaml': system('lb-01', 'profile: base'),
  'environments/shop.yaml': env(
    '    - { name: db, systems: [db-01] }\n    - { name: web, systems: [web-01], dependsOn: [db] }\n    - { name: lb, systems: [lb-01], dependsOn: [web] }\n',
  ),
  ...over,
});

it('an environment orders its tiers, and a reference adds its own dependency', async () => {
  const r = await load(files());
  expect(errors(r)).toEqual([]);
  const by = new Map(r.systems.map((s) => [s.name, s]));
  expect(by.get('web-01')!.dependsOn).toEqual(['db-01']);
  expect(by.get('lb-01')!.dependsOn).toEqual(['web-01']);
  expect(by.get('db-01')!.dependsOn).toBeUndefined();
  expect(by.get('lb-01')!.environment).toEqual({ name: 'shop', systems: ['db-01', 'lb-01', 'web-01'] });
});

it('a cycle is an error that spells out the cycle and where each link is declared', async () => {
  const r = await load(
    files({
      'environments/shop.yaml': env(
        '    - { name: db, systems: [db-01], dependsOn: [lb] }\n    - { name: web, systems: [web-01], dependsOn: [db] }\n    - { name: lb, systems: [lb-01], dependsOn: [web] }\n',
      ),
    }),
  );
  expect(errors(r)).toEqual([
    'environments/shop.yaml:6:49: dependency cycle: db-01 → lb-01 → web-01 → db-01: db-01 → lb-01 (tier db dependsOn lb, environments/shop.yaml:6:49); lb-01 → web-01 (tier lb dependsOn web, environments/shop.yaml:8:49); web-01 → db-01 (tier web dependsOn db, environments/shop.yaml:7:51); remove one of these links',
  ]);
});

it('a cycle through a cross-reference names the reference', async () => {
  const r = await load(
    files({
      'systems/db-01.yaml': system(
        'db-01',
        'profile: base',
        'roles:',
        '  - name: app/web',
        '    params: { db: "{{ systems.web-01.fqdn }}" }',
      ),
      'environments/shop.yaml': env('    - { name: all, systems: [db-01, web-01, lb-01] }\n'),
    }),
  );
  expect(errors(r)).toEqual([
    'systems/db-01.yaml:9:21: dependency cycle: db-01 → web-01 → db-01: db-01 → web-01 ({{ systems.web-01.fqdn }}, systems/db-01.yaml:9:21); web-01 → db-01 ({{ systems.db-01.ip }}, systems/web-01.yaml:9:21); remove one of these links',
  ]);
});

it('a reference to an unknown system, an unknown field, a missing label or an empty selection is an error', async () => {
  const r = await load(
    files({
      'systems/web-01.yaml': system(
        'web-01',
        'profile: base',
        'roles:',
        '  - name: app/web',
        '    params: { db: "{{ systems.db-09.ip }}" }',
      ).replace('  name: web-01', '  name: web-01\n  labels: { tier: web }'),
      'systems/lb-01.yaml': system(
        'lb-01',
        'profile: base',
        'roles:',
        '  - name: app/web',
        '    params: { db: "{{ systems.db-01.address }}" }',
      ),
      'roles/app/web/templates/upstreams':
        'web {{ system.name }}\nup {{ environment.systems[tier=web].ip | join }}\nx {{ environment.systems[tier=cache].ip | join }}\nz {{ systems.web-01.labels.zone }}\n',
    }),
  );
  expect(errors(r)).toEqual([
    'roles/app/web/templates/upstreams:3:3: {{ environment.systems[tier=cache].ip }} (role app/web, system lb-01): selects no system of environment `shop` (none has tier: cache)',
    'roles/app/web/templates/upstreams:4:3: {{ systems.web-01.labels.zone }} (role app/web, system lb-01): system web-01 has no label `zone`',
    'systems/lb-01.yaml:9:21: {{ systems.db-01.address }} (role app/web, system lb-01): `systems.db-01.address`: a system has no field `address` (fields: ip, fqdn, mac, name, labels.<key>)',
    'systems/web-01.yaml:10:21: {{ systems.db-09.ip }} (role app/web, system web-01): no system named `db-09` is declared (present) under systems/',
  ]);
});

it('a system in two tiers, a tier depending on nothing known, and environment.* outside an environment are errors', async () => {
  const r = await load(
    files({
      'environments/shop.yaml': env(
        '    - { name: db, systems: [db-01, web-01] }\n    - { name: web, systems: [web-01], dependsOn: [cache] }\n',
      ),
      'systems/lb-01.yaml': system(
        'lb-01',
        'profile: base',
        'roles:',
        '  - name: app/web',
        '    params: { db: "{{ environment.name }}" }',
      ),
    }),
  );
  expect(errors(r)).toEqual([
    'environments/shop.yaml:7:7: system `web-01` is already in shop/db; a system belongs to one environment and one tier',
    'environments/shop.yaml:7:51: tier `web` depends on `cache`, which is no tier of environment `shop` (db, web) and no declared system',
    'systems/lb-01.yaml:9:21: {{ environment.name }} (role app/web, system lb-01): system lb-01 is in no environment; add it to a tier under environments/',
  ]);
});

it('in a repo with several sites, a reference or an environment across sites is an error', async () => {
  const site = (net: string, cidr: string) =>
    `apiVersion: shipshape.dev/v1\nkind: Site\nspec:\n  nets:\n    ${net}: { cidr: ${cidr}.0/24, gateway: ${cidr}.1, domain: ${net}.example.com }\n`;
  const r = await load(
    files({
      'shipshape.yaml': null,
      'sites/berlin.yaml': site('ber-net', '198.51.100'),
      'sites/paris.yaml': site('par-net', '203.0.113'),
      'systems/berlin/db-01.yaml': system('db-01', 'profile: base', 'network: { net: ber-net }'),
      'systems/db-01.yaml': null,
      'systems/paris/web-01.yaml': system(
        'web-01',
        'profile: base',
        'network: { net: par-net }',
        'roles:',
        '  - name: app/web',
        '    params: { db: "{{ systems.db-01.ip }}" }',
      ),
      'systems/web-01.yaml': null,
      'systems/lb-01.yaml': null,
      'environments/shop.yaml': env('    - { name: all, systems: [db-01, web-01] }\n'),
    }),
  );
  expect(errors(r)).toEqual([
    "environments/shop.yaml:6:7: system `web-01` is in site paris, db-01 in berlin: an environment's systems share one site",
    'systems/paris/web-01.yaml:10:21: {{ systems.db-01.ip }} (role app/web, system web-01): system `db-01` is in site berlin, not paris: references stay within one site',
  ]);
});

it("a parameter's format does not judge a cross-reference before it is resolved; a literal value is still judged", async () => {
  const ipv4Role = WEB_ROLE.replace('db: { type: string }', 'db: { type: string, format: ipv4 }');
  expect(ipv4Role).toContain('format: ipv4');
  const webWith = (value: string) =>
    system('web-01', 'profile: base', 'roles:', '  - name: app/web', `    params: { db: ${JSON.stringify(value)} }`);
  const ok = await load(
    files({ 'roles/app/web/role.yaml': ipv4Role, 'systems/web-01.yaml': webWith('{{ systems.db-01.ip }}') }),
  );
  expect(errors(ok)).toEqual([]);
  const literal = await load(files({ 'roles/app/web/role.yaml': ipv4Role, 'systems/web-01.yaml': webWith('db-01') }));
  expect(errors(literal)).toEqual([
    'systems/web-01.yaml:9:21: role app/web params: roles[0].params.db must be in the format `ipv4`, got "db-01"',
  ]);
  // The type is judged all the same: a reference always resolves to a string.
  const asNumber = WEB_ROLE.replace('db: { type: string }', 'db: { type: integer }');
  const typed = await load(
    files({ 'roles/app/web/role.yaml': asNumber, 'systems/web-01.yaml': webWith('{{ systems.db-01.ip }}') }),
  );
  expect(errors(typed)).toHaveLength(1);
  expect(errors(typed)[0]).toMatch(/role app\/web params: roles\[0\]\.params\.db must be/);
});
