/**
 * What apply would refuse is in the plan reviewers read: through the CLI (`shipshape plan`, text and
 * JSON, then `shipshape apply`) on a vcsim and the i-doit emulator.
 *
 * - a system whose OS template (vms.templates.<os>) is not in vCenter: the VM create is blocked
 *   (`refused`, refusal `template-missing`) with apply's sentence, where shipshape.yaml sets the
 *   template as file:line:col; a template kept in a folder and named by its path is not;
 * - a system placed in a cluster or a datacenter vCenter lacks: blocked (`placement-missing`), one on a
 *   port group it lacks: blocked (`portgroup-name`, networks.ts), each naming the manifest line that
 *   sets the name (for the datacenter, the datacenters to write);
 * - three `ip: auto` systems in a net with two free addresses: two creates go ahead, the third is
 *   blocked (`refused`, refusal `net-full`) with apply's sentence naming the two that take them;
 * - a plan targeted at the third (`--system full-03`) does not block it: the two outside the target take nothing;
 * - the blocked systems are left alone by apply (exit 3): nothing of theirs is made, the others are;
 * - a made VM moved to a cluster vCenter lacks: its update is blocked (`placement-missing`) the same way.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import type { Plan } from '../../src/plan/types';
import { findByInventoryPath, retrieveView, runTask } from '../../src/providers/vsphere/inventory';
import { ref, text } from '../../src/providers/vsphere/soap/xml';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startVcsim, type Vcsim } from '../helpers/vcsim';
import { adminClient, makeTemplates, PASSWORD, USER, vmsSectionYaml } from '../helpers/vsphere-site';

const examples = join(__dirname, '..', '..', 'examples', 'lab');

let work: string;
let repo: string;
let state: string;
let sim: Vcsim;
let emu: IdoitEmulator;

const SITE = (): string => `apiVersion: shipshape.dev/v1
kind: Site
spec:
  lab: true
${vmsSectionYaml(sim, 'SHIPSHAPE_FORESEE', {
  templates: {
    debian12: 'tpl-debian12',
    centos7: 'templates/tpl-centos7',
    rocky9: 'tpl-rocky9',
    debian8: 'tpl-centos7',
  },
  taskTimeoutSeconds: 60,
})}
  ipam: { backend: idoit, url: ${emu.endpoint}, apiKey: "\${env:SHIPSHAPE_FORESEE_IDOIT_KEY}" }
  cmdb: { backend: idoit, url: ${emu.endpoint}, apiKey: "\${env:SHIPSHAPE_FORESEE_IDOIT_KEY}" }
  nets:
    dev-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: dev.example.com }
    tiny-net:
      cidr: 192.0.2.0/29
      gateway: 192.0.2.1
      domain: tiny.example.com
      reserved: [192.0.2.2, 192.0.2.3, 192.0.2.4]
`;

function addSystem(name: string, net: string, os?: string, more = ''): void {
  writeFileSync(
    join(repo, 'systems', `${name}.yaml`),
    `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: ${name} }\nspec:\n  profile: small\n${os ? `  os: ${os}\n` : ''}  network: { net: ${net}${more.includes('portgroup') ? `, ${more}` : ''} }\n${more && !more.includes('portgroup') ? `  ${more}\n` : ''}`,
  );
}

/** file:line:col of the first line of `file` (below the repo) containing `needle`, at its first character. */
function positionOf(file: string, needle: string): string {
  const lines = readFileSync(join(repo, file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  return `${file}:${i + 1}:${lines[i]!.indexOf(needle) + 1}`;
}

async function vmNames(): Promise<string[]> {
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

const cmdbTitles = (): string[] =>
  emu.store
    .allObjects()
    .filter((o) => /-0\d$/.test(o.title))
    .map((o) => o.title)
    .sort();

/** tpl-centos7 moved into folder `templates` below DC0's VM folder, as sites keep their templates. */
async function templateIntoFolder(): Promise<void> {
  const c = adminClient(sim);
  try {
    const vmFolder = (await findByInventoryPath(c, 'DC0/vm'))!;
    await c.call('CreateFolder', ref('_this', vmFolder) + text('name', 'templates'));
    const folder = (await findByInventoryPath(c, 'DC0/vm/templates'))!;
    const tpl = (await findByInventoryPath(c, 'DC0/vm/tpl-centos7'))!;
    await runTask(c, 'MoveIntoFolder_Task', ref('_this', folder) + ref('list', tpl), {
      timeoutMs: 30_000,
      what: 'test move',
    });
  } finally {
    await c.logout();
  }
}

beforeAll(async () => {
  work = tempDir('foresee');
  repo = join(work, 'repo');
  state = join(work, 'state');
  sim = await startVcsim({ username: USER, password: PASSWORD });
  await makeTemplates(sim, ['tpl-debian12', 'tpl-centos7']);
  await templateIntoFolder();
  emu = await startIdoitEmulator({
    stateFile: join(work, 'idoit.json'),
    apiKey: 'foresee-key',
    nets: [
      { title: 'dev-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1' },
      { title: 'tiny-net', cidr: '192.0.2.0/29', gateway: '192.0.2.1' },
    ],
  } as never);
  process.env.SHIPSHAPE_FORESEE_VS_USER = USER;
  process.env.SHIPSHAPE_FORESEE_VS_PASSWORD = PASSWORD;
  process.env.SHIPSHAPE_FORESEE_IDOIT_KEY = 'foresee-key';
  mkdirSync(join(repo, 'systems'), { recursive: true });
  mkdirSync(join(repo, 'profiles'), { recursive: true });
  cpSync(join(examples, 'os'), join(repo, 'os'), { recursive: true });
  writeFileSync(join(repo, 'shipshape.yaml'), SITE());
  writeFileSync(
    join(repo, 'profiles', 'small.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: small }\nspec:\n  cpu: 1\n  memoryMiB: 512\n  disks: [{ sizeGiB: 1 }]\n  os: debian12\n',
  );
  addSystem('ok-01', 'dev-net');
  addSystem('ok-02', 'dev-net', 'centos7'); // its template is in a folder, named by its path
  addSystem('tpl-01', 'dev-net', 'rocky9'); // tpl-rocky9 is not in vCenter
  addSystem('tpl-02', 'dev-net', 'debian8'); // tpl-centos7 is, but in folder templates
  addSystem('pool-01', 'dev-net', undefined, 'placement: { cluster: DC0_C9 }'); // vcsim has DC0_C0 only
  addSystem('dc-01', 'dev-net', undefined, 'placement: { datacenter: DC9 }'); // and DC0 only
  addSystem('pg-01', 'dev-net', undefined, 'portgroup: no-such-pg');
  // tiny-net: .1 the gateway, .2–.4 reserved: .5 and .6 are free, for three systems.
  for (const n of ['full-01', 'full-02', 'full-03']) addSystem(n, 'tiny-net');
  // Blocked by its template, planned first: it takes none of tiny-net's two addresses.
  addSystem('full-00', 'tiny-net', 'rocky9');
}, 300_000);

afterAll(async () => {
  await emu?.close();
  await sim?.stop();
  for (const k of ['VS_USER', 'VS_PASSWORD', 'IDOIT_KEY']) delete process.env[`SHIPSHAPE_FORESEE_${k}`];
  if (work) removeDir(work);
});

const TEMPLATE_SENTENCE = (): string =>
  `os: vSphere template "DC0/vm/tpl-rocky9" not found (vms.templates.rocky9, set at ${positionOf('shipshape.yaml', 'tpl-rocky9')}): make or import that template in vCenter, or set vms.templates.rocky9 to the path below DC0/vm of one that exists`;

const FULL_SENTENCE = (): string =>
  `network.ip: net "tiny-net" (192.0.2.0/29, range 192.0.2.1–192.0.2.6, nets.tiny-net at ${positionOf('shipshape.yaml', 'cidr: 192.0.2.0/29')}) has no free address left for full-03 (ip: auto in ${positionOf('systems/full-03.yaml', 'tiny-net')}); its last 2 free addresses go to full-01, full-02 in this run (1 held in i-doit, 3 reserved in shipshape.yaml, 0 DHCP range(s)); free addresses in i-doit, widen the range, or use another net.`;

test('the plan blocks the create of a system whose template or placement is not in vCenter, and of the one a full net has no address for', async () => {
  const json = await runCli(['--state-dir', state, 'plan', '-C', repo, '--format', 'json']);
  expect({ code: json.code, err: json.err }).toEqual({ code: 0, err: '' });
  const plan = JSON.parse(json.out) as Plan;
  const blocked = plan.actions
    .filter((a) => a.blocked)
    .map((a) => ({ system: a.system, kind: a.kind, action: a.action, code: a.blockedCode, refusal: a.refusal }));
  expect(blocked).toEqual([
    { system: 'dc-01', kind: 'vm', action: 'create', code: 'refused', refusal: 'placement-missing' },
    { system: 'full-00', kind: 'vm', action: 'create', code: 'refused', refusal: 'template-missing' },
    { system: 'full-03', kind: 'ip', action: 'create', code: 'refused', refusal: 'net-full' },
    { system: 'pg-01', kind: 'vm', action: 'create', code: 'refused', refusal: 'portgroup-name' },
    { system: 'pool-01', kind: 'vm', action: 'create', code: 'refused', refusal: 'placement-missing' },
    { system: 'tpl-01', kind: 'vm', action: 'create', code: 'refused', refusal: 'template-missing' },
    { system: 'tpl-02', kind: 'vm', action: 'create', code: 'refused', refusal: 'template-missing' },
  ]);
  const sentence = (system: string, kind: string) =>
    plan.actions.find((a) => a.system === system && a.kind === kind)?.blocked;
  expect(sentence('tpl-01', 'vm')).toBe(TEMPLATE_SENTENCE());
  expect(sentence('tpl-02', 'vm')).toBe(
    `os: vSphere template "DC0/vm/tpl-centos7" not found (vms.templates.debian8, set at ${positionOf('shipshape.yaml', 'debian8: tpl-centos7').replace(/:(\d+)$/, (_, c: string) => `:${Number(c) + 'debian8: '.length}`)}); it is below the VM folder as templates/tpl-centos7: set vms.templates.debian8 to that path`,
  );
  expect(sentence('full-03', 'ip')).toBe(FULL_SENTENCE());
  expect(sentence('pool-01', 'vm')).toBe(
    `placement: vSphere cluster "DC0/host/DC0_C9" not found (placement.cluster, set at ${positionOf('systems/pool-01.yaml', 'DC0_C9')}): fix the name, or make the cluster in vCenter`,
  );
  expect(sentence('dc-01', 'vm')).toBe(
    `placement: vSphere datacenter "DC9" not found (placement.datacenter, set at ${positionOf('systems/dc-01.yaml', 'DC9')}); set placement.datacenter to one of: DC0`,
  );
  expect(sentence('pg-01', 'vm')).toBe(
    `portgroup: vSphere port group "no-such-pg" not found in datacenter DC0: check network.portgroup at ${positionOf('systems/pg-01.yaml', 'no-such-pg')}; write a port group's name, or its path below the datacenter's network folder (Prod/VLAN-100), with a "/" inside a name as %2f`,
  );
  // The others go ahead: the template named by its folder path is found, two systems take the two addresses.
  for (const s of ['ok-01', 'ok-02', 'full-01', 'full-02'])
    expect(plan.actions.filter((a) => a.system === s).map((a) => [a.kind, a.action, a.blocked ?? ''])).toEqual(
      expect.arrayContaining([
        ['vm', 'create', ''],
        ['ip', 'create', ''],
      ]),
    );
  expect(plan.summary.blocked).toBe(7);

  const textPlan = await runCli(['--state-dir', state, 'plan', '-C', repo, '--detailed-exitcode']);
  expect(textPlan.code).toBe(2);
  expect(textPlan.out).toContain(`BLOCKED: ${TEMPLATE_SENTENCE()}`);
  expect(textPlan.out).toContain(`BLOCKED: ${FULL_SENTENCE()}`);
  expect(textPlan.out).toMatch(/, 7 blocked/);
  // A targeted plan: apply leaves full-01 and full-02 out, so they take none of the two addresses.
  const scoped = await runCli(['--state-dir', state, 'plan', '-C', repo, '--format', 'json', '--system', 'full-03']);
  expect((JSON.parse(scoped.out) as Plan).actions.filter((a) => a.blocked)).toEqual([]);
  // Planning changed nothing.
  expect(await vmNames()).toEqual([]);
  expect(cmdbTitles()).toEqual([]);
}, 300_000);

test('apply leaves the blocked systems alone and makes the others; each full-net system got one of the free addresses', async () => {
  const apply = await runCli(['--state-dir', state, 'apply', '-C', repo]);
  // 3: nothing failed, something is blocked (the systems the plan blocked, left alone).
  expect({ code: apply.code, out: apply.code === 3 ? '' : apply.out }).toEqual({ code: 3, out: '' });
  expect(apply.out).toMatch(/tpl-01/);
  expect(await vmNames()).toEqual(['full-01', 'full-02', 'ok-01', 'ok-02']);
  expect(cmdbTitles()).toEqual(['full-01', 'full-02', 'ok-01', 'ok-02']);
  const tiny = emu.store
    .allObjects()
    .filter((o) => /^full-/.test(o.title))
    .map((o) => o.title);
  expect(tiny.sort()).toEqual(['full-01', 'full-02']);
  // The net is full now: full-03 is still blocked, with nothing left to hand out.
  const again = JSON.parse((await runCli(['--state-dir', state, 'plan', '-C', repo, '--format', 'json'])).out) as Plan;
  expect(again.actions.find((a) => a.system === 'full-03' && a.kind === 'ip')?.blocked).toBe(
    `network.ip: net "tiny-net" (192.0.2.0/29, range 192.0.2.1–192.0.2.6, nets.tiny-net at ${positionOf('shipshape.yaml', 'cidr: 192.0.2.0/29')}) has no free address left for full-03 (ip: auto in ${positionOf('systems/full-03.yaml', 'tiny-net')}) (3 held in i-doit, 3 reserved in shipshape.yaml, 0 DHCP range(s)); free addresses in i-doit, widen the range, or use another net.`,
  );
}, 300_000);

test('a made VM moved to a cluster vCenter lacks: the plan blocks its update with the sentence, naming the manifest line', async () => {
  addSystem('ok-01', 'dev-net', undefined, 'placement: { cluster: DC0_C7 }');
  const plan = JSON.parse((await runCli(['--state-dir', state, 'plan', '-C', repo, '--format', 'json'])).out) as Plan;
  const vm = plan.actions.find((a) => a.system === 'ok-01' && a.kind === 'vm')!;
  expect({ action: vm.action, code: vm.blockedCode, refusal: vm.refusal, blocked: vm.blocked }).toEqual({
    action: 'update',
    code: 'refused',
    refusal: 'placement-missing',
    blocked: `placement.cluster: vSphere cluster "DC0/host/DC0_C7" not found (placement.cluster, set at ${positionOf('systems/ok-01.yaml', 'DC0_C7')}): fix the name, or make the cluster in vCenter`,
  });
  addSystem('ok-01', 'dev-net');
}, 300_000);
