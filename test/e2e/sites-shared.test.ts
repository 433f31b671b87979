/**
 * Two sites in one repo that share their backends: one vCenter and one i-doit (a company's one CMDB is the
 * common case). Each site's run sees the other site's marked VMs and objects; they are declared in the repo,
 * so neither site reports them as orphans (whose hint, "add a manifest with state: absent", would delete the
 * other site's systems) and `drift` stays quiet.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpSync } from 'node:fs';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startVcsim, type Vcsim } from '../helpers/vcsim';
import { makeTemplates, PASSWORD, USER, vmsSectionYaml } from '../helpers/vsphere-site';

const examples = join(__dirname, '..', '..', 'examples', 'lab');
const SITES = [
  { name: 'berlin', net: 'ber-net', cidr: '198.51.100.0/24' },
  { name: 'paris', net: 'par-net', cidr: '203.0.113.0/24' },
] as const;

let work: string;
let repo: string;
let sim: Vcsim;
let emu: IdoitEmulator;

beforeAll(async () => {
  work = tempDir('sites-shared');
  repo = join(work, 'repo');
  sim = await startVcsim({ username: USER, password: PASSWORD });
  await makeTemplates(sim, ['tpl-debian12']);
  emu = await startIdoitEmulator({
    stateFile: join(work, 'idoit.json'),
    apiKey: 'shared-key',
    nets: SITES.map((s) => ({ title: s.net, cidr: s.cidr, gateway: s.cidr.replace(/0\/24$/, '1') })),
  } as never);
  process.env.SHIPSHAPE_SHARED_VS_USER = USER;
  process.env.SHIPSHAPE_SHARED_VS_PASSWORD = PASSWORD;
  process.env.SHIPSHAPE_SHARED_IDOIT_KEY = 'shared-key';
  mkdirSync(join(repo, 'sites'), { recursive: true });
  mkdirSync(join(repo, 'profiles'), { recursive: true });
  cpSync(join(examples, 'os'), join(repo, 'os'), { recursive: true });
  writeFileSync(
    join(repo, 'profiles', 'small.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: small }\nspec:\n  cpu: 1\n  memoryMiB: 512\n  disks: [{ sizeGiB: 1 }]\n  os: debian12\n',
  );
  for (const s of SITES) {
    writeFileSync(
      join(repo, 'sites', `${s.name}.yaml`),
      `apiVersion: shipshape.dev/v1
kind: Site
spec:
  lab: true
${vmsSectionYaml(sim, 'SHIPSHAPE_SHARED', { templates: { debian12: 'tpl-debian12' }, taskTimeoutSeconds: 60 })}
  ipam: { backend: idoit, url: ${emu.endpoint}, apiKey: "\${env:SHIPSHAPE_SHARED_IDOIT_KEY}" }
  cmdb: { backend: idoit, url: ${emu.endpoint}, apiKey: "\${env:SHIPSHAPE_SHARED_IDOIT_KEY}" }
  nets:
    ${s.net}: { cidr: ${s.cidr}, gateway: ${s.cidr.replace(/0\/24$/, '1')}, domain: ${s.name}.example.com }
`,
    );
    mkdirSync(join(repo, 'systems', s.name), { recursive: true });
    const name = `${s.name.slice(0, 3)}-web-01`;
    writeFileSync(
      join(repo, 'systems', s.name, `${name}.yaml`),
      `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: ${name} }\nspec:\n  profile: small\n  network: { net: ${s.net} }\n`,
    );
  }
}, 120_000);

afterAll(async () => {
  await emu?.close();
  await sim?.stop();
  if (work) removeDir(work);
});

test("sites sharing one vCenter and one i-doit: neither reports the other's systems as orphans, drift is quiet", async () => {
  const state = join(work, 'state');
  const apply = await runCli(['--state-dir', state, 'apply', '-C', repo]);
  expect({ code: apply.code, err: apply.code === 0 ? '' : apply.err + apply.out }).toEqual({ code: 0, err: '' });
  expect(emu.store.allObjects().filter((o) => /-web-01$/.test(o.title)).length).toBe(2);

  const plan = await runCli(['--state-dir', state, 'plan', '-C', repo, '--detailed-exitcode']);
  expect({ code: plan.code, err: plan.err }).toEqual({ code: 0, err: '' });
  expect(plan.out).not.toMatch(/no manifest names system/);
  const drift = await runCli(['--state-dir', state, 'drift', '-C', repo]);
  expect({ code: drift.code, out: drift.out }).toEqual({
    code: 0,
    out: expect.stringMatching(/sites: berlin ok, paris ok/),
  });
  expect(drift.out).not.toMatch(/orphan|no manifest names/);
}, 300_000);
