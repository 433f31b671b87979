/**
 * Moving an existing estate to shipshape, end to end through the CLI against vcsim and the i-doit
 * emulator, a real named (zones edited over a real sshd), dhcpd's config (checked with `dhcpd -t`)
 * and a real Kea. A "legacy world" is built the way an old script pipeline would: 20 VMs cloned from
 * the templates into two folders (12 outside the managed folder), sized by hand, powered on, each with
 * a MAC of its own; an i-doit object per VM without any shipshape marker, with its host address; an A
 * and a PTR record per system written by hand into the zone files; a host declaration per system in
 * dhcpd.conf and a reservation per system in Kea's config. Then: `import` writes 20 manifests that
 * validate; `plan --adopt` shows no create and an adoption per VM, address, record pair and
 * reservation with an empty diff; `adopt` takes them; the next apply has no changes; named answers
 * the same A and PTR, each DHCP config holds exactly one reservation per system, and the operator's
 * other lines are untouched; a CPU change updates that VM in place; nothing was duplicated or lost.
 * Last, a manifest whose name an unmanaged VM outside the folder already has plans a blocked create,
 * and apply creates nothing; a reservation another host holds is blocked in the plan.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { VimClient } from '../../src/providers/vsphere/client';
import { findByInventoryPath, retrieveObjects, retrieveView, runTask } from '../../src/providers/vsphere/inventory';
import { reconfigSpec } from '../../src/providers/vsphere/specs';
import { lastPerKey, parseVm } from '../../src/providers/vsphere/vm';
import { child, ref, text, toRef } from '../../src/providers/vsphere/soap/xml';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startKea, type TestKea } from '../helpers/kea';
import { startNamed, type TestNamed } from '../helpers/named';
import { startSshd, type TestSshd } from '../helpers/sshd';
import { startVcsim, type Vcsim } from '../helpers/vcsim';
import { makeTemplates, PASSWORD, USER, vmsSectionYaml } from '../helpers/vsphere-site';

const LAB = join(__dirname, '..', '..', 'examples', 'lab');
const COUNT = 20;
const OUTSIDE = 12; // in folder `legacy`, outside the managed folder `shipshape`
const names = Array.from({ length: COUNT }, (_, i) => `app-${String(i + 1).padStart(2, '0')}`);
const addressOf = (name: string) => `198.51.100.${100 + Number(name.slice(4))}`;
const macOf = (name: string) => `00:50:56:3f:00:${Number(name.slice(4)).toString(16).padStart(2, '0')}`;
const ZONE = 'dev.example.com';
const REVERSE = '100.51.198.in-addr.arpa';
/** The operator's own lines no system is about: they must come through adoption byte for byte. */
const THEIRS = {
  forward: 'gw IN A 198.51.100.1\nprinter IN A 198.51.100.50\n',
  reverse: '50 IN PTR printer.dev.example.com.\n',
  host: 'host printer {\n  hardware ethernet 00:50:56:3f:01:50;\n  fixed-address 198.51.100.50;\n}\n',
};

/** Hand CNAMEs of two systems (a relative target, and a fully qualified one): import writes them as dns.aliases. */
const HAND_CNAMES = `shop IN CNAME app-03\nwww-05 IN CNAME app-05.${ZONE}.\nstatic-05 IN CNAME app-05\n`;

let work: string;
let repo: string;
let state: string;
let sim: Vcsim;
let emu: IdoitEmulator;
let sshd: TestSshd;
let named: TestNamed;
let kea: TestKea;
const frag = (z: string) => join(sshd.dir, `${z}.shipshape`);
const dhcpdConf = () => join(sshd.dir, 'dhcpd.conf');
const dhcpdInclude = () => join(sshd.dir, 'shipshape-hosts.conf');

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
  const mac = macOf(name);
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
${vmsSectionYaml(sim, 'SHIPSHAPE', { templates: { debian12: 'tpl-debian12', rocky9: 'tpl-rocky9' }, taskTimeoutSeconds: 120 })}
  ipam:
    backend: idoit
    url: ${emu.endpoint}
    apiKey: \${env:SHIPSHAPE_IDOIT_KEY}
  cmdb:
    backend: idoit
    url: ${emu.endpoint}
    apiKey: \${env:SHIPSHAPE_IDOIT_KEY}
  nets:
    dev-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: ${ZONE}, reverseZone: ${REVERSE} }
  secrets: { folders: [${sshd.dir}] }
  dns:
    zones:
