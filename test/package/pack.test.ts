/**
 * The tool apart from the site repo: `npm pack` → install the tarball into an empty folder → `shipshape
 * --version`, `init`, `validate`, `plan` run from that installation, in a folder outside this repo, with
 * no path back to its sources. The plan observes the lab's stand-ins for the site's vCenter (vcsim) and
 * CMDB (the i-doit emulator).
 * Dependencies come from npm's cache (--prefer-offline: the registry only for what the cache lacks).
 */
import { execFile } from 'node:child_process';
import { lstatSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDocument } from 'yaml';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { removeDir, tempDir } from '../helpers/daemon';
import { startVcsim, type Vcsim } from '../helpers/vcsim';
import { PASSWORD, USER, makeTemplates } from '../helpers/vsphere-site';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let work: string;
let emu: IdoitEmulator;
let sim: Vcsim;
let bin: string;

beforeAll(async () => {
  work = tempDir('pack');
  emu = await startIdoitEmulator({
    stateFile: join(work, 'idoit.json'),
    apiKey: 'site-key',
    users: [{ username: 'planner', password: 'pw' }],
    nets: [{ title: 'prod-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1' }],
  });
  sim = await startVcsim({ username: USER, password: PASSWORD });
  await makeTemplates(sim, ['tpl-debian12', 'tpl-rocky9']);
  // prepack builds dist/ from src/ only; the tarball is what a team would install.
  const packed = await run('npm', ['pack', '--silent', '--pack-destination', work], {
    cwd: ROOT,
    timeout: 180_000,
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  const tarball = join(work, packed.stdout.trim().split('\n').pop()!);
  const tool = join(work, 'tool');
  await run('mkdir', ['-p', tool]);
  writeFileSync(join(tool, 'package.json'), '{ "name": "site-tools", "private": true }\n');
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], {
    cwd: tool,
    timeout: 240_000,
  });
  bin = join(tool, 'node_modules', '.bin', 'shipshape');
}, 480_000);

afterAll(async () => {
  await emu?.close();
  await sim?.stop();
  if (work) removeDir(work);
});

/** The installed command, from a folder outside this repo, with a clean environment. */
function shipshape(args: string[], cwd: string, env: Record<string, string> = {}) {
  return run(bin, args, { cwd, timeout: 120_000, env: { PATH: process.env.PATH!, HOME: work, ...env } }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}

it('installs from the tarball and runs with no path back to this repo', async () => {
  const installed = realpathSync(join(work, 'tool', 'node_modules', 'shipshape'));
  expect(installed.startsWith(realpathSync(work))).toBe(true);
  expect(lstatSync(join(work, 'tool', 'node_modules', 'shipshape')).isSymbolicLink()).toBe(false);
  const v = await shipshape(['--version'], work);
  expect(v).toMatchObject({ code: 0, out: `${version}\n` });
  const npx = await run('npx', ['--no-install', 'shipshape', '--version'], {
    cwd: join(work, 'tool'),
    timeout: 60_000,
  });
  expect(npx.stdout).toBe(`${version}\n`);
  // The package holds the compiled tool, the schemas and the templates; no sources or tests.
  const listed = await run('tar', ['-tzf', join(work, `shipshape-${version}.tgz`)]);
  expect(listed.stdout).toContain('package/dist/src/cli/main.js');
  expect(listed.stdout).toContain('package/templates/site/.gitlab-ci.yml');
  expect(listed.stdout).not.toMatch(/\.test\.js|package\/src\/|package\/test\//);
});

it('init → validate → plan in a fresh site repo', async () => {
  const site = join(work, 'site');
  const init = await shipshape(['init', site], work);
  expect(init.code).toBe(0);
  expect((await shipshape(['validate'], site)).code).toBe(0);

  // Point the scaffolded site at the lab's vCenter and CMDB; DNS, DHCP, install and SSH are not part of this test.
  const doc = parseDocument(readFileSync(join(site, 'shipshape.yaml'), 'utf8'));
  for (const k of ['dns', 'dhcp', 'provisioning', 'specialise']) doc.deleteIn(['spec', k]);
  doc.setIn(['spec', 'ipam', 'url'], emu.endpoint); // cmdb is a YAML alias of the same i-doit section
  // The emulator speaks plain http, which only a lab site may use for i-doit: this is the "lab plan".
  doc.setIn(['spec', 'lab'], true);
  const v = {
    url: sim.url,
    tls: { caFile: sim.caFile },
    datacenter: 'DC0',
    cluster: 'DC0_C0',
    datastore: 'LocalDS_0',
    portgroup: 'DC0_DVPG0',
  };
  for (const [k, val] of Object.entries(v)) doc.setIn(['spec', 'vms', k], doc.createNode(val));
  writeFileSync(join(site, 'shipshape.yaml'), doc.toString());
  const env = {
    SHIPSHAPE_IDOIT_API_KEY: 'site-key',
    SHIPSHAPE_IDOIT_USER: 'planner',
    SHIPSHAPE_IDOIT_PASSWORD: 'pw',
    SHIPSHAPE_VSPHERE_USER: USER,
    SHIPSHAPE_VSPHERE_PASSWORD: PASSWORD,
  };
  expect(await shipshape(['validate'], site)).toMatchObject({ code: 0 });
  const plan = await shipshape(['--state-dir', join(work, 'state'), 'plan', '--detailed-exitcode'], site, env);
  expect(plan.err).not.toMatch(/^error/m);
  expect(plan.code).toBe(2);
  expect(plan.out).toMatch(/^app-01$/m);
  expect(plan.out).toMatch(/^\s+\+ ip create/m);
  expect(plan.out).toMatch(/^\s+\+ vm create/m);
  expect(plan.out).toMatch(/^\s+\+ cmdb create/m);
  expect(plan.out).toMatch(/^Plan: 3 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged/m);
  expect(emu.stats().httpRequests).toBeGreaterThan(0);

  // As the merge-request pipeline runs it: a branch of the site repo, planned against main.
  const git = (...args: string[]) =>
    run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: site });
  await git('init', '-q', '-b', 'main');
  await git('add', '-A');
  await git('commit', '-qm', 'site');
  await git('checkout', '-qb', 'more-cpu');
  writeFileSync(
    join(site, 'systems', 'app-01.yaml'),
    readFileSync(join(site, 'systems', 'app-01.yaml'), 'utf8').replace('cpu: 4', 'cpu: 8'),
  );
  await git('commit', '-qam', 'more cpu');
  const mr = await shipshape(
    ['--state-dir', join(work, 'state'), 'plan', '--base', 'main', '--format', 'markdown'],
    site,
    env,
  );
  expect(mr.err).not.toMatch(/^error/m);
  expect(mr.code).toBe(0);
  expect(mr.out).toContain(
    '_read-only plan (--read-only): observed by reading only, nothing ran on a managed host; site config, roles and OS catalog from main',
  );
  expect(mr.out).toContain('<summary><b>app-01</b>: create</summary>');
}, 240_000);
