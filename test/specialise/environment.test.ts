/**
 * An environment against real sshd hosts on loopback (127.0.0.2-6), through the real loader,
 * observe, planner and executor: a database, two web servers whose role needs its address, a load
 * balancer whose role needs theirs. Every role appends `start`/`end` lines to one shared file (the
 * hosts share this machine's file system), which is the record of role runs the test reads.
 * The tests build on each other, like successive `shipshape apply` runs.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UNKNOWN } from '../../src/engine/contract';
import { removeDir, tempDir } from '../helpers/daemon';
import { startSshdHosts, type TestHosts } from '../helpers/sshd-hosts';
import { SpecialiseLab, stopSpecialiseLab } from './lab';

const HOSTS = { 'db-01': '127.0.0.2', 'web-01': '127.0.0.3', 'web-02': '127.0.0.4', 'lb-01': '127.0.0.5' };
const SPARE = '127.0.0.6'; // db-01's address after the move

let net: TestHosts;
let lab: SpecialiseLab;
const runs = join(tempDir('environment-runs'), 'runs.log');

/** A role that logs its start, waits (so overlapping runs would show), does its work, logs its end. */
const role = (name: string, params: string, work: string, seconds: number) => `apiVersion: shipshape.dev/v1
kind: Role
metadata: { name: ${name} }
spec:
  params: { type: object, properties: { ${params} } }
  steps:
    - script: echo "start {{ system.name | raw }} ${name}" >> ${runs}; sleep ${seconds}
${work}
    - script: echo "end {{ system.name | raw }} ${name}" >> ${runs}
`;

function writeRepo(dbAddress: string): void {
  const file = (rel: string, text: string) => {
    mkdirSync(join(lab.repo, rel, '..'), { recursive: true });
    writeFileSync(join(lab.repo, rel), text);
  };
  file(
    'roles/test/db/role.yaml',
    role('test/db', '', '    - file: { path: /etc/db/db.conf, template: templates/db.conf }', 1),
  );
  file('roles/test/db/templates/db.conf', 'listen = {{ system.name }}\n');
  file(
    'roles/test/web/role.yaml',
    role('test/web', 'db: { type: string }', '    - file: { path: /etc/web/upstream.conf, template: templates/up }', 2),
  );
  file('roles/test/web/templates/up', 'database = {{ params.db }}\n');
  file(
    'roles/test/lb/role.yaml',
    role('test/lb', '', '    - file: { path: /etc/lb/backends.conf, template: templates/backends }', 0),
  );
  file('roles/test/lb/templates/backends', 'backends = {{ environment.systems[tier=web].ip | join }}\n');
  file(
    'roles/test/motd/role.yaml',
    role('test/motd', '', '    - file: { path: /etc/motd, template: templates/motd }', 0),
  );
  file('roles/test/motd/templates/motd', 'this is {{ system.fqdn }}\n');
  const roles: Record<string, string> = {
    'db-01': '[test/motd, test/db]',
    'web-01': '[test/motd, { name: test/web, params: { db: "{{ systems.db-01.ip }}:5432" } }]',
    'web-02': '[test/motd, { name: test/web, params: { db: "{{ systems.db-01.ip }}:5432" } }]',
    'lb-01': '[test/motd, test/lb]',
  };
  for (const [name, address] of Object.entries(HOSTS))
    file(
      `systems/${name}.yaml`,
      [
        'apiVersion: shipshape.dev/v1',
        'kind: System',
        `metadata: { name: ${name}, labels: { tier: ${name.slice(0, -3)} } }`,
        'spec:',
        '  cpu: 1',
        '  memoryMiB: 512',
        '  disks: [{ sizeGiB: 10 }]',
        '  os: debian12',
        `  network: { net: lo-net, ip: ${name === 'db-01' ? dbAddress : address} }`,
        `  roles: ${roles[name]}`,
        '',
      ].join('\n'),
    );
  file(
    'environments/shop.yaml',
    [
      'apiVersion: shipshape.dev/v1',
      'kind: Environment',
      'metadata: { name: shop }',
      'spec:',
      '  tiers:',
      '    - { name: db, systems: [db-01] }',
      '    - { name: web, selector: { tier: web }, dependsOn: [db] }',
      '    - { name: lb, systems: [lb-01], dependsOn: [web] }',
      '',
    ].join('\n'),
  );
}

