/**
 * One `validate` run shows every error an operator has to fix: a file that does not fit its schema
 * still has its name checked against its location, its address, MAC and name checked against the
 * other systems, and its references checked against the repo; and a system whose file has errors is
 * not reported as undeclared where an environment or a role names it.
 */
import { reportedOnce } from '../../src/manifest';
import { lines, load, system } from './tmp-repo';

const env = (systems: string) =>
  `apiVersion: shipshape.dev/v1\nkind: Environment\nmetadata: { name: shop }\nspec:\n  tiers:\n    - { name: db, systems: [${systems}] }\n`;

describe('a file with schema errors', () => {
  it('also reports a name that does not match its location, with what to do', async () => {
    const r = await load({ 'systems/web-01.yaml': system('web-02', 'profile: base', 'cpu: four') });
    expect(r.ok).toBe(false);
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:4:9: system name `web-02` does not match its location: expected `web-01` (systems/web-01.yaml); rename the file or fix the name',
      'systems/web-01.yaml:7:8: spec.cpu must be a whole number from 1 to 128, got "four"',
    ]);
  });

  it('of every kind: profile, OS, role and environment names are checked too', async () => {
    const r = await load({
      'profiles/web.yaml': 'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: webx }\nspec: { cpu: x }\n',
      'os/debian12/os.yaml':
        'apiVersion: shipshape.dev/v1\nkind: OperatingSystem\nmetadata: { name: debian11 }\nspec: { family: debian }\n',
      'roles/app/shop/role.yaml':
        'apiVersion: shipshape.dev/v1\nkind: Role\nmetadata: { name: app/shopx }\nspec: { steps: 3 }\n',
      'environments/e.yaml':
        'apiVersion: shipshape.dev/v1\nkind: Environment\nmetadata: { name: f }\nspec: { tiers: 3 }\n',
      'systems/ok-01.yaml': system('ok-01', 'state: absent'),
    });
    expect(lines(r).filter((l) => l.includes('does not match its location'))).toEqual([
      'environments/e.yaml:3:19: environment name `f` does not match its location: expected `e` (environments/e.yaml); rename the file or fix the name',
      'os/debian12/os.yaml:3:19: OS name `debian11` does not match its location: expected `debian12` (os/debian12/os.yaml); rename the file or fix the name',
      'profiles/web.yaml:3:19: profile name `webx` does not match its location: expected `web` (profiles/web.yaml); rename the file or fix the name',
      'roles/app/shop/role.yaml:3:19: role name `app/shopx` does not match its location: expected `app/shop` (roles/app/shop/role.yaml); rename the file or fix the name',
    ]);
    expect(lines(r)).toContain('profiles/web.yaml:4:14: spec.cpu must be a whole number from 1 to 128, got "x"');
  });

  it('a copy not yet renamed is reported as misnamed, not also as a clash of its name or address', async () => {
    const web = system('web-01', 'profile: base', 'network: { ip: 198.51.100.20 }');
    const r = await load({ 'systems/web-01.yaml': web, 'systems/web-03.yaml': web });
    expect(lines(r)).toEqual([
      'systems/web-03.yaml:4:9: system name `web-01` does not match its location: expected `web-03` (systems/web-03.yaml); rename the file or fix the name',
    ]);
  });

  it('does not repeat a name the schema already reports', async () => {
    const r = await load({ 'systems/web-01.yaml': system('Web_01', 'profile: base') });
    expect(lines(r).filter((l) => l.startsWith('systems/web-01.yaml:4:9:'))).toHaveLength(1);
  });

  it('still meets the uniqueness rules: a duplicated address, name or MAC is reported in the same run', async () => {
    const r = await load({
      'systems/a-01.yaml': system('a-01', 'profile: base', 'cpu: four', 'network: { ip: 198.51.100.20 }'),
      'systems/b-01.yaml': system('b-01', 'profile: base', 'network: { ip: 198.51.100.20 }'),
      'systems/x/c-01.yaml': system('c-01', 'profile: base', 'memoryMiB: lots'),
      'systems/y/c-01.yaml': system('c-01', 'profile: base'),
      'systems/d-01.yaml': system('d-01', 'profile: base', 'cpu: 0', 'network: { mac: "00:50:56:00:00:01" }'),
      'systems/e-01.yaml': system('e-01', 'profile: base', 'network: { mac: "00:50:56:00:00:01" }'),
    });
    expect(lines(r)).toEqual(
      expect.arrayContaining([
        'systems/a-01.yaml:7:8: spec.cpu must be a whole number from 1 to 128, got "four"',
        'systems/a-01.yaml:8:18: ip 198.51.100.20 of `a-01` clashes with ip 198.51.100.20 of `b-01` (systems/b-01.yaml:7:18)',
        'systems/x/c-01.yaml:4:9: system `c-01` clashes with system `c-01` (systems/y/c-01.yaml:4:9)',
        'systems/d-01.yaml:8:19: MAC 00:50:56:00:00:01 of `d-01` clashes with MAC 00:50:56:00:00:01 of `e-01` (systems/e-01.yaml:7:19): set spec.network.mac to a free address on one of them',
      ]),
    );
  });

  it('still has its profile, OS, role and net references checked', async () => {
    const r = await load({
      'systems/a-01.yaml': system(
        'a-01',
        'profile: bsae',
        'cpu: four',
        'os: debain12',
        'network: { net: dev-nett }',
        'roles: [app/shpo, { name: app/shop, version: "1" }]',
      ),
    });
    expect(lines(r)).toEqual([
      'systems/a-01.yaml:6:12: unknown profile `bsae` (did you mean `base`?): declare it in profiles/',
      'systems/a-01.yaml:7:8: spec.cpu must be a whole number from 1 to 128, got "four"',
      'systems/a-01.yaml:8:7: unknown OS `debain12` (did you mean `debian12`?): add os/debain12/os.yaml or use a catalog entry',
      'systems/a-01.yaml:9:19: unknown net `dev-nett` (did you mean `dev-net`?): declare it under nets: in shipshape.yaml',
      'systems/a-01.yaml:10:11: unknown role `app/shpo` (did you mean `app/shop`?): add roles/app/shpo/role.yaml',
    ]);
  });

  it('is not called undeclared by an environment or a cross-reference naming it', async () => {
    const r = await load({
      'systems/db-01.yaml': system('db-01', 'profile: base', 'cpu: four'),
      'systems/web-01.yaml': system(
        'web-01',
        'profile: base',
        'roles: [{ name: app/shop, params: { projectKey: "{{ systems.db-01.ip }}" } }]',
      ),
      'environments/shop.yaml': env('db-01, nope-01'),
    });
    expect(lines(r)).toEqual([
      'environments/shop.yaml:6:36: tier `db` lists system `nope-01`, which no manifest under systems/ declares',
      'systems/db-01.yaml:7:8: spec.cpu must be a whole number from 1 to 128, got "four"',
    ]);
  });
});

