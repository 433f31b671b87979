/**
 * Moving an existing estate to shipshape, end to end through the CLI against vcsim and the i-doit
 * emulator. A "legacy world" is built the way an old script pipeline would: 20 VMs cloned from the
 * templates into two folders (12 outside the managed folder), sized by hand, powered on, each with
 * the MAC vCenter gave it; an i-doit object per VM without any shipshape marker, with its host
 * address. Then: `import` writes 20 manifests that validate; `plan --adopt` shows no create and an
 * adoption per VM and address with an empty diff; `adopt` takes them; the next apply has no changes;
 * a CPU change updates that VM in place; nothing was duplicated or lost. Last, a manifest whose name
 * an unmanaged VM outside the folder already has plans a blocked create, and apply creates nothing.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { VimClient } from '../../src/providers/vsphere/client';
import { findByInventoryPath, retrieveObjects, retrieveView, runTask } from '../../src/providers/vsphere/inventory';
import { reconfigSpec } from '../../src/providers/vsphere/specs';
import { lastPerKey, parseVm } from '../../src/providers/vsphere/vm';
import { child, ref, text, toRef } from '../../src/providers/vsphere/soap/xml';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startVcsim, type Vcsim } from '../helpers/vcsim';
import { makeTemplates, PASSWORD, USER } from '../helpers/vsphere-site';

const LAB = join(__dirname, '..', '..', 'examples', 'lab');
const COUNT = 20;
const OUTSIDE = 12; // in folder `legacy`, outside the managed folder `shipshape`
const names = Array.from({ length: COUNT }, (_, i) => `app-${String(i + 1).padStart(2, '0')}`);
const addressOf = (name: string) => `198.51.100.${100 + Number(name.slice(4))}`;

let work: string;
let repo: string;
let state: string;
let sim: Vcsim;
let emu: IdoitEmulator;

const cli = (...args: string[]) => runCli([...args, '-C', repo]);
/** A run that must succeed: its stderr is in the failure message. */
function ok(r: { code: number; err: string }): void {
  expect({ code: r.code, err: r.code ? r.err : '' }).toEqual({ code: 0, err: '' });
}
const admin = () => new VimClient({ url: sim.url, username: USER, password: PASSWORD, tls: { caFile: sim.caFile } });

interface VmRow {
  ref: string;
  name: string;
  cpu: number;
  mac: string;
  extra: Map<string, string>;
  template: boolean;
}
async function vms(): Promise<VmRow[]> {
  const c = admin();
  try {
    const rows = await retrieveView(c, (await c.serviceContent()).rootFolder, [
      {
        type: 'VirtualMachine',
        paths: ['name', 'config.hardware.numCPU', 'config.hardware.device', 'config.extraConfig', 'config.template'],
      },
    ]);
    return rows.map((r) => {
      const devices = r.props.get('config.hardware.device')?.children ?? [];
      const mac = devices.map((d) => child(d, 'macAddress')?.text).find((m) => m) ?? '';
      return {
        ref: r.obj.value,
        name: r.props.get('name')!.text,
        cpu: Number(r.props.get('config.hardware.numCPU')!.text),
        mac: mac.toLowerCase(),
        extra: lastPerKey(r.props.get('config.extraConfig')),
        template: r.props.get('config.template')?.text === 'true',
      };
    });
  } finally {
    await c.logout();
  }
}

async function idoit<T>(method: string, params: object): Promise<T> {
  const r = await fetch(emu.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, apikey: 'legacy-key' } }),
  });
  const body = (await r.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}
type Row = { id: string; title: string; sysid: string; categories?: Record<string, any[]> };
const servers = () =>
  idoit<Row[]>('cmdb.objects.read', {
    filter: { type: 'C__OBJTYPE__VIRTUAL_SERVER' },
    categories: ['C__CATG__IP', 'C__CATG__GLOBAL'],
  });