${[ZONE, REVERSE]
  .map(
    (z) => `      - name: ${z}
        backend: bind-ssh
        server: { host: 127.0.0.1, port: ${named.port} }
        ssh: *ssh
        fragmentPath: ${frag(z)}
        zoneFile: ${named.zoneFile(z)}
        reloadCommand: ${named.rndc} reload {zone}`,
  )
  .join('\n')
  .replace(
    'ssh: *ssh',
    `ssh: &ssh { host: 127.0.0.1, port: ${sshd.port}, user: root, privateKey: "\${file:${sshd.clientKeyPath}}", hostKeyFingerprint: "${sshd.hostFingerprint}" }`,
  )}
  dhcp:
    servers:
      - { name: dhcp-isc, backend: isc, nets: [dev-net], ssh: *ssh, includePath: ${dhcpdInclude()}, configPath: ${dhcpdConf()}, restartCommand: ${join(sshd.dir, 'restart-dhcpd')} }
      - { name: dhcp-kea, backend: kea, nets: [dev-net], ssh: *ssh, controlSocket: ${kea.socket}, configPath: ${kea.configPath} }
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
  sshd = await startSshd();
  // The old pipeline's DNS: an A and a PTR line per system in the zone files, beside the operator's own.
  named = await startNamed([
    {
      name: ZONE,
      records: THEIRS.forward + names.map((n) => `${n} IN A ${addressOf(n)}\n`).join('') + HAND_CNAMES,
      include: frag(ZONE),
    },
    {
      name: REVERSE,
      records: THEIRS.reverse + names.map((n) => `${addressOf(n).split('.')[3]} IN PTR ${n}.${ZONE}.\n`).join(''),
      include: frag(REVERSE),
    },
  ]);
  // Its DHCP: a host per system in dhcpd.conf, and the same reservations in Kea (moving from one to the other).
  kea = await startKea(
    [
      ...names.map((n) => ({ 'hw-address': macOf(n), 'ip-address': addressOf(n), hostname: n })),
      { 'hw-address': '00:50:56:3f:01:50', 'ip-address': '198.51.100.50', hostname: 'printer' },
    ],
    '198.51.100.0/24',
    '198.51.100.200 - 198.51.100.250',
  );
  writeFileSync(
    dhcpdConf(),
    'ddns-update-style none;\nsubnet 198.51.100.0 netmask 255.255.255.0 { range 198.51.100.200 198.51.100.250; }\n' +
      THEIRS.host +
      names
        .map(
          (n) =>
            `host ${n} {\n  hardware ethernet ${macOf(n)};\n  fixed-address ${addressOf(n)};\n  option host-name "${n}";\n}\n`,
        )
        .join('') +
      `include "${dhcpdInclude()}";\n`,
  );
  writeFileSync(dhcpdInclude(), '# empty until shipshape deploys\n');
  writeFileSync(
    join(sshd.dir, 'restart-dhcpd'),
    `#!/bin/sh\nexec /usr/sbin/dhcpd -t -cf ${dhcpdConf()} -lf /dev/null -pf /dev/null\n`,
  );
  chmodSync(join(sshd.dir, 'restart-dhcpd'), 0o755);
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
  await Promise.all([sim?.stop(), emu?.close(), kea?.stop(), named?.stop(), sshd?.stop()]);
  for (const d of [work, kea?.dir, named?.dir, sshd?.dir]) if (d) removeDir(d);
}, 60_000);

