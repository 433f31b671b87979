import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoleDef } from '../../manifest/catalog';
import type { DesiredSystem } from '../../manifest/types';
import { UNKNOWN } from '../../engine/contract';
import { RoleCompiler, RoleError } from './role-model';

const repo = mkdtempSync(join(tmpdir(), 'shipshape-roles-'));
afterAll(() => rmSync(repo, { recursive: true, force: true }));
mkdirSync(join(repo, 'roles/web/templates'), { recursive: true });
writeFileSync(join(repo, 'roles/web/templates/site.conf'), 'port = {{ params.port }}\n');
writeFileSync(join(repo, 'roles/web/templates/unused.txt'), 'not referenced\n');

const def: RoleDef = {
  name: 'web',
  paramsSchema: { type: 'object', properties: { port: { type: 'integer', default: 80 } } },
  steps: [
    { file: { path: '/etc/web/site.conf', template: 'templates/site.conf' } },
    { script: 'echo {{ params.port }}' },
  ],
  check: 'true',
  remove: [{ absent: '/etc/web/site.conf' }],
  file: 'roles/web/role.yaml',
  source: { file: 'roles/web/role.yaml', line: 1, col: 1 },
};
const system = (params: Record<string, unknown>, version?: string): DesiredSystem =>
  ({
    name: 'web-01',
    dns: { domain: 'example.test', aliases: [] },
    roles: [{ name: 'web', params, ...(version ? { version } : {}) }],
  }) as unknown as DesiredSystem;
const compile = (s: DesiredSystem, prefix?: string) =>
  new RoleCompiler(repo, { web: def }, prefix, 60_000).compileAll(s)[0]!;

test('the digest is stable, and changes with a parameter, the version, a used file and the root prefix', () => {
  const base = compile(system({}));
  expect(compile(system({})).digest).toBe(base.digest);
  expect(compile(system({ port: 80 })).digest).toBe(base.digest); // the default, written out
  expect(compile(system({ port: 8080 })).digest).not.toBe(base.digest);
  expect(compile(system({}, '2.0')).digest).not.toBe(base.digest);
  expect(compile(system({}), '/srv/lab/{system}').digest).not.toBe(base.digest);
  writeFileSync(join(repo, 'roles/web/templates/unused.txt'), 'changed, still not referenced\n');
  expect(new RoleCompiler(repo, { web: def }, undefined, 60_000).compileAll(system({}))[0]!.digest).toBe(base.digest);
  writeFileSync(join(repo, 'roles/web/templates/site.conf'), 'port = {{ params.port }}\nworkers = 2\n');
  expect(new RoleCompiler(repo, { web: def }, undefined, 60_000).compileAll(system({}))[0]!.digest).not.toBe(
    base.digest,
  );
});

test('paths go below the root prefix, and the check covers every managed file', () => {
  const r = compile(system({}), '/srv/lab/{system}');
  expect(r.steps[0]!.command).toContain("'/srv/lab/web-01/etc/web/site.conf'");
  expect(r.check).toContain('sha256sum -c');
  expect(r.check).toContain('/srv/lab/web-01/etc/web/site.conf');
  expect(r.remove.map((s) => s.label)).toEqual(['step 1 (absent /etc/web/site.conf)']);
});

test('a missing file or value is a RoleError naming the role and system', () => {
  const broken: RoleDef = { ...def, steps: [{ deb: 'files/web_{{ version }}.deb' }] };
  const c = new RoleCompiler(repo, { web: broken }, undefined, 60_000);
  expect(() => c.compileAll(system({}, '1.0'))).toThrow(RoleError);
  expect(() => c.compileAll(system({}, '1.0'))).toThrow(
    'role web: files/web_1.0.deb does not exist: add roles/web/files/web_1.0.deb',
  );
  expect(() => c.compileAll(system({}))).toThrow(/role web \(system web-01\): .*list the role as name@version/);
});

