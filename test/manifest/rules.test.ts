/** One focused test per cross-file rule; each asserts the message and the position. */
import { derivedMac } from '../../src/manifest';
import { SITE, cleanupRepos, lines, load, system } from './tmp-repo';

afterAll(cleanupRepos);

const sys = (name: string, ...spec: string[]) => system(name, 'profile: base', ...spec);

describe('cross-file rules', () => {
  it('duplicate system names across files', async () => {
    const r = await load({ 'systems/dev/web-01.yaml': sys('web-01'), 'systems/live/web-01.yaml': sys('web-01') });
    expect(lines(r)).toEqual([
      'systems/live/web-01.yaml:4:9: system `web-01` clashes with system `web-01` (systems/dev/web-01.yaml:4:9)',
    ]);
  });

  it('a system name must equal its file name', async () => {
    const r = await load({ 'systems/web-01.yaml': sys('web-02') });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:4:9: system name `web-02` does not match its location: expected `web-01` (systems/web-01.yaml); rename the file or fix the name',
    ]);
  });

  it('duplicate explicit IPs', async () => {
    const r = await load({
      'systems/a-01.yaml': sys('a-01', 'network: { ip: 198.51.100.20 }'),
      'systems/b-01.yaml': sys('b-01', 'network: { ip: 198.51.100.20 }'),
    });
    expect(lines(r)).toEqual([
      'systems/b-01.yaml:7:18: ip 198.51.100.20 of `b-01` clashes with ip 198.51.100.20 of `a-01` (systems/a-01.yaml:7:18)',
    ]);
  });

  it('a tombstone may free an IP another system takes', async () => {
    const r = await load({
      'systems/a-01.yaml': system('a-01', 'state: absent', 'network: { net: dev-net, ip: 198.51.100.20 }'),
      'systems/b-01.yaml': sys('b-01', 'network: { ip: 198.51.100.20 }'),
    });
    expect(lines(r)).toEqual([]);
  });

  it('an explicit MAC colliding with another system’s derived MAC', async () => {
    const mac = derivedMac('b-01');
    const r = await load({
      'systems/a-01.yaml': sys('a-01', `network: { mac: "${mac}" }`),
      'systems/b-01.yaml': sys('b-01'),
    });
    expect(lines(r)).toEqual([
      `systems/b-01.yaml:4:9: derived MAC ${mac} of \`b-01\` clashes with MAC ${mac} of \`a-01\` (systems/a-01.yaml:7:19): set spec.network.mac to a free address on one of them`,
    ]);
  });

  it('unknown profile, role, OS and net references, with suggestions', async () => {
    const r = await load({
      'systems/web-01.yaml': system(
        'web-01',
        'profile: bsae',
        'cpu: 1',
        'memoryMiB: 1024',
        'disks: [{ sizeGiB: 10 }]',
        'network: { net: dev-nte }',
        'os: debain12',
        'roles: [app/shpo]',
        'dns: { domain: dev.example.com }',
      ),
    });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:6:12: unknown profile `bsae` (did you mean `base`?): declare it in profiles/',
      'systems/web-01.yaml:10:19: unknown net `dev-nte` (did you mean `dev-net`?): declare it under nets: in shipshape.yaml',
      'systems/web-01.yaml:11:7: unknown OS `debain12` (did you mean `debian12`?): add os/debain12/os.yaml or use a catalog entry',
      'systems/web-01.yaml:12:11: unknown role `app/shpo` (did you mean `app/shop`?): add roles/app/shpo/role.yaml',
    ]);
  });

  it('names like `constructor` or `__proto__` are plain names, never inherited properties', async () => {
    const r = await load({
      'systems/web-01.yaml': sys(
        'web-01',
        'network: { net: constructor }',
        'os: constructor',
        'roles: [constructor, tostring]',
        'dns: { domain: dev.example.com }',
      ),
      'systems/web-02.yaml': sys('web-02', 'roles: [{ name: app/shop, params: { __proto__: { projectKey: 1 } } }]'),
    });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:19: unknown net `constructor`: declare it under nets: in shipshape.yaml',
      'systems/web-01.yaml:8:7: unknown OS `constructor`: add os/constructor/os.yaml or use a catalog entry',
      'systems/web-01.yaml:9:11: unknown role `constructor`: add roles/constructor/role.yaml',
      'systems/web-01.yaml:9:24: unknown role `tostring`: add roles/tostring/role.yaml',
      'systems/web-02.yaml:7:39: role app/shop params: unknown key `__proto__` in roles[0].params (allowed keys: `projectKey`)',
    ]);
    expect(({} as Record<string, unknown>).projectKey).toBeUndefined();
  });

  it('profile inheritance cycles, reported at every member', async () => {
    const prof = (name: string, parent: string) =>
      `apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: ${name} }\nspec:\n  extends: ${parent}\n`;
    const r = await load({
      'profiles/a.yaml': prof('a', 'b'),
      'profiles/b.yaml': prof('b', 'c'),
      'profiles/c.yaml': prof('c', 'a'),
      'systems/web-01.yaml': sys('web-01'),
    });
    expect(lines(r)).toEqual([
      'profiles/a.yaml:5:12: profile inheritance cycle: a → b → c → a',
      'profiles/b.yaml:5:12: profile inheritance cycle: b → c → a → b',
      'profiles/c.yaml:5:12: profile inheritance cycle: c → a → b → c',
    ]);
  });

  it('a system whose profile chain is broken gets one error at its profile, not one per missing field', async () => {
    const r = await load({
      'profiles/web.yaml':
        'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: web }\nspec:\n  extends: broken\n',
      'profiles/broken.yaml':
        'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: broken }\nspec: { cpu: many }\n',
      'systems/web-01.yaml': system('web-01', 'profile: web'),
      'systems/web-02.yaml': system('web-02', 'profile: broken'),
    });
    expect(lines(r)).toEqual([
      'profiles/broken.yaml:4:14: spec.cpu must be a whole number from 1 to 128, got "many"',
      'profiles/web.yaml:5:12: profile `broken` has errors (see its file in profiles/): `web` cannot extend it until they are fixed',
      'systems/web-01.yaml:6:12: profile `web` cannot be expanded: `web` extends `broken`, which has errors (see its file in profiles/)',
      'systems/web-02.yaml:6:12: profile `broken` has errors (see its file in profiles/): the system cannot be expanded until they are fixed',
    ]);
  });

  it('a reference to a role whose file has errors says so instead of “unknown”', async () => {
    const r = await load({
      'roles/app/shop/role.yaml':
        'apiVersion: shipshape.dev/v1\nkind: Role\nmetadata: { name: app/shop }\nspec: { stpes: [] }\n',
      'systems/web-01.yaml': sys('web-01', 'roles: [app/shop]'),
    });
    expect(lines(r)).toEqual([
      'roles/app/shop/role.yaml:4:9: unknown key `stpes` in spec (did you mean `steps`?)',
      'systems/web-01.yaml:7:11: role `app/shop` has errors (see roles/app/shop/role.yaml): fix them first',
    ]);
  });

  it.each([
    ['203.0.113.9', 'ip 203.0.113.9 is outside net `dev-net` (198.51.100.0/24)'],
    ['198.51.100.0', 'ip 198.51.100.0 is the network address of 198.51.100.0/24, not a host address'],
    ['198.51.100.255', 'ip 198.51.100.255 is the broadcast address of 198.51.100.0/24, not a host address'],
    ['198.51.100.1', 'ip 198.51.100.1 is the gateway of net `dev-net`'],
    ['198.51.100.10', 'ip 198.51.100.10 is reserved in net `dev-net` (nets.dev-net.reserved in shipshape.yaml)'],
  ])('explicit ip %s that is no usable host address of its net', async (ip, message) => {
    const r = await load({ 'systems/web-01.yaml': sys('web-01', `network: { ip: ${ip} }`) });
    expect(lines(r)).toEqual([`systems/web-01.yaml:7:18: ${message}`]);
  });

  it.each([
    ['metadata.name', 'name: web_01', 'metadata.name must be a host name'],
    ['a dns alias', 'dns: { aliases: ["shop\\nIN A 6.6.6.6"] }', 'spec.dns.aliases[0] must be a DNS name'],
    ['a domain', 'dns: { domain: "dev.example.com." }', 'spec.dns.domain must be a DNS name'],
    ['a label value', 'labels: { env: "dev\\nx" }', 'metadata.labels.env must be a label value'],
    ['a label key', 'labels: { "env x": dev }', 'key `env x` in metadata.labels must be a label key'],
    ['a role path', 'roles: [app/../../etc]', 'spec.roles[0] must be a role like'],
    ['a datastore', 'disks: [{ sizeGiB: 10, datastore: "ds;rm" }]', 'spec.disks[0].datastore must be a vSphere name'],
    ['a role version', 'roles: ["app/shop@1..2"]', 'spec.roles[0] must be a role like'],
  ])('unsafe value in %s is refused by the whitelist', async (_what, line, message) => {
    const text =
      line.startsWith('name:') || line.startsWith('labels:')
        ? system('web-01', 'profile: base').replace(
            'name: web-01',
            line.startsWith('name:') ? line : `name: web-01\n  ${line}`,
          )
        : sys('web-01', line);
    const r = await load({ 'systems/web-01.yaml': text });
    expect(r.ok).toBe(false);
    expect(lines(r).join('\n')).toContain(message);
  });

  it('role params are validated against the role’s params schema, located in the file that set them', async () => {
    const r = await load({
      'profiles/shop.yaml':
        'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: shop }\nspec:\n  extends: base\n  roles:\n    - name: app/shop\n      params: { projectKey: 7 }\n',
      'systems/web-01.yaml': system('web-01', 'profile: shop'),
    });
    expect(lines(r)).toEqual([
      'profiles/shop.yaml:8:29: role app/shop params: roles[0].params.projectKey must be a string, got 7',
    ]);
  });

  it('literal secrets in shipshape.yaml are errors and never echoed', async () => {
    const site = SITE.replace('apiKey: ${env:SHIPSHAPE_IDOIT_API_KEY}', 'apiKey: 0123456789abcdef');
    const r = await load({ 'shipshape.yaml': site, 'systems/web-01.yaml': sys('web-01') });
    expect(lines(r)).toEqual([
      'shipshape.yaml:10:13: spec.ipam.apiKey must be a secret reference `${env:NAME}` or `${file:PATH}` (never the secret itself), it holds a literal value: move the secret to an environment variable or a file',
    ]);
    expect(JSON.stringify(r)).not.toContain('0123456789abcdef');
  });

  it('a tombstone without a name', async () => {
    const r = await load({
      'systems/old-01.yaml':
        'apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  labels: { env: dev }\nspec:\n  state: absent\n',
    });
    expect(lines(r)).toEqual(['systems/old-01.yaml:3:1: metadata is missing required key `name`']);
  });

  it('a DNS alias that clashes with another system’s name', async () => {
    const r = await load({
      'systems/a-01.yaml': sys('a-01', 'dns: { aliases: [b-01] }'),
      'systems/b-01.yaml': sys('b-01'),
    });
    expect(lines(r)).toEqual([
      'systems/a-01.yaml:7:20: alias b-01.dev.example.com of `a-01` clashes with DNS name b-01.dev.example.com (systems/b-01.yaml:4:9)',
    ]);
  });

  it('a host name and domain longer than 253 characters together', async () => {
    const domain = `${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.${'g'.repeat(50)}.dev.example.com`;
    const name = 'h'.repeat(40);
    const r = await load({ [`systems/${name}.yaml`]: sys(name, `dns: { domain: ${domain} }`) });
    expect(lines(r)).toEqual([
      `systems/${name}.yaml:7:18: ${name}.${domain} is ${name.length + 1 + domain.length} characters long; a DNS name may have at most 253`,
    ]);
  });

  it('collects every error of every file in one run', async () => {
    const r = await load({
      'systems/a-01.yaml': sys('a-01', 'cpu: 0'),
      'systems/b-01.yaml': sys('b-01', 'memoryMiB: 1001'),
      'systems/c-01.yaml': sys('c-01', 'network: { ip: 203.0.113.9 }'),
      'profiles/x.yaml': 'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: x }\nspec: { cpus: 2 }\n',
    });
    expect(lines(r)).toEqual([
      'profiles/x.yaml:4:9: unknown key `cpus` in spec (did you mean `cpu`?)',
      'systems/a-01.yaml:7:8: spec.cpu must be a whole number from 1 to 128, got 0',
      'systems/b-01.yaml:7:14: spec.memoryMiB must be a whole number of MiB from 256 to 4194304 that is a multiple of 4, got 1001',
      'systems/c-01.yaml:7:18: ip 203.0.113.9 is outside net `dev-net` (198.51.100.0/24)',
    ]);
  });
});