/** What the DNS server answers for each system: its A record and the PTR of its address. */
async function answers(): Promise<[string, string[], string[]][]> {
  const q = named.resolver();
  return Promise.all(
    names.map(
      async (n) => [n, await q.resolve4(`${n}.${ZONE}`), await q.reverse(addressOf(n))] as [string, string[], string[]],
    ),
  );
}
/** The reservations each DHCP server holds, as `name mac ip`, sorted (dhcpd: both files; Kea: the running config). */
async function reservations(): Promise<{ isc: string[]; kea: string[] }> {
  const hosts = (text: string) =>
    [
      ...text
        .replace(/#[^\n]*/g, '')
        .matchAll(/host\s+(\S+)\s*\{[^}]*hardware ethernet ([^;]+);[^}]*fixed-address ([^;]+);/g),
    ].map((m) => `${m[1]!.replace(/^shipshape-/, '')} ${m[2]} ${m[3]}`);
  const config = (await kea.command('config-get')).arguments.Dhcp4;
  return {
    isc: [...hosts(readFileSync(dhcpdConf(), 'utf8')), ...hosts(readFileSync(dhcpdInclude(), 'utf8'))].sort(),
    kea: (config.subnet4[0].reservations as any[])
      .map((r) => `${r.hostname} ${r['hw-address']} ${r['ip-address']}`)
      .sort(),
  };
}
const legacyReservations = [
  ...names.map((n) => `${n} ${macOf(n)} ${addressOf(n)}`),
  'printer 00:50:56:3f:01:50 198.51.100.50',
].sort();

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
  const second = await cli('import', '--name-regex', '^app-1', '--state-dir', state);
  ok(second);
  expect(second.out).toMatch(/Imported 7 system\(s\)/); // app-13 … app-19: app-10 … app-12 are in `legacy`
  expect(second.err).toMatch(/skipped app-10: a manifest already declares it/);
  const none = await cli('import', '--folder', 'legcay', '--state-dir', state);
  ok(none);
  expect(none.err).toBe(
    "nothing to import: no VM without shipshape's marker lies in folder legcay (below the datacenter's VM folder)\n",
  );
  expect(none.out).toMatch(/Imported 0 system\(s\)/);
  // By net: the VMs whose address (here from i-doit) lies in dev-net; only app-20 is left.
  const bad = await cli('import', '--net', 'nope', '--state-dir', state);
  expect([bad.code, bad.err]).toEqual([
    expect.any(Number),
    expect.stringContaining('--net nope: shipshape.yaml declares no such net'),
  ]);
  expect(bad.code).not.toBe(0);
  const third = await cli('import', '--net', 'dev-net', '--state-dir', state);
  ok(third);
  expect(third.out).toMatch(/wrote \S*systems\/app-20\.yaml\nImported 1 system\(s\)/);
  expect(third.err).toMatch(/skipped app-01: a manifest already declares it/);
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
  // The operator's CNAMEs pointing at the system are its aliases (its domain is its net's: not written).
  expect(text).toMatch(/\n {2}dns:\n {4}aliases:\n {6}- shop\n/);
  expect(readFileSync(join(repo, 'systems', 'app-05.yaml'), 'utf8')).toMatch(
    /\n {2}dns:\n {4}aliases:\n {6}- static-05\n {6}- www-05\n/,
  );
  expect(readFileSync(join(repo, 'systems', 'app-04.yaml'), 'utf8')).not.toContain('dns:');

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
  for (const kind of ['vm', 'ip', 'dns', 'dhcp']) {
    expect(of(kind).map((a: any) => [a.system, a.action, a.changes])).toEqual(names.map((n) => [n, 'adopt', []]));
  }
  // The hand records and reservations show as what they are and where they go.
  expect(of('dns').find((a: any) => a.system === 'app-03').resourceId).toBe(`app-03.${ZONE}`);
  expect(of('dhcp').find((a: any) => a.system === 'app-03').resourceId).toMatch(
    new RegExp(
      `^dhcp-isc: host app-03 in ${dhcpdConf()}:\\d+; dhcp-kea: reservation app-03 in subnet 198\\.51\\.100\\.0/24$`,
    ),
  );
  const dnsBefore = await answers();
  const zoneBefore = readFileSync(named.zoneFile(ZONE), 'utf8');
  // i-doit documented only title and address: the CMDB adoption fills in the rest of the documentation.
  expect(of('cmdb').every((a: any) => a.action === 'adopt' && !a.blocked)).toBe(true);

  const cnames = async () =>
    Promise.all(['shop', 'www-05', 'static-05'].map((n) => named.resolver().resolveCname(`${n}.${ZONE}`)));
  const cnamesBefore = await cnames();
  const a = await cli('adopt', '--state-dir', state);
  expect(a.err).not.toMatch(/failed/i);
  ok(a);
  expect(a.out).toMatch(/Adopted: 100 resources of 20 systems/);

  // DNS: the same answers, now from shipshape's fragments; the hand lines were moved, nothing else changed.
  expect(await answers()).toEqual(dnsBefore);
  expect(await cnames()).toEqual(cnamesBefore);
  expect(cnamesBefore).toEqual([[`app-03.${ZONE}`], [`app-05.${ZONE}`], [`app-05.${ZONE}`]]);
  expect(readFileSync(frag(ZONE), 'utf8')).toContain(`shop.${ZONE}.\t300\tIN\tCNAME\tapp-03.${ZONE}.`);
  for (const [n, a, ptr] of dnsBefore) expect([n, a, ptr]).toEqual([n, [addressOf(n)], [`${n}.${ZONE}`]]);
  const zoneAfter = readFileSync(named.zoneFile(ZONE), 'utf8');
  for (const n of names) {
    expect(zoneAfter).not.toMatch(new RegExp(`^${n} IN A`, 'm'));
    expect(readFileSync(frag(ZONE), 'utf8')).toContain(`${n}.${ZONE}.\t300\tIN\tA\t${addressOf(n)}`);
    expect(readFileSync(frag(REVERSE), 'utf8')).toContain(`\tIN\tPTR\t${n}.${ZONE}.`);
  }
  const kept = (t: string) => t.split('\n').filter((l) => !/app-\d\d|moved to|^@ IN SOA/.test(l));
  expect(kept(zoneAfter)).toEqual(kept(zoneBefore)); // every other line as it was, SOA serial aside
  expect(zoneAfter).toContain(THEIRS.forward);
  expect(readFileSync(named.zoneFile(REVERSE), 'utf8')).toContain(THEIRS.reverse);
  // DHCP: exactly one reservation per system on each server, now shipshape's; the operator's printer untouched.
  expect(await reservations()).toEqual({ isc: legacyReservations, kea: legacyReservations });
  expect(readFileSync(dhcpdConf(), 'utf8')).toContain(THEIRS.host);
  expect(readFileSync(dhcpdInclude(), 'utf8')).toContain('host shipshape-app-03 {');
  const keaRes = (await kea.command('config-get')).arguments.Dhcp4.subnet4[0].reservations as any[];
  expect(
    keaRes
      .filter((r) => r['user-context']?.shipshape)
      .map((r) => r.hostname)
      .sort(),
  ).toEqual(names);
  // The checkers accept what is on disk now.
  const { execFileSync } = await import('node:child_process');
  execFileSync('/usr/sbin/dhcpd', ['-t', '-cf', dhcpdConf(), '-lf', '/dev/null', '-pf', '/dev/null'], {
    stdio: 'pipe',
  });
  execFileSync('/usr/sbin/kea-dhcp4', ['-t', kea.configPath], { stdio: 'pipe' });

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
  // Adopting again finds nothing: idempotent.
  const again = await cli('adopt', '--state-dir', state);
  ok(again);
  expect(again.out).toContain('Nothing to adopt');
}, 300_000);