test('a cross-reference in a parameter or a script is resolved from the other system; unknown values leave the role pending', () => {
  const db = {
    name: 'db-01',
    labels: { tier: 'db' },
    network: { ip: 'auto', mac: '00:50:56:00:00:01' },
    dns: { domain: 'example.test', aliases: [] },
  } as unknown as DesiredSystem;
  const refDef: RoleDef = {
    ...def,
    paramsSchema: { type: 'object', properties: { db: { type: 'string' } } },
    steps: [{ script: 'echo {{ params.db }} {{ systems.db-01.fqdn }}' }],
  };
  const web = (): DesiredSystem =>
    ({
      ...system({}),
      roles: [{ name: 'web', params: { db: '{{ systems.db-01.ip }}' } }],
    }) as unknown as DesiredSystem;
  const c = new RoleCompiler(repo, { web: refDef }, undefined, 60_000, [db]);
  const at = (ip: string) => c.compileAll(web(), (n) => (n === 'db-01' ? { ip, mac: '' } : undefined))[0]!;

  expect(at('198.51.100.7').steps[0]!.command).toContain("echo '\\''198.51.100.7'\\'' '\\''db-01.example.test'\\''");
  expect(at('198.51.100.7').pending).toBeUndefined();
  expect(at('198.51.100.7').digest).toBe(at('198.51.100.7').digest);
  expect(at('198.51.100.8').digest).not.toBe(at('198.51.100.7').digest);
  // Not allocated yet (the plan of a new database): no digest that means anything, and it says why.
  expect(at(UNKNOWN).pending).toEqual(['systems.db-01.ip']);
  expect(c.compileAll(web())[0]!.pending).toEqual(['systems.db-01.ip']); // ip: auto, nothing resolved
});

test("a parameter's format is checked on the value its cross-reference resolved to, not on the reference", () => {
  const db = {
    name: 'db-01',
    labels: {},
    network: { ip: 'auto', mac: '00:50:56:00:00:01' },
    dns: { domain: 'example.test', aliases: [] },
  } as unknown as DesiredSystem;
  const ipv4Def: RoleDef = {
    ...def,
    paramsSchema: { type: 'object', properties: { db: { type: 'string', format: 'ipv4' } } },
    steps: [{ script: 'echo {{ params.db }}' }],
  };
  const web = (value: string) =>
    ({ ...system({}), roles: [{ name: 'web', params: { db: value } }] }) as unknown as DesiredSystem;
  const c = new RoleCompiler(repo, { web: ipv4Def }, undefined, 60_000, [db]);
  const resolved = (n: string) => (n === 'db-01' ? { ip: '198.51.100.7', mac: '' } : undefined);

  expect(c.compileAll(web('{{ systems.db-01.ip }}'), resolved)[0]!.steps[0]!.command).toContain('198.51.100.7');
  expect(c.compileAll(web('{{ systems.db-01.ip }}'))[0]!.pending).toEqual(['systems.db-01.ip']); // not known: not judged
  // A name where the role wants an address: refused once resolved, saying which value and why.
  expect(() => c.compileAll(web('{{ systems.db-01.fqdn }}'), resolved)).toThrow(RoleError);
  expect(() => c.compileAll(web('{{ systems.db-01.fqdn }}'), resolved)).toThrow(
    'role web (system web-01): params.db = "db-01.example.test" must match format "ipv4" (after resolving its cross-references): fix the reference or the role\'s params schema',
  );
});

test('a role with cross-references is compiled again only when a value it references changed', () => {
  const db = {
    name: 'db-01',
    labels: { tier: 'db' },
    network: { ip: 'auto', mac: '00:50:56:00:00:01' },
    dns: { domain: 'example.test', aliases: [] },
  } as unknown as DesiredSystem;
  const refDef: RoleDef = { ...def, steps: [{ script: 'echo {{ systems.db-01.ip }}' }] };
  const web = { ...system({}), roles: [{ name: 'web', params: {} }] } as unknown as DesiredSystem;
  const c = new RoleCompiler(repo, { web: refDef }, undefined, 60_000, [db]);
  // Each step of a plan hands its own function over the same observed values.
  const others = (ip: string) => (n: string) =>
    n === 'db-01' ? { ip, mac: '', vmId: `vm-${Math.random()}` } : undefined;

  const first = c.compileAll(web, others('198.51.100.7'))[0]!;
  expect(c.compileAll(web, others('198.51.100.7'))[0]).toBe(first); // observe, desired, digest: one render
  const moved = c.compileAll(web, others('198.51.100.9'))[0]!;
  expect(moved).not.toBe(first);
  expect(moved.steps[0]!.command).toContain('198.51.100.9');
  expect(moved.digest).not.toBe(first.digest);
  expect(c.compileAll(web)[0]!.pending).toEqual(['systems.db-01.ip']); // nothing resolved: pending again
});