/** The record of role runs since line `from`: `start web-01 test/web` …, in the order they happened. */
const record = (from = 0) => readFileSync(runs, 'utf8').trim().split('\n').slice(from);
const target = (system: string, path: string) => readFileSync(join(lab.targets, system, path), 'utf8');
const at = (lines: string[], line: string) => {
  const i = lines.indexOf(line);
  if (i < 0) throw new Error(`"${line}" is not in the record:\n${lines.join('\n')}`);
  return i;
};

beforeAll(async () => {
  net = await startSshdHosts([...Object.values(HOSTS), SPARE]);
  lab = new SpecialiseLab(net);
  writeFileSync(runs, '');
  writeRepo(HOSTS['db-01']);
});
afterAll(async () => {
  await stopSpecialiseLab(lab, net);
  removeDir(join(runs, '..'));
});

test('the environment comes up in order: db before both web servers (in parallel), both before the load balancer', async () => {
  const { report } = await lab.apply();
  expect(report.outcomes.map((o) => [o.system, o.status, o.error?.message])).toEqual([
    ['db-01', 'ok', undefined],
    ['lb-01', 'ok', undefined],
    ['web-01', 'ok', undefined],
    ['web-02', 'ok', undefined],
  ]);
  const r = record();
  const dbDone = at(r, 'end db-01 test/db');
  for (const web of ['web-01', 'web-02']) {
    expect(at(r, `start ${web} test/motd`)).toBeGreaterThan(dbDone);
    expect(at(r, 'start lb-01 test/motd')).toBeGreaterThan(at(r, `end ${web} test/web`));
  }
  // The two web servers do not depend on each other: they ran at the same time.
  expect(at(r, 'start web-02 test/web')).toBeLessThan(at(r, 'end web-01 test/web'));
  expect(at(r, 'start web-01 test/web')).toBeLessThan(at(r, 'end web-02 test/web'));
  // What the roles rendered: the database's address, the web servers' addresses.
  expect(target('web-01', 'etc/web/upstream.conf')).toBe('database = 127.0.0.2:5432\n');
  expect(target('lb-01', 'etc/lb/backends.conf')).toBe('backends = 127.0.0.3, 127.0.0.4\n');
});

test('a changed database address re-runs exactly the roles that use it', async () => {
  writeRepo(SPARE);
  const { plan } = await lab.plan();
  expect(plan.actions.filter((a) => a.action !== 'noop').map((a) => [a.system, a.changes.map((c) => c.path)])).toEqual([
    ['web-01', ['roles.test/web']],
    ['web-02', ['roles.test/web']],
  ]);
  const from = record().length;
  const { ran } = await lab.apply();
  expect(ran).toEqual(['web-01 test/web', 'web-02 test/web']);
  expect(
    record(from)
      .filter((l) => l.startsWith('start'))
      .sort(),
  ).toEqual(['start web-01 test/web', 'start web-02 test/web']);
  expect(target('web-01', 'etc/web/upstream.conf')).toBe(`database = ${SPARE}:5432\n`);
  // Converged: the next plan changes nothing.
  const again = await lab.plan();
  expect(again.plan.actions.filter((a) => a.action !== 'noop')).toEqual([]);
});

test('a plan shows a role whose referenced address is not allocated yet as (known after apply)', async () => {
  writeRepo('auto');
  const { plan } = await lab.plan();
  const web = plan.actions.filter((a) => a.system.startsWith('web-'));
  expect(web.map((a) => [a.system, a.action, a.changes.map((c) => [c.path, c.to])])).toEqual([
    ['web-01', 'update', [['roles.test/web', UNKNOWN]]],
    ['web-02', 'update', [['roles.test/web', UNKNOWN]]],
  ]);
  expect(web[0]!.changes[0]!.from).toMatch(/waits for systems\.db-01\.ip/);
});