test("an adoption cut off between writing shipshape's copy and removing the hand one: the next apply finishes it, nothing lost or doubled", async () => {
  // What a crash between the two moves leaves (ours is always written first): the record in
  // shipshape's fragment and still written by hand in the zone file; the host in both dhcpd files.
  const zf = named.zoneFile(ZONE);
  const text = readFileSync(zf, 'utf8');
  const serial = Number(/SOA[^(]*\(\s*(\d+)/.exec(text)![1]);
  writeFileSync(
    zf,
    text
      .replace(String(serial), String(serial + 1))
      .replace('$INCLUDE', () => `app-05 IN A ${addressOf('app-05')}\n$INCLUDE`),
  );
  const [rndc, ...rndcArgs] = named.rndc.split(' ');
  const { execFileSync } = await import('node:child_process');
  execFileSync(rndc!, [...rndcArgs, 'reload', ZONE], { stdio: 'pipe' });
  for (let i = 0; i < 100 && (await named.serial(ZONE)) !== serial + 1; i++)
    await new Promise((r) => setTimeout(r, 100));
  const conf = readFileSync(dhcpdConf(), 'utf8');
  writeFileSync(
    dhcpdConf(),
    conf.replace(
      'include "',
      () =>
        `host app-05 {\n  hardware ethernet ${macOf('app-05')};\n  fixed-address ${addressOf('app-05')};\n  option host-name "app-05";\n}\ninclude "`,
    ),
  );

  const j = JSON.parse((await cli('plan', '--format', 'json')).out);
  expect(j.summary).toMatchObject({ create: 0, update: 2, blocked: 0 });
  expect(
    j.actions
      .filter((a: any) => a.action !== 'noop')
      .map((a: any) => [a.system, a.kind, a.changes.map((c: any) => [c.path, c.from, c.to])]),
  ).toEqual([
    ['app-05', 'dns', [['dns.handwritten', [`app-05.${ZONE} A ${addressOf('app-05')}`], []]]],
    ['app-05', 'dhcp', [['dhcp.handwritten', ['dhcp-isc'], []]]],
  ]);
  const a = await cli('apply', '--state-dir', state);
  ok(a);
  expect(readFileSync(zf, 'utf8')).not.toMatch(/^app-05 IN A/m);
  expect(await reservations()).toEqual({ isc: legacyReservations, kea: legacyReservations });
  expect((await answers()).find(([n]) => n === 'app-05')).toEqual([
    'app-05',
    [addressOf('app-05')],
    [`app-05.${ZONE}`],
  ]);
  expect((await cli('plan')).out).toMatch(/Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 100 unchanged/);
}, 120_000);

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
  expect(a.out).toContain('Applied: 0 created, 0 updated, 0 replaced, 0 deleted; 1 system blocked (see above)');
  expect((await vms()).filter((v) => v.name === 'stray-01')).toHaveLength(1);
  expect((await servers()).filter((o) => o.title === 'stray-01')).toHaveLength(0); // no address, no object either
  expect(await legacyVms()).toHaveLength(COUNT + 1);
}, 120_000);

