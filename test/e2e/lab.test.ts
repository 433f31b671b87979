/**
 * The local lab end to end: `shipshape lab up` on a copy of the example site (free ports, its own folders, so a
 * lab a developer left running is never touched), the examples applied from a git repository, then commits
 * (more CPU for web-dev-01, a new web-dev-03, a tombstone for web-dev-02) reconciled; the results are read
 * back from vcsim (SOAP), the i-doit emulator (JSON-RPC), named (DNS queries) and the files on the SSH target.
 * An edit made directly in vcsim shows up in `shipshape drift` (exit 2). `lab down` stops every daemon.
 *
 * The lab is test/helpers/lab-checkout.ts: a deploy checkout that pulls each commit (`--repo/--ref` is tested in
 * src/source and test/cli).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { Resolver } from 'node:dns/promises';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, isAlive } from '../../src/lab/process';
import { readRecord } from '../../src/lab/record';
import { labId, labRoleRuns, NETNS_PREFIX } from '../../src/lab/systems';
import { loadRepo, resolveSecret } from '../../src/manifest';
import { parseSecretRef } from '../../src/manifest/secrets';
import type { SiteConfig } from '../../src/manifest/site';
import { createIdoitClient } from '../../src/providers/idoit/site-client';
import { cliArgs, runCli } from '../helpers/cli';
import { git, startLabCheckout, type LabCheckout } from '../helpers/lab-checkout';
import { labVms, setLabVmCpu } from '../helpers/lab-vcsim';
import type { LabEndpoints } from '../helpers/lab-site';

let lab: LabCheckout;
let work: string;
let origin: string;
let deploy: string;
let targets: string;
let ports: LabEndpoints;
let state: string;
const commit = (message: string, files: Record<string, string>) => lab.commit(message, files);

const site = (): SiteConfig =>
  ({ root: deploy, lab: true, specialise: { rootPrefix: join(targets, 'systems', '{system}') } }) as SiteConfig;
/** The record specialisation keeps on a lab system (below its root prefix). */
const roleRecord = (system: string): { roles: Record<string, { appliedAt: string }> } =>
  JSON.parse(readFileSync(join(targets, 'systems', system, 'var/lib/shipshape/roles.json'), 'utf8'));
/** When a lab system's role record was last written: the end of its last role run. */
const recordWrittenAt = (system: string): string =>
  statSync(join(targets, 'systems', system, 'var/lib/shipshape/roles.json')).mtime.toISOString();
/** `system role` → when that role last started, from the lab's record of role runs. */
const roleTimes = () => new Map(labRoleRuns(site()).map((r) => [`${r.system} ${r.role}`, r.appliedAt]));
/** The roles that ran since `before` was taken (again, or for the first time). */
const ranSince = (before: Map<string, string>) =>
  [...roleTimes()]
    .filter(([k, at]) => before.get(k) !== at)
    .map(([k]) => k)
    .sort();
const systemSshdLog = (system: string) => readFileSync(join(deploy, '.lab', 'systems', system, 'sshd.log'), 'utf8');
/** The root namespace's end of a lab system's veth holds the net's gateway: SSH arrives from there. */
const gatewayOf = (address: string) => (address.startsWith('198.51.100.') ? '198.51.100.1' : '203.0.113.1');
const labNamespaces = () =>
  execFileSync('/usr/sbin/ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`${NETNS_PREFIX}${labId(deploy)}-`));
const vms = () => labVms(deploy, ports.vcsim);
/** title -> [record status, first IPv4 address] of the virtual servers in the emulator. */
async function cmdb(): Promise<Map<string, { status: number; ip?: string }>> {
  const s = {
    ...site(),
    ipam: {
      backend: 'idoit',
      url: `http://127.0.0.1:${ports.idoit}/src/jsonrpc.php`,
      apiKey: { ref: '${env:SHIPSHAPE_IDOIT_API_KEY}' },
      tls: {},
    },
  } as SiteConfig;
  const client = createIdoitClient(s, (r) => resolveSecret(r, deploy));
  try {
    const out = new Map<string, { status: number; ip?: string }>();
    for (const status of ['C__RECORD_STATUS__NORMAL', 'C__RECORD_STATUS__ARCHIVED']) {
      const rows = await client.call<any[]>('cmdb.objects.read', {
        filter: { type: 'C__OBJTYPE__VIRTUAL_SERVER', status },
        categories: ['C__CATG__IP'],
      });
      for (const r of rows) {
        const a = r.categories?.C__CATG__IP?.[0]?.ipv4_address;
        out.set(r.title, { status: Number(r.status), ...(a ? { ip: typeof a === 'string' ? a : a.ref_title } : {}) });
      }
    }
    return out;
  } finally {
    await client.close();
  }
}
const dns = () => {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`127.0.0.1:${ports.dns}`]);
  return r;
};
const dnsCode = <T>(p: Promise<T>) => p.catch((e: NodeJS.ErrnoException) => e.code);
const onTarget = (f: string) => readFileSync(join(targets, f), 'utf8');
const apply = (...extra: string[]) => runCli(['apply', '-C', deploy, '--state-dir', state, ...extra]);

