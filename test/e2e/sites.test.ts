/**
 * Two sites in one repo (sites/berlin.yaml, sites/paris.yaml), each with its own vCenter (a vcsim)
 * and its own i-doit (an emulator), planned and applied together through the CLI. Then paris's
 * vCenter goes away: berlin still applies, and the report and the exit code say that paris failed.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startVcsim, type Vcsim } from '../helpers/vcsim';
import { adminClient, makeTemplates, PASSWORD, USER, vmsSectionYaml } from '../helpers/vsphere-site';
import { retrieveView } from '../../src/providers/vsphere/inventory';

const examples = join(__dirname, '..', '..', 'examples', 'lab');

interface TestSite {
  name: string;
  net: string;
  cidr: string;
  sim: Vcsim;
  emu: IdoitEmulator;
}

let work: string;
let repo: string;
const sites: TestSite[] = [];

function siteYaml(s: TestSite): string {
  const gw = s.cidr.replace(/0\/24$/, '1');
  return `apiVersion: shipshape.dev/v1
kind: Site
spec:
  lab: true
${vmsSectionYaml(s.sim, 'SHIPSHAPE_SITES', { templates: { debian12: 'tpl-debian12' }, taskTimeoutSeconds: 60, caFile: join(work, `${s.name}-ca.pem`) })}
  ipam: { backend: idoit, url: ${s.emu.endpoint}, apiKey: "\${env:SHIPSHAPE_SITES_IDOIT_KEY}" }
  cmdb: { backend: idoit, url: ${s.emu.endpoint}, apiKey: "\${env:SHIPSHAPE_SITES_IDOIT_KEY}" }
  nets:
    ${s.net}: { cidr: ${s.cidr}, gateway: ${gw}, domain: ${s.name}.example.com }
`;
}

function addSystem(site: string, name: string, net: string): void {
  mkdirSync(join(repo, 'systems', site), { recursive: true });
  writeFileSync(
    join(repo, 'systems', site, `${name}.yaml`),
    `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: ${name} }\nspec:\n  profile: small\n  network: { net: ${net} }\n`,
  );
}

async function vmNames(sim: Vcsim): Promise<string[]> {
  const c = adminClient(sim);
  try {
    const sc = await c.serviceContent();
    const vms = await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }]);
    return vms
      .map((v) => v.props.get('name')!.text)
      .filter((n) => /-0\d$/.test(n))
      .sort();
  } finally {
    await c.logout();
  }
}

const cmdbTitles = (s: TestSite) =>
  s.emu.store
    .allObjects()
    .filter((o) => /-0\d$/.test(o.title))
    .map((o) => o.title)
    .sort();

beforeAll(async () => {
  work = tempDir('sites');
  repo = join(work, 'repo');
  for (const [name, net, cidr] of [
    ['berlin', 'ber-net', '198.51.100.0/24'],
    ['paris', 'par-net', '203.0.113.0/24'],
  ] as const) {
    const sim = await startVcsim({ username: USER, password: PASSWORD });
    await makeTemplates(sim, ['tpl-debian12']);
    cpSync(sim.caFile, join(work, `${name}-ca.pem`)); // outlives the vcsim the second test stops
    const emu = await startIdoitEmulator({
      stateFile: join(work, `${name}-idoit.json`),
      apiKey: 'sites-key',
      nets: [{ title: net, cidr, gateway: cidr.replace(/0\/24$/, '1') }],
    } as never);
    sites.push({ name, net, cidr, sim, emu });
  }
  process.env.SHIPSHAPE_SITES_VS_USER = USER;
  process.env.SHIPSHAPE_SITES_VS_PASSWORD = PASSWORD;
  process.env.SHIPSHAPE_SITES_IDOIT_KEY = 'sites-key';
  mkdirSync(join(repo, 'sites'), { recursive: true });
  mkdirSync(join(repo, 'profiles'), { recursive: true });
  cpSync(join(examples, 'os'), join(repo, 'os'), { recursive: true });
  for (const s of sites) writeFileSync(join(repo, 'sites', `${s.name}.yaml`), siteYaml(s));
  // One profile for both sites: profiles, roles and the OS catalog are shared.
  writeFileSync(
    join(repo, 'profiles', 'small.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: small }\nspec:\n  cpu: 1\n  memoryMiB: 512\n  disks: [{ sizeGiB: 1 }]\n  os: debian12\n',
  );
  addSystem('berlin', 'ber-web-01', 'ber-net');
  addSystem('paris', 'par-web-01', 'par-net');
}, 120_000);

afterAll(async () => {
  for (const s of sites) {
    await s.emu.close();
    await s.sim.stop();
  }
  if (work) removeDir(work);
});

test('two sites are planned and applied together, each into its own vCenter and i-doit, with a section each', async () => {
  const state = join(work, 'state');
  const plan = await runCli(['--state-dir', state, 'plan', '-C', repo]);
  expect({ code: plan.code, err: plan.code === 0 ? '' : plan.err }).toEqual({ code: 0, err: '' });
  const ber = plan.out.indexOf('=== site berlin (sites/berlin.yaml) ===');
  const par = plan.out.indexOf('=== site paris (sites/paris.yaml) ===');
  expect(ber).toBeGreaterThanOrEqual(0);
  expect(par).toBeGreaterThan(ber);
  // Each section plans its own site's system only.
  expect(plan.out.slice(ber, par)).toMatch(/ber-web-01/);
  expect(plan.out.slice(ber, par)).not.toMatch(/par-web-01/);
  expect(plan.out.slice(par)).toMatch(/par-web-01/);
  expect(plan.out).toMatch(/sites: berlin ok, paris ok\n$/);

  const apply = await runCli(['--state-dir', state, 'apply', '-C', repo]);
  expect({ code: apply.code, err: apply.code === 0 ? '' : apply.err + apply.out }).toEqual({ code: 0, err: '' });
  expect(await vmNames(sites[0]!.sim)).toEqual(['ber-web-01']);
  expect(await vmNames(sites[1]!.sim)).toEqual(['par-web-01']);
  expect(cmdbTitles(sites[0]!)).toEqual(['ber-web-01']);
  expect(cmdbTitles(sites[1]!)).toEqual(['par-web-01']);
  // Each site keeps its own state (lock, journal, history) below the state dir.
  expect(['berlin', 'paris'].map((s) => existsSync(join(state, 'sites', s)))).toEqual([true, true]);

  const again = await runCli(['--state-dir', state, 'plan', '-C', repo, '--detailed-exitcode']);
  expect({ code: again.code, out: again.code === 0 ? '' : again.out }).toEqual({ code: 0, out: '' });

  const one = await runCli(['--state-dir', state, 'plan', '-C', repo, '--site', 'paris']);
  expect(one.code).toBe(0);
  expect(one.out).not.toMatch(/=== site/);
}, 300_000);

test('a site whose vCenter is unreachable fails alone: the other site applies, and the report and exit code say which failed', async () => {
  const state = join(work, 'state');
  addSystem('berlin', 'ber-web-02', 'ber-net');
  addSystem('paris', 'par-web-02', 'par-net');
  await sites[1]!.sim.stop();
  const apply = await runCli(['--state-dir', state, 'apply', '-C', repo]);
  // 5: a backend was unreachable (src/engine/outcome.ts).
  expect({ code: apply.code, out: apply.code === 5 ? '' : apply.out + apply.err }).toEqual({ code: 5, out: '' });
  expect(apply.out).toMatch(/\nsites: berlin ok, paris FAILED \(exit 5: .*\)\n$/);
  expect(apply.err).toMatch(/^site paris: error: .*127\.0\.0\.1/m);
  expect(await vmNames(sites[0]!.sim)).toEqual(['ber-web-01', 'ber-web-02']);
  expect(cmdbTitles(sites[0]!)).toEqual(['ber-web-01', 'ber-web-02']);
  // Nothing of paris's new system was made anywhere: the run stopped before it planned.
  expect(cmdbTitles(sites[1]!)).toEqual(['par-web-01']);
}, 300_000);