describe('a profile chain that cannot be expanded', () => {
  const profile = (name: string, spec: string) =>
    `apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: ${name} }\nspec: { ${spec} }\n`;
  it('names the link that breaks it: a parent with errors, or one no file declares', async () => {
    const r = await load({
      'profiles/base.yaml': profile('base', 'cpu: two'),
      'profiles/web.yaml': profile('web', 'extends: base'),
      'profiles/shop.yaml': profile('shop', 'extends: web'),
      'profiles/typo.yaml': profile('typo', 'extends: bsae'),
      'systems/shop-01.yaml': system('shop-01', 'profile: shop'),
      'systems/typo-01.yaml': system('typo-01', 'profile: typo'),
    });
    expect(lines(r).filter((l) => l.startsWith('systems/'))).toEqual([
      'systems/shop-01.yaml:6:12: profile `shop` cannot be expanded: `web` extends `base`, which has errors (see its file in profiles/)',
      'systems/typo-01.yaml:6:12: profile `typo` cannot be expanded: `typo` extends `bsae`, which no file in profiles/ declares',
    ]);
  });
});

describe('a broken definition many systems use', () => {
  const profile = (name: string, spec: string) =>
    `apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: ${name} }\nspec: { ${spec} }\n`;
  const shown = (r: Awaited<ReturnType<typeof load>>) =>
    reportedOnce(r.diagnostics).map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`);
  const many = (n: number, prefix: string, ...spec: string[]) =>
    Object.fromEntries(
      Array.from({ length: n }, (_, i) => {
        const name = `${prefix}-${String(i + 1).padStart(2, '0')}`;
        return [`systems/${name}.yaml`, system(name, ...spec)];
      }),
    );

  it('is reported once at its own file, and its systems in one line naming how many and which', async () => {
    const r = await load({
      'profiles/base.yaml': profile('base', 'cpu: two'),
      'profiles/web.yaml': profile('web', 'extends: base'),
      ...many(12, 'web', 'profile: web'),
      ...many(2, 'db', 'profile: base'),
      'systems/ok-01.yaml': system('ok-01', 'profile: typo'),
    });
    expect(shown(r)).toEqual([
      'profiles/base.yaml:4:14: spec.cpu must be a whole number from 1 to 128, got "two"',
      'profiles/web.yaml:4:18: profile `base` has errors (see its file in profiles/): `web` cannot extend it until they are fixed',
      'systems/db-01.yaml:6:12: profile `base` has errors (see its file in profiles/): the system cannot be expanded until they are fixed; 2 systems use it: db-01, db-02',
      'systems/ok-01.yaml:6:12: unknown profile `typo`: declare it in profiles/',
      'systems/web-01.yaml:6:12: profile `web` cannot be expanded: `web` extends `base`, which has errors (see its file in profiles/); 12 systems use it: web-01, web-02, web-03, web-04, web-05 and 7 more',
    ]);
    // The load result keeps one per system: which files cannot be used (validate renders no installer for them).
    expect(lines(r).filter((l) => l.includes('cannot be expanded'))).toHaveLength(12 + 2);
  });

  it('a broken OS or role is said once for all the systems using it, too', async () => {
    const r = await load({
      'os/debian12/os.yaml':
        'apiVersion: shipshape.dev/v1\nkind: OperatingSystem\nmetadata: { name: debian12 }\nspec: { family: 3 }\n',
      'roles/app/shop/role.yaml':
        'apiVersion: shipshape.dev/v1\nkind: Role\nmetadata: { name: app/shop }\nspec: { steps: 3 }\n',
      ...many(7, 'app', 'profile: base', 'roles: [app/shop]'),
    });
    // The OS comes from the profile: before, the same line at profiles/base.yaml:9:7 was printed once per system.
    expect(shown(r)).toEqual([
      'os/debian12/os.yaml:4:1: spec is missing required keys `installer`, `release`, `boot`, `answerFile`',
      'os/debian12/os.yaml:4:17: spec.family must be one of `debian`, `rhel`, got 3',
      'profiles/base.yaml:9:7: OS `debian12` has errors (see os/debian12/os.yaml): fix them first; 7 systems use it: app-01, app-02, app-03, app-04, app-05 and 2 more',
      'roles/app/shop/role.yaml:4:16: spec.steps must be a list of steps, got 3',
      'systems/app-01.yaml:7:11: role `app/shop` has errors (see roles/app/shop/role.yaml): fix them first; 7 systems use it: app-01, app-02, app-03, app-04, app-05 and 2 more',
    ]);
  });
});

describe('DNS names', () => {
  it("a full alias is compared as the name it is, with other systems' names and aliases", async () => {
    const r = await load({
      'systems/a-01.yaml': system('a-01', 'profile: base', 'dns: { aliases: [shop.live.example.com, www] }'),
      'systems/b-01.yaml': system(
        'b-01',
        'profile: base',
        'dns: { aliases: [www.dev.example.com, shop.live.example.com] }',
      ),
    });
    expect(lines(r)).toEqual([
      'systems/b-01.yaml:7:20: alias www.dev.example.com of `b-01` clashes with alias www.dev.example.com of `a-01` (systems/a-01.yaml:7:43)',
      'systems/b-01.yaml:7:41: alias shop.live.example.com of `b-01` clashes with alias shop.live.example.com of `a-01` (systems/a-01.yaml:7:20)',
    ]);
  });

  it('bare aliases of systems without a domain (the site file lost its nets) are not reported as clashing', async () => {
    const site = `apiVersion: shipshape.dev/v1\nkind: Site\nspec:\n  netz: {}\n`;
    const r = await load({
      'shipshape.yaml': site,
      'systems/a-01.yaml': system('a-01', 'profile: base', 'dns: { aliases: [shop] }'),
      'systems/b-01.yaml': system('b-01', 'profile: base', 'dns: { aliases: [shop] }'),
    });
    expect(lines(r).filter((l) => l.includes('clashes'))).toEqual([]);
    expect(lines(r)).toContain('shipshape.yaml:4:3: unknown key `netz` in spec (did you mean `nets`?)');
  });
});

describe('role artefacts', () => {
  const role =
    'apiVersion: shipshape.dev/v1\nkind: Role\nmetadata: { name: app/pkg }\nspec:\n  steps:\n    - deb: "files/pkg_{{ version }}_all.deb"\n';
  it('are checked for the systems without errors while another file has some', async () => {
    const r = await load({
      'roles/app/pkg/role.yaml': role,
      'systems/web-01.yaml': system('web-01', 'profile: base', 'roles: [app/pkg@1.2.3]'),
      'systems/web-02.yaml': system('web-02', 'profile: base', 'cpu: four', 'roles: [app/pkg@1.2.3]'),
    });
    const out = lines(r);
    expect(out).toContain('systems/web-02.yaml:7:8: spec.cpu must be a whole number from 1 to 128, got "four"');
    expect(out.filter((l) => l.includes('app/pkg@1.2.3'))).toEqual([
      expect.stringMatching(/^systems\/web-01\.yaml:7:11: app\/pkg@1\.2\.3: .*pkg_1\.2\.3_all\.deb/),
    ]);
  });
});