beforeAll(async () => {
  lab = await startLabCheckout('lab-e2e', { name: 'lab test', email: 'lab@example.com' });
  // The provisioning server the lab starts keeps install records in `state`: the runs use it too.
  ({ work, targets, ports, origin, deploy, state } = lab);
  expect(lab.upOut).toMatch(/NOTE vSphere is vcsim: .*no operating system is installed/);
}, 300_000);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

test('the lab runs every daemon the site names, and lab status says where', async () => {
  const s = await runCli(['lab', 'status', '-C', deploy, '--json']);
  expect(s.code).toBe(0);
  const names = (JSON.parse(s.out).daemons as { name: string; running: boolean }[]).map(
    (d) => `${d.name}:${d.running}`,
  );
  expect(names.sort()).toEqual([
    'i-doit emulator:true',
    'kea-dhcp4 (dhcp-live):true',
    'named:true',
    'provisioning server:true',
    'sshd:true',
    'vcsim:true',
  ]);
  expect((await runCli(['lab', 'up', '-C', deploy])).out).toMatch(/already running/);
  // A command on the DNS/DHCP server's sshd runs with a HOME of that server's own, as on a machine of its own:
  // this machine's user's shell rc files (root's here runs `pyenv init`, 0.6 CPU-s a command) stay out.
  const home = execFileSync(
    'ssh',
    [
      ...['-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${join(deploy, '.lab/ssh/known_hosts')}`],
      ...['-i', join(deploy, '.lab/ssh/id_ed25519'), '-p', String(ports.ssh)],
      `${userInfo().username}@127.0.0.1`,
      'echo "$HOME"',
    ],
    { encoding: 'utf8' },
  ).trim();
  expect(home).toBe(join(targets, 'home'));
  // vcsim.env holds the lab vCenter's password: owner-only, in an owner-only folder.
  expect((statSync(join(deploy, '.lab', 'vcsim', 'vcsim.env')).mode & 0o777).toString(8)).toBe('600');
  expect((statSync(join(deploy, '.lab', 'vcsim')).mode & 0o777).toString(8)).toBe('700');
});

test('apply from git, then commits (more CPU, a new system, a tombstone) reconcile vcsim, i-doit, DNS and the SSH target; a vcsim edit is drift', async () => {
  const first = await apply();
  expect(first.err).not.toMatch(/failed|error/i);
  expect(first.code).toBe(0);
  // The install step ran through the lab's provisioning server (a stand-in plays the installer).
  const status = await runCli(['--state-dir', state, 'status', '-C', deploy, '--format', 'json']);
  expect(status.code).toBe(0);
  expect(JSON.stringify(JSON.parse(status.out))).toMatch(/"web-dev-01".*"built"|"built".*"web-dev-01"/);

  let vm = await vms();
  for (const n of ['web-dev-01', 'web-dev-02', 'db-dev-01', 'shop-live-01', 'shop-live-02'])
    expect(vm.get(n)?.power).toBe('poweredOn');
  expect(vm.get('web-dev-01')!.cpu).toBe(2);
  expect(vm.has('old-test-01')).toBe(false);
  let objs = await cmdb();
  const web1 = objs.get('web-dev-01')!.ip!;
  expect(web1).toMatch(/^198\.51\.100\.\d+$/);
  expect(objs.get('web-dev-02')).toEqual({ status: 2, ip: '198.51.100.20' });
  expect(await dns().resolve4('web-dev-01.dev.example.com')).toEqual([web1]);
  expect(await dns().reverse(web1)).toEqual(['web-dev-01.dev.example.com']);
  expect(await dns().resolveCname('shop.dev.example.com')).toEqual(['web-dev-01.dev.example.com']);
  expect(await dns().resolve4('shop-live-01.live.example.com')).toEqual([objs.get('shop-live-01')!.ip]);
  expect(onTarget('bind/dev.example.com.shipshape')).toMatch(/web-dev-02\s.*198\.51\.100\.20/);
  expect(onTarget('dhcpd/shipshape.conf')).toContain(`fixed-address ${web1};`);
  // Specialisation ran: each built system's roles over SSH to its own address, in its own namespace.
  for (const [name, role] of [
    ['web-dev-01', 'baseline/internal'],
    ['db-dev-01', 'baseline/internal'],
    ['shop-live-01', 'baseline/external'],
  ] as const) {
    expect(Object.keys(roleRecord(name).roles)).toContain(role);
    expect(systemSshdLog(name)).toMatch(
      new RegExp(`Accepted publickey for root from ${gatewayOf(objs.get(name)!.ip!).replace(/\./g, '\\.')} `),
    );
  }
  expect(
    labRoleRuns(site())
      .filter((r) => r.system === 'web-dev-01')
      .map((r) => r.role),
  ).toContain('baseline/internal');
  // The environment shop-dev came up tier by tier: no web server's role started before the database's last
  // role had finished, and the load balancer's only after both web servers' (each system's record is written
  // when its last role ends).
  const runs = labRoleRuns(site());
  const startsOf = (...systems: string[]) =>
    runs
      .filter((r) => systems.includes(r.system))
      .map((r) => r.appliedAt)
      .sort();
  expect(startsOf('db-dev-01')).toHaveLength(1); // baseline/internal
  expect(startsOf('web-dev-01', 'web-dev-02')).toHaveLength(4); // baseline/internal and app/shop-database each
  expect(startsOf('lb-dev-01')).toHaveLength(2); // baseline/internal and lb/shop
  const timeline: Record<string, string> = {
    'db-dev-01 finished': recordWrittenAt('db-dev-01'),
    'first web role started': startsOf('web-dev-01', 'web-dev-02')[0]!,
    'web-dev-01 and web-dev-02 finished': [recordWrittenAt('web-dev-01'), recordWrittenAt('web-dev-02')].sort()[1]!,
    'first lb role started': startsOf('lb-dev-01')[0]!,
  };
  expect(
    Object.entries(timeline)
      .sort((x, y) => x[1].localeCompare(y[1]))
      .map(([what, at]) => `${what} ${at}`),
  ).toEqual(Object.entries(timeline).map(([what, at]) => `${what} ${at}`));
  // What the cross-references resolved to on the systems themselves.
  expect(onTarget('systems/web-dev-01/etc/shop/database.conf')).toContain(
    `url = postgresql://${objs.get('db-dev-01')!.ip}:5432/shop`,
  );
  expect(onTarget('systems/lb-dev-01/etc/shop-lb/backends.conf')).toContain(`backends = ${web1}, 198.51.100.20\n`);

  const web01 = readFileSync(join(origin, 'systems/dev/web-dev-01.yaml'), 'utf8').replace(
    '  profile: web-dev\n',
    '  profile: web-dev\n  cpu: 4\n',
  );
  commit('web-dev-01: 4 CPUs; web-dev-03; retire web-dev-02', {
    'systems/dev/web-dev-01.yaml': web01,
    'systems/dev/web-dev-03.yaml':
      'apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: web-dev-03\nspec:\n  profile: web-dev\n',
    'systems/dev/web-dev-02.yaml':
      'apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: web-dev-02\nspec:\n  state: absent\n  network: { net: dev-net }\n',
  });
  // One retired system is five deletes (ip, dns, dhcp, vm, cmdb): more than the site's maxDeletes 3, as an operator would see.
  expect((await apply('--max-deletes', '0')).err).toMatch(
    /deletes 1 systems \(web-dev-02\), more than --max-deletes 0/,
  );
  const beforeSecond = roleTimes();
  const second = await apply();
  expect(second.err).not.toMatch(/failed|error/i);
  expect(second.code).toBe(0);
  expect(second.err).toContain(`(commit ${git(origin, 'rev-parse', 'HEAD').slice(0, 12)})`); // the plan of the commit just made

  vm = await vms();
  expect(vm.get('web-dev-01')).toMatchObject({ cpu: 4, power: 'poweredOn' });
  expect(vm.get('web-dev-03')).toMatchObject({ cpu: 2, power: 'poweredOn' });
  expect(vm.has('web-dev-02')).toBe(false);
  objs = await cmdb();
  const web3 = objs.get('web-dev-03')!.ip!;
  expect(web3).toMatch(/^198\.51\.100\.\d+$/);
  expect(objs.get('web-dev-02')!.status).toBe(3); // archived (cmdbOnDelete: archive)
  expect(await dns().resolve4('web-dev-03.dev.example.com')).toEqual([web3]);
  expect(await dnsCode(dns().resolve4('web-dev-02.dev.example.com'))).toBe('ENOTFOUND');
  expect(await dnsCode(dns().reverse('198.51.100.20'))).toBe('ENOTFOUND');
  expect(await dns().resolve4('web-dev-01.dev.example.com')).toEqual([web1]);
  expect(onTarget('bind/dev.example.com.shipshape')).not.toContain('web-dev-02');
  expect(onTarget('dhcpd/shipshape.conf')).toContain(`fixed-address ${web3};`);
  expect(onTarget('dhcpd/shipshape.conf')).not.toContain('198.51.100.20');
  // Roles ran where their inputs changed: the new system's, and the load balancer's, whose web tier lost
  // web-dev-02 (a retired system leaves its tier); the database's and web-dev-01's did not run again.
  expect(ranSince(beforeSecond)).toEqual([
    'lb-dev-01 lb/shop',
    'web-dev-03 app/shop-database',
    'web-dev-03 baseline/internal',
  ]);
  expect(onTarget('systems/lb-dev-01/etc/shop-lb/backends.conf')).toContain(`backends = ${web1}\n`);
  expect((await apply()).out).toMatch(/No changes/); // the tombstone converged: nothing is deleted twice

  expect((await runCli(['drift', '-C', deploy, '--state-dir', state])).code).toBe(0);
  await setLabVmCpu(deploy, ports.vcsim, 'web-dev-03', 3);
  const drift = await runCli(['drift', '-C', deploy, '--state-dir', state]);
  expect(drift.code).toBe(2);
  expect(drift.out).toMatch(/web-dev-03[\s\S]*cpu[\s\S]*3[\s\S]*2/);
}, 240_000);

test("a role change in the repo shows in plan and apply runs it over SSH inside each system's namespace", async () => {
  const roleFile = join(origin, 'roles/baseline/internal/role.yaml');
  const role = readFileSync(roleFile, 'utf8').replace(
    '  steps:\n',
    [
      '  steps:',
      '    - name: lab probe',
      '      script: |',
      '        mkdir -p "$SHIPSHAPE_ROOT/etc"',
      '        ip -4 -o addr show scope global > "$SHIPSHAPE_ROOT/etc/lab-probe"',
      '',
    ].join('\n'),
  );
  const before = roleRecord('web-dev-01').roles['baseline/internal']!.appliedAt;
  commit('baseline/internal: a probe step', { 'roles/baseline/internal/role.yaml': role });

  const plan = await runCli(['plan', '-C', deploy, '--state-dir', state]);
  expect(plan.code).toBe(0);
  for (const name of ['web-dev-01', 'web-dev-03', 'db-dev-01'])
    expect(new RegExp(`\\n${name}\\n((?: [^\\n]*\\n)*)`).exec(plan.out)?.[1]).toMatch(
      /~ specialise update [^\n]*\n +roles\.baseline\/internal: [^\n]*\(changed\) → /,
    );
  expect(plan.out).not.toMatch(/shop-live/); // live systems have baseline/external, which did not change

  const applied = await apply();
  expect(applied.err).not.toMatch(/failed|error/i);
  expect(applied.code).toBe(0);
  const objs = await cmdb();
  for (const name of ['web-dev-01', 'web-dev-03', 'db-dev-01']) {
    // The probe saw the system's own address and nothing else: it ran inside that system's namespace.
    const probe = readFileSync(join(targets, 'systems', name, 'etc/lab-probe'), 'utf8');
    expect(probe).toMatch(new RegExp(`eth0\\s+inet ${objs.get(name)!.ip!.replace(/\./g, '\\.')}/24 `));
    expect(probe.trim().split('\n')).toHaveLength(1);
  }
  expect(roleRecord('web-dev-01').roles['baseline/internal']!.appliedAt > before).toBe(true);
  expect(existsSync(join(targets, 'systems', 'shop-live-01', 'etc/lab-probe'))).toBe(false);
  // Converged: nothing to do (a warning about an unmanaged record may still be printed).
  expect((await runCli(['plan', '-C', deploy, '--state-dir', state])).out).toMatch(
    /Plan: 0 to create, 0 to update, 0 to replace, 0 to delete/,
  );
}, 240_000);

test('a new address for the database re-runs exactly the roles that use it, on the systems that use it', async () => {
  const moved = '198.51.100.40';
  const db = readFileSync(join(origin, 'systems/dev/db-dev-01.yaml'), 'utf8').replace(
    '  network: { net: dev-net }\n',
    `  network: { net: dev-net, ip: ${moved} }\n`,
  );
  expect(db).toContain(moved);
  commit('db-dev-01 moves', { 'systems/dev/db-dev-01.yaml': db });
  const plan = await runCli(['plan', '-C', deploy, '--state-dir', state]);
  expect(plan.code).toBe(0);
  for (const web of ['web-dev-01', 'web-dev-03'])
    expect(new RegExp(`\\n${web}\\n((?: [^\\n]*\\n)*)`).exec(plan.out)?.[1]).toMatch(
      /~ specialise update [^\n]*\n +roles\.app\/shop-database: /,
    );

  const before = roleTimes();
  const applied = await apply();
  expect(applied.err).not.toMatch(/failed|error/i);
  expect(applied.code).toBe(0);
  expect((await cmdb()).get('db-dev-01')!.ip).toBe(moved);
  expect(await dns().resolve4('db-dev-01.dev.example.com')).toEqual([moved]);
  // Only the role whose params name the database's address ran again, on each system that has it; the
  // database's own roles and the load balancer's (its web tier did not move) were left alone.
  expect(ranSince(before)).toEqual(['web-dev-01 app/shop-database', 'web-dev-03 app/shop-database']);
  for (const web of ['web-dev-01', 'web-dev-03'])
    expect(onTarget(`systems/${web}/etc/shop/database.conf`)).toContain(`url = postgresql://${moved}:5432/shop`);
  expect((await runCli(['plan', '-C', deploy, '--state-dir', state])).out).toMatch(
    /Plan: 0 to create, 0 to update, 0 to replace, 0 to delete/,
  );
}, 240_000);

/** Every secret the site resolves, read the way shipshape reads them. */
async function siteSecrets(): Promise<string[]> {
  const repo = await loadRepo(deploy);
  const refs = new Set<string>();
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === 'object') {
      const ref = (x as { ref?: unknown }).ref;
      if (typeof ref === 'string' && parseSecretRef(ref)) refs.add(ref);
      else Object.values(x).forEach(walk);
    }
  };
  walk(repo.site);
  return Promise.all([...refs].map((ref) => resolveSecret({ ref }, deploy)));
}