/** What the old pipeline did for one system: clone, size, power on; document it in i-doit with its address. */
async function legacySystem(c: VimClient, name: string, folder: string, netId: number): Promise<void> {
  const [tpl, dest, pool] = await Promise.all([
    findByInventoryPath(c, 'DC0/vm/tpl-debian12'),
    findByInventoryPath(c, `DC0/vm/${folder}`),
    findByInventoryPath(c, 'DC0/host/DC0_C0/Resources'),
  ]);
  const vm = toRef(
    await runTask(
      c,
      'CloneVM_Task',
      ref('_this', tpl!) +
        ref('folder', dest!) +
        text('name', name) +
        `<spec><location>${ref('pool', pool!)}</location><template>false</template><powerOn>false</powerOn></spec>`,
      { timeoutMs: 60_000, what: `legacy clone ${name}` },
    ),
  )!;
  // Sized by hand, and a MAC of its own (the pipeline's MAC plan; vcsim copies the template's otherwise).
  const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['config.hardware.device'] }]);
  const devices = parseVm(o!, new Map()).devices;
  const mac = `00:50:56:3f:00:${Number(name.slice(4)).toString(16).padStart(2, '0')}`;
  const spec = reconfigSpec(devices, {
    cpu: 2,
    memoryMiB: 2048,
    growDisks: [{ index: 0, sizeKiB: 10 * 1024 * 1024 }],
    addDisks: [],
    nic: { mac },
    extraConfig: [],
  });
  await runTask(c, 'ReconfigVM_Task', ref('_this', vm) + spec, { timeoutMs: 60_000, what: `legacy sizing ${name}` });
  await runTask(c, 'PowerOnVM_Task', ref('_this', vm), { timeoutMs: 60_000, what: `legacy power-on ${name}` });
  const obj = await idoit<{ id: number }>('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: name });
  await idoit('cmdb.category.save', {
    object: obj.id,
    category: 'C__CATG__IP',
    data: {
      net: netId,
      net_type: 1,
      ipv4_assignment: 2,
      ipv4_address: addressOf(name),
      hostname: name,
      domain: 'dev.example.com',
      primary: 1,
      active: 1,
    },
  });
}