test('a reservation the operator keeps for another host holds the address: the plan blocks that DHCP step', async () => {
  writeFileSync(
    join(repo, 'systems', 'new-01.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: new-01 }\nspec: { profile: legacy, disks: [{ sizeGiB: 1 }], network: { ip: 198.51.100.50 } }\n',
  );
  try {
    const j = JSON.parse((await cli('plan', '--format', 'json', '--system', 'new-01')).out);
    const dhcp = j.actions.find((a: any) => a.system === 'new-01' && a.kind === 'dhcp');
    expect(dhcp).toMatchObject({ action: 'create', refusal: 'reservation-held', blockedCode: 'collides' });
    // Both servers hold the printer's reservation: each says so, with what to do.
    expect(dhcp.blocked).toContain(
      `address 198.51.100.50 is already reserved on dhcp-isc by host printer in ${dhcpdConf()}`,
    );
    expect(dhcp.blocked).toContain('already reserved on dhcp-kea by reservation printer in subnet 198.51.100.0/24');
    expect(dhcp.blocked).toMatch(/remove or change that reservation, or give new-01 another address/);
  } finally {
    removeDir(join(repo, 'systems', 'new-01.yaml'));
  }
}, 120_000);

test('a hand reservation with settings shipshape does not carry is not adopted: the plan says which and what to do', async () => {
  const conf = readFileSync(dhcpdConf(), 'utf8');
  writeFileSync(
    join(repo, 'systems', 'new-02.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: new-02 }\nspec: { profile: legacy, disks: [{ sizeGiB: 1 }], network: { ip: 198.51.100.60 } }\n',
  );
  writeFileSync(
    dhcpdConf(),
    conf.replace(
      'include "',
      () =>
        'host new-02 {\n  hardware ethernet 00:50:56:3f:02:60;\n  fixed-address 198.51.100.60;\n  option routers 198.51.100.254;\n}\ninclude "',
    ),
  );
  try {
    const j = JSON.parse((await cli('plan', '--adopt', '--format', 'json', '--system', 'new-02')).out);
    const dhcp = j.actions.find((a: any) => a.system === 'new-02' && a.kind === 'dhcp');
    expect(dhcp).toMatchObject({ action: 'adopt', refusal: 'hand-line', blockedCode: 'refused' });
    expect(dhcp.blocked).toContain("has `option routers 198.51.100.254;`, which shipshape's reservations do not carry");
    // Without --adopt it is what a create would collide with.
    const plain = JSON.parse((await cli('plan', '--format', 'json', '--system', 'new-02')).out);
    expect(plain.actions.find((a: any) => a.system === 'new-02' && a.kind === 'dhcp')).toMatchObject({
      action: 'create',
      blockedCode: 'collides',
    });
  } finally {
    writeFileSync(dhcpdConf(), conf);
    removeDir(join(repo, 'systems', 'new-02.yaml'));
  }
}, 120_000);