/** The CLI as an operator runs it: its own process, structured logs on stderr at debug level. */
async function cli(...args: string[]): Promise<string> {
  const r = await new Promise<{ out: string; err: string }>((resolve) =>
    execFile(
      process.execPath,
      cliArgs('--log-level', 'debug', '--state-dir', state, ...args),
      { env: process.env, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
      (_e, out, err) => resolve({ out: String(out), err: String(err) }),
    ),
  );
  return `${r.out}\n${r.err}`;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

test('no output channel of a full lab run carries a resolved secret or URL userinfo', async () => {
  const secrets = await siteSecrets();
  expect(secrets.length).toBeGreaterThanOrEqual(5); // vCenter user and password, i-doit API key, SSH key, TSIG secret, ownership key
  const out = join(work, 'outputs');
  mkdirSync(out, { recursive: true });
  const channels: Record<string, string> = {};
  channels['plan (text, logs)'] = await cli('plan', '-C', deploy);
  channels['plan json'] = await cli('plan', '-C', deploy, '--format', 'json', '--out', join(out, 'plan.json'));
  channels['plan markdown'] = await cli('plan', '-C', deploy, '--format', 'markdown', '--out', join(out, 'plan.md'));
  channels.apply = await cli('apply', '-C', deploy);
  channels['drift json'] = await cli('drift', '-C', deploy, '--format', 'json', '--out', join(out, 'drift.json'));
  channels['drift markdown'] = await cli('drift', '-C', deploy, '--format', 'markdown');
  channels.status = await cli('status', '-C', deploy, '--format', 'json');
  // A --repo URL with credentials that cannot be fetched: the error names the URL without them.
  channels['plan --repo with credentials'] = await cli(
    'plan',
    '--repo',
    'https://alice:glpat-LabTestToken0042@127.0.0.1:1/infra.git',
  );
  expect(channels['plan --repo with credentials']).toContain('https://127.0.0.1:1/infra.git');

  // serve: /healthz and /metrics after one drift run.
  const listen = `127.0.0.1:${await freePort()}`;
  const serve = spawn(
    process.execPath,
    cliArgs(
      '--log-level',
      'debug',
      '--state-dir',
      state,
      'serve',
      '-C',
      deploy,
      '--mode',
      'drift',
      '--listen',
      listen,
      '--no-provisioning',
    ),
    { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let serveOut = '';
  serve.stdout!.on('data', (d: Buffer) => (serveOut += d.toString()));
  serve.stderr!.on('data', (d: Buffer) => (serveOut += d.toString()));
  try {
    const deadline = Date.now() + 120_000;
    let health = '';
    while (Date.now() < deadline) {
      health = await fetch(`http://${listen}/healthz`).then(
        (r) => r.text(),
        () => '',
      );
      if (/"result"/.test(health)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(health).toMatch(/"result"/);
    channels['/healthz'] = health;
    channels['/metrics'] = await (await fetch(`http://${listen}/metrics`)).text();
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
  channels['serve stdout/stderr'] = serveOut;
  for (const f of [...filesUnder(out), ...filesUnder(state), join(deploy, '.lab', 'provisioning.log')])
    channels[f] = readFileSync(f, 'latin1');

  const leaks: string[] = [];
  for (const [name, textOf] of Object.entries(channels)) {
    secrets.forEach((secretValue, i) => {
      if (textOf.includes(secretValue)) leaks.push(`${name}: secret #${i}`);
    });
    if (textOf.includes('glpat-LabTestToken0042')) leaks.push(`${name}: the --repo token`);
    const userinfo = /[a-z][a-z0-9+.-]*:\/\/(?!\[redacted\]@)[^\s/@"'<>]+@/i.exec(textOf);
    if (userinfo) leaks.push(`${name}: URL userinfo ${userinfo[0].slice(0, 12)}…`);
  }
  expect(leaks).toEqual([]);
  expect(Object.keys(channels).length).toBeGreaterThan(15);
}, 600_000);

test("lab down stops every daemon it started, by pid, and removes the systems' namespaces", async () => {
  expect(labNamespaces().length).toBeGreaterThanOrEqual(5);
  const daemons = readRecord(deploy)!.daemons;
  expect((await runCli(['lab', 'down', '-C', deploy])).code).toBe(0);
  for (const d of daemons) expect(`${d.name}:${isAlive(d.pid, d.start)}`).toBe(`${d.name}:false`);
  expect(labNamespaces()).toEqual([]);
  expect((await runCli(['lab', 'status', '-C', deploy])).code).toBe(3);
}, 60_000);