function writeRepo(): void {
  mkdirSync(join(repo, 'profiles'), { recursive: true });
  mkdirSync(join(repo, 'systems'), { recursive: true });
  cpSync(join(LAB, 'os'), join(repo, 'os'), { recursive: true });
  writeFileSync(
    join(repo, 'shipshape.yaml'),
    `apiVersion: shipshape.dev/v1
kind: Site
spec:
  lab: true
  defaults: { concurrency: 4, maxDeletes: 3 }
  vms:
    backend: vsphere
    url: ${sim.url}
    username: \${env:SHIPSHAPE_VS_USER}
    password: \${env:SHIPSHAPE_VS_PASSWORD}
    tls: { caFile: ${sim.caFile} }
    datacenter: DC0
    cluster: DC0_C0
    folder: shipshape
    datastore: LocalDS_0
    portgroup: DC0_DVPG0
    templates: { debian12: tpl-debian12, rocky9: tpl-rocky9 }
    taskTimeoutSeconds: 120
  ipam:
    backend: idoit
    url: ${emu.endpoint}
    apiKey: \${env:SHIPSHAPE_IDOIT_KEY}
  cmdb:
    backend: idoit
    url: ${emu.endpoint}
    apiKey: \${env:SHIPSHAPE_IDOIT_KEY}
  nets:
    dev-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: dev.example.com }
`,
  );
  // Two profiles: import chooses the one that leaves the fewest overrides.
  writeFileSync(
    join(repo, 'profiles', 'legacy.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: legacy }\nspec:\n  cpu: 2\n  memoryMiB: 2048\n  os: debian12\n  network: { net: dev-net }\n  lifecycle: { powerPolicy: allow-poweroff }\n',
  );
  writeFileSync(
    join(repo, 'profiles', 'big.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: big }\nspec:\n  cpu: 8\n  memoryMiB: 16384\n  os: debian12\n  network: { net: dev-net }\n',
  );
}

let before: VmRow[];
/** The VMs of the legacy world (vcsim's own model VM, DC0_C0_RP0_VM2, is left out) and any made later. */
const legacyVms = async () => (await vms()).filter((v) => !v.template && v.name !== 'DC0_C0_RP0_VM2');

beforeAll(async () => {
  work = tempDir('adopt-e2e');
  repo = join(work, 'repo');
  state = join(work, 'state');
  mkdirSync(repo);
  [sim, emu] = await Promise.all([
    startVcsim(),
    startIdoitEmulator({
      stateFile: join(work, 'idoit.json'),
      apiKey: 'legacy-key',
      nets: [{ title: 'dev-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1' }],
    }),
  ]);
  await makeTemplates(sim, ['tpl-debian12', 'tpl-rocky9']);
  Object.assign(process.env, {
    SHIPSHAPE_VS_USER: USER,
    SHIPSHAPE_VS_PASSWORD: PASSWORD,
    SHIPSHAPE_IDOIT_KEY: 'legacy-key',
  });
  writeRepo();
  const c = admin();
  try {
    const root = (await findByInventoryPath(c, 'DC0/vm'))!;
    for (const f of ['legacy', 'shipshape']) await c.call('CreateFolder', ref('_this', root) + text('name', f));
    const nets = await idoit<Row[]>('cmdb.objects.read', {
      filter: { type: 'C__OBJTYPE__LAYER3_NET', title: 'dev-net' },
    });
    const netId = Number(nets[0]!.id);
    for (const [i, name] of names.entries()) await legacySystem(c, name, i < OUTSIDE ? 'legacy' : 'shipshape', netId);
  } finally {
    await c.logout();
  }
  before = await legacyVms();
}, 300_000);

afterAll(async () => {
  await Promise.all([sim?.stop(), emu?.close()]);
  if (work) removeDir(work);
}, 60_000);

test('the legacy world: 20 running VMs with MACs of their own, 20 i-doit objects without a marker', async () => {
  expect(before.map((v) => v.name).sort()).toEqual(names);
  expect(new Set(before.map((v) => v.mac)).size).toBe(COUNT);
  const objs = await servers();
  expect(objs.map((o) => o.title).sort()).toEqual(names);
  expect(objs.every((o) => !o.sysid.startsWith('SHIPSHAPE-'))).toBe(true);
});

test('a plain plan reports the unmanaged VMs in the managed folder and blocks nothing yet', async () => {
  const p = await cli('plan', '--format', 'json');
  ok(p);
  const plan = JSON.parse(p.out);
  const unmanaged = plan.warnings.filter((w: any) => w.code === 'unmanaged' && w.kind === 'vm');
  // Only the 8 in the managed folder: the 12 elsewhere in the datacenter are not in shipshape's scope.
  expect(unmanaged.map((w: any) => w.system).sort()).toEqual(names.slice(OUTSIDE));
  // Drift reports them in a class of their own: not drift (exit 0), but not silent either.
  const d = await cli('drift', '--format', 'json');
  ok(d);
  const report = JSON.parse(d.out);
  expect(report.drifted).toBe(false);
  expect(
    report.unmanaged
      .filter((w: any) => w.kind === 'vm')
      .map((w: any) => w.system)
      .sort(),
  ).toEqual(names.slice(OUTSIDE));
  // Every legacy i-doit object is unmanaged too (the IPAM's and the CMDB's view of it).
  expect(report.unmanaged.filter((w: any) => w.kind === 'cmdb')).toHaveLength(COUNT);
});

test('import writes 20 manifests that validate, with the MAC, address and what was found', async () => {
  const first = await cli('import', '--folder', 'legacy', '--state-dir', state);
  ok(first);
  expect(first.out).toMatch(/Imported 12 system\(s\); nothing was changed in any backend/);
  const second = await cli('import', '--name-regex', '^app-', '--state-dir', state);
  ok(second);
  expect(second.out).toMatch(/Imported 8 system\(s\)/);
  expect(second.err).toMatch(/skipped app-01: a manifest already declares it/);
  expect(readdirSync(join(repo, 'systems')).sort()).toEqual(names.map((n) => `${n}.yaml`));

  const text = readFileSync(join(repo, 'systems', 'app-03.yaml'), 'utf8');
  const vm = before.find((v) => v.name === 'app-03')!;
  expect(text).toContain('profile: legacy');
  expect(text).not.toMatch(/^\s+cpu:/m); // the profile's value: no override
  expect(text).toContain(`mac: ${vm.mac}`);
  expect(text).toContain(`ip: ${addressOf('app-03')}`);
  expect(text).toContain(`#   vSphere: VM ${vm.ref},`);
  expect(text).toMatch(/# {3}i-doit: object #\d+, host address 198\.51\.100\.103 in net dev-net/);
  expect(text).toContain('folder DC0/vm/legacy');
  expect(text).toMatch(/placement:\n\s+folder: legacy\n/); // where it is: adopting never moves it

  const v = await cli('validate');
  expect(v.err).toBe('');
  ok(v);
  // Import changed nothing anywhere.
  expect(await legacyVms()).toEqual(before);
}, 120_000);

test('plan --adopt: no create, an adoption per VM and address with an empty diff; adopt takes them; then no changes', async () => {
  const p = await cli('plan', '--adopt', '--format', 'json');
  ok(p);
  const plan = JSON.parse(p.out);
  const of = (kind: string) => plan.actions.filter((a: any) => a.kind === kind);
  expect(plan.summary.create).toBe(0);
  expect(plan.summary.blocked).toBe(0);
  for (const kind of ['vm', 'ip']) {
    expect(of(kind).map((a: any) => [a.system, a.action, a.changes])).toEqual(names.map((n) => [n, 'adopt', []]));
  }
  // i-doit documented only title and address: the CMDB adoption fills in the rest of the documentation.
  expect(of('cmdb').every((a: any) => a.action === 'adopt' && !a.blocked)).toBe(true);

  const a = await cli('adopt', '--state-dir', state);
  expect(a.err).not.toMatch(/failed/i);
  ok(a);
  expect(a.out).toMatch(/Adopted: 60 resources of 20 systems/);

  const after = await legacyVms();
  expect(after.map(({ ref: r, name, cpu, mac }) => ({ r, name, cpu, mac }))).toEqual(
    before.map(({ ref: r, name, cpu, mac }) => ({ r, name, cpu, mac })),
  );
  for (const v of after) {
    expect(v.extra.get('shipshape.system')).toBe(v.name);
    expect(v.extra.get('shipshape.install')).toBe('adopted');
  }
  const objs = await servers();
  expect(objs.map((o) => o.title).sort()).toEqual(names);
  for (const o of objs) {
    expect(o.categories?.C__CATG__GLOBAL?.[0]?.description).toMatch(new RegExp(`^shipshape-system=${o.title}\\n`));
    expect(o.categories?.C__CATG__IP?.map((e: any) => e.ipv4_address?.ref_title)).toEqual([addressOf(o.title)]);
  }

  const next = await cli('apply', '--state-dir', state);
  ok(next);
  expect(next.out).toContain('No changes: the world matches the manifests.');
}, 240_000);

test('a CPU change on one adopted system updates that VM in place', async () => {
  const file = join(repo, 'systems', 'app-03.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('  profile: legacy\n', '  profile: legacy\n  cpu: 4\n'));
  const p = await cli('plan');
  expect(p.out).toMatch(/~ vm update .*cpu/s);
  expect(p.out).toMatch(/Plan: 0 to create, 2 to update/); // the VM, and its CMDB documentation
  const a = await cli('apply', '--state-dir', state);
  expect(a.err).not.toMatch(/failed/i);
  ok(a);
  const after = await legacyVms();
  const vm = after.find((v) => v.name === 'app-03')!;
  expect(vm).toMatchObject({ ref: before.find((v) => v.name === 'app-03')!.ref, cpu: 4 });
  expect(after).toHaveLength(COUNT);
  expect((await cli('apply', '--state-dir', state)).out).toContain('No changes');
}, 180_000);

test('a manifest named like an unmanaged VM outside the folder: a blocked create in the plan, nothing created by apply', async () => {
  const c = admin();
  try {
    const [tpl, dest, pool] = await Promise.all([
      findByInventoryPath(c, 'DC0/vm/tpl-debian12'),
      // A folder no system places VMs in (`legacy` is one now: the adopted systems stay there).
      c
        .call('CreateFolder', ref('_this', (await findByInventoryPath(c, 'DC0/vm'))!) + text('name', 'elsewhere'))
        .then((r) => toRef(child(r, 'returnval'))),
      findByInventoryPath(c, 'DC0/host/DC0_C0/Resources'),
    ]);
    await runTask(
      c,
      'CloneVM_Task',
      ref('_this', tpl!) +
        ref('folder', dest!) +
        text('name', 'stray-01') +
        `<spec><location>${ref('pool', pool!)}</location><template>false</template><powerOn>false</powerOn></spec>`,
      { timeoutMs: 60_000, what: 'stray clone' },
    );
  } finally {
    await c.logout();
  }
  writeFileSync(
    join(repo, 'systems', 'stray-01.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: stray-01 }\nspec: { profile: legacy, disks: [{ sizeGiB: 1 }] }\n',
  );
  const p = await cli('plan');
  expect(p.out).toMatch(
    /\+ vm create vm-\d+: declared in the manifest; vm "vm-\d+" \(in folder DC0\/vm\/elsewhere, outside DC0\/vm\/shipshape\) already has this name/,
  );
  expect(p.out).toMatch(
    /BLOCKED: vm "vm-\d+" \(in folder DC0\/vm\/elsewhere, outside DC0\/vm\/shipshape\) already exists without shipshape's marker; creating it again would duplicate it\. Adopt it \(`shipshape adopt stray-01`: it differs from the manifest in .*\), rename the system, or remove the existing one/,
  );
  const j = JSON.parse((await cli('plan', '--format', 'json')).out);
  expect(j.actions.find((a: any) => a.system === 'stray-01' && a.kind === 'vm')).toMatchObject({
    action: 'create',
    blockedCode: 'collides',
  });
  const a = await cli('apply', '--state-dir', state);
  expect(a.code).toBe(3); // blocked, nothing failed: a reviewer must act
  expect(a.out).toMatch(/blocked {2}stray-01: vm: vm "vm-\d+" \(in folder DC0\/vm\/elsewhere/);
  expect(a.out).toContain('Applied: 0 created');
  expect((await vms()).filter((v) => v.name === 'stray-01')).toHaveLength(1);
  expect((await servers()).filter((o) => o.title === 'stray-01')).toHaveLength(0); // no address, no object either
  expect(await legacyVms()).toHaveLength(COUNT + 1);
}, 120_000);
