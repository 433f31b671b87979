/**
 * The vSphere provider against vcsim, plain and vCenter-like: create/converge, idempotent create,
 * updates, refused changes, ownership-guarded delete, clear errors, constant observe round trips,
 * Logout on close. vcsim differences that shape these tests: CloneVM_Task ignores
 * numCPUs/memoryMB/annotation (so create must converge by reconfiguring), plain vcsim accepts
 * duplicate VM names (so the provider guards names itself), ShutdownGuest powers off at once.
 * The vCenter-like mode adds tasks that take time, paging, DuplicateName and vCenter's texts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ObservedResource } from '../../src/engine/contract';
import type { SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import type { VmFields, VmHandle } from '../../src/providers/vsphere/fields';
import { findByInventoryPath, retrieveObjects, retrieveView, runTask } from '../../src/providers/vsphere/inventory';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { VimClient } from '../../src/providers/vsphere/client';
import { inManualRange } from '../../src/manifest/mac';
import { InvalidLoginError } from '../../src/providers/vsphere/soap/faults';
import { ref } from '../../src/providers/vsphere/soap/xml';
import { CONTAINER_TYPES } from '../../src/providers/vsphere/where';
import { PLACED_TYPES } from '../../src/providers/vsphere/placement';
import { NETWORK_VIEW } from '../../src/providers/vsphere/networks';
import {
  adminClient,
  cloneUnmarked,
  ctxFor,
  makeTemplates,
  secret,
  siteFor,
  systemNamed,
  vmsOf,
} from '../helpers/vsphere-site';
import { SIM_MODES, startVcsim, type Vcsim } from '../helpers/vcsim';

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  let site: SiteConfig;
  let root: string;
  const providers: VsphereProvider[] = [];
  const newProvider = (): VsphereProvider => {
    const p = new VsphereProvider({ config: vmsOf(site), secret, guestShutdownTimeoutMs: 5000 });
    providers.push(p);
    return p;
  };

  beforeAll(async () => {
    sim = await startVcsim({ mode });
    await makeTemplates(sim, ['tpl-debian12', 'tpl-rocky9']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vs-repo-'));
    site = siteFor(sim, root);
  }, 300_000); // the first run builds the harness (about 30 s on 2 idle cores)
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await sim?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** All VMs (not templates) in the datacenter, by name, from a separate session. */
  async function allVms(): Promise<{ name: string; ref: string; power: string }[]> {
    const c = adminClient(sim);
    const sc = await c.serviceContent();
    const objs = await retrieveView(c, sc.rootFolder, [
      { type: 'VirtualMachine', paths: ['name', 'runtime.powerState', 'config.template'] },
    ]);
    await c.logout();
    return objs
      .filter((o) => o.props.get('config.template')?.text !== 'true')
      .map((o) => ({
        name: o.props.get('name')!.text,
        ref: o.obj.value,
        power: o.props.get('runtime.powerState')!.text,
      }));
  }

  async function observeOne(p: VsphereProvider, name: string): Promise<ObservedResource<VmFields, VmHandle>> {
    const obs = await p.observe(ctxFor(site));
    const found = obs.resources.filter((r) => r.system === name);
    expect(found).toHaveLength(1);
    return found[0]!;
  }

  async function createSystem(sys: DesiredSystem, p = newProvider()): Promise<ObservedResource<VmFields, VmHandle>> {
    return p.create(
      sys,
      p.desired(sys, { ip: '198.51.100.9', mac: sys.network.mac })!,
      { ip: '198.51.100.9', mac: sys.network.mac },
      ctxFor(site, 'abc123'),
    );
  }

  test('create clones from the template and converges CPU, memory, disk, MAC, port group and power (vcsim drops them from the clone spec)', async () => {
    const sys = systemNamed('web-01', { cpu: 2, memoryMiB: 2048, disks: [{ sizeGiB: 10 }] });
    const created = await createSystem(sys);
    expect(created.owned).toBe(true);
    const p = newProvider();
    const seen = await observeOne(p, 'web-01');
    expect(seen.fields).toEqual(p.desired(sys, { ip: '', mac: '' }));
    expect(p.diff(sys, p.desired(sys, { ip: '', mac: '' })!, seen)).toEqual([]);
  });

  test('create attaches the installer ISO the installation step resolved before powering on', async () => {
    const sys = systemNamed('iso-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:10' } });
    const p = newProvider();
    const resolved = { ip: '', mac: sys.network.mac, installIso: '[LocalDS_0] iso/debian12-netinst.iso' };
    const r = await p.create(sys, p.desired(sys, resolved)!, resolved, ctxFor(site));
    expect(r.handle).toMatchObject({ cdromIso: '[LocalDS_0] iso/debian12-netinst.iso' });
    expect(r.fields.power).toBe('poweredOn');
  });

  test('a new clone is read once before its first reconfigure (the placement check and converge share the read)', async () => {
    const sys = systemNamed('read-01', {
      cpu: 2,
      memoryMiB: 2048,
      network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:11' },
    });
    const calls: { method: string; body: string }[] = [];
    const original = VimClient.prototype.call;
    const spy = jest.spyOn(VimClient.prototype, 'call').mockImplementation(function (
      this: VimClient,
      method,
      inner,
      o,
    ) {
      calls.push({ method, body: inner });
      return original.call(this, method, inner, o);
    });
    try {
      const created = await createSystem(sys);
      const vm = created.handle!.ref.value;
      const names = (c: { body: string }) => c.body.includes(`>${vm}</obj>`);
      const firstReconfig = calls.findIndex((c) => c.method === 'ReconfigVM_Task' && c.body.includes(`>${vm}</_this>`));
      expect(firstReconfig).toBeGreaterThan(0); // vcsim drops CPU and memory from the clone spec: converge reconfigures
      const reads = calls.slice(0, firstReconfig).filter((c) => c.method === 'RetrievePropertiesEx' && names(c));
      expect(reads).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
  });

  test('create twice (a re-run, then the same run again) leaves one VM', async () => {
    const sys = systemNamed('web-02', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:04' } });
    await createSystem(sys);
    await createSystem(sys); // fresh provider: finds it by marker without observe
    const p = newProvider();
    await p.observe(ctxFor(site));
    await createSystem(sys, p); // same run after observe
    expect((await allVms()).filter((v) => v.name === 'web-02')).toHaveLength(1);
  });

  test('CPU and memory on a running VM: refused under powerPolicy never, done with a power cycle under allow-poweroff', async () => {
    const sys = systemNamed('app-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:05' } });
    await createSystem(sys);
    const bigger = { ...sys, cpu: 4, memoryMiB: 4096 };
    const p = newProvider();
    const seen = await observeOne(p, 'app-01');
    const want = p.desired(bigger, { ip: '', mac: '' })!;
    const changes = p.diff(bigger, want, seen);
    expect(changes.filter((c) => c.needsPowerOff).map((c) => c.path)).toEqual(['cpu', 'memoryMiB']);
    await expect(p.update(bigger, want, seen, changes, { ip: '', mac: '' }, ctxFor(site))).rejects.toThrow(
      /lifecycle\.powerPolicy: allow-poweroff/,
    );
    expect((await observeOne(p, 'app-01')).fields.cpu).toBe(2);

    const allowed = { ...bigger, lifecycle: { ...bigger.lifecycle, powerPolicy: 'allow-poweroff' as const } };
    const after = await p.update(allowed, want, seen, changes, { ip: '', mac: '' }, ctxFor(site));
    expect(after.fields).toMatchObject({ cpu: 4, memoryMiB: 4096, power: 'poweredOn' });
  });

  test('disks grow and get added online; shrinking is refused and changes nothing', async () => {
    const sys = systemNamed('db-01', {
      network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:06' },
      disks: [{ sizeGiB: 10 }],
    });
    await createSystem(sys);
    const grown = { ...sys, disks: [{ sizeGiB: 20 }, { sizeGiB: 5 }] };
    const p = newProvider();
    let seen = await observeOne(p, 'db-01');
    let want = p.desired(grown, { ip: '', mac: '' })!;
    const after = await p.update(grown, want, seen, p.diff(grown, want, seen), { ip: '', mac: '' }, ctxFor(site));
    expect(after.fields.disks).toEqual([
      { sizeGiB: 20, datastore: 'LocalDS_0' },
      { sizeGiB: 5, datastore: 'LocalDS_0' },
    ]);
    expect(after.fields.power).toBe('poweredOn');

    const shrunk = { ...sys, disks: [{ sizeGiB: 15 }, { sizeGiB: 5 }] };
    seen = await observeOne(p, 'db-01');
    want = p.desired(shrunk, { ip: '', mac: '' })!;
    const changes = p.diff(shrunk, want, seen);
    expect(changes).toEqual([
      expect.objectContaining({
        path: 'disks[0].sizeGiB',
        from: 20,
        to: 15,
        refused: expect.stringMatching(/cannot shrink/),
      }),
    ]);
    await expect(p.update(shrunk, want, seen, changes, { ip: '', mac: '' }, ctxFor(site))).rejects.toThrow(
      /cannot shrink to 15 GiB/,
    );
    expect((await observeOne(p, 'db-01')).fields.disks[0]!.sizeGiB).toBe(20);
  });

  test('port group and annotation change on the running VM; a new MAC needs power-off and gets it only under allow-poweroff', async () => {
    const sys = systemNamed('net-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:07' } });
    await createSystem(sys);
    const moved = {
      ...sys,
      file: 'systems/moved/net-01.yaml',
      network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:07', portgroup: 'VM Network' },
    };
    const p = newProvider();
    let seen = await observeOne(p, 'net-01');
    let want = p.desired(moved, { ip: '', mac: '' })!;
    const changes = p.diff(moved, want, seen);
    expect(changes.map((c) => c.path).sort()).toEqual(['annotation', 'portgroup']);
    expect(changes.some((c) => c.needsPowerOff)).toBe(false);
    let after = await p.update(moved, want, seen, changes, { ip: '', mac: '' }, ctxFor(site));
    expect(after.fields).toMatchObject({ portgroup: 'VM Network', annotation: want.annotation, power: 'poweredOn' });

    const newMac = { ...moved, network: { ...moved.network, mac: '00:50:56:01:02:08' } };
    seen = await observeOne(p, 'net-01');
    want = p.desired(newMac, { ip: '', mac: '' })!;
    const macChange = p.diff(newMac, want, seen);
    expect(macChange).toEqual([
      expect.objectContaining({ path: 'mac', from: '00:50:56:01:02:07', to: '00:50:56:01:02:08', needsPowerOff: true }),
    ]);
    await expect(p.update(newMac, want, seen, macChange, { ip: '', mac: '' }, ctxFor(site))).rejects.toThrow(
      /changing mac 00:50:56:01:02:07→00:50:56:01:02:08 needs the VM powered off/,
    );
    const allowed = { ...newMac, lifecycle: { ...newMac.lifecycle, powerPolicy: 'allow-poweroff' as const } };
    const said: string[] = [];
    const ctx = {
      ...ctxFor(site),
      progress: (system: string, kind: string, m: string) => said.push(`${system} ${kind} ${m}`),
    };
    after = await p.update(allowed, want, seen, macChange, { ip: '', mac: '' }, ctx);
    expect(after.fields).toMatchObject({ mac: '00:50:56:01:02:08', power: 'poweredOn' });
    // The apply's progress says when the VM goes off and comes back, not only "reconfigure".
    const power = said.filter((l) => /powering/.test(l));
    expect(power).toEqual(['net-01 vm powering off for mac (powerPolicy allow-poweroff)', 'net-01 vm powering on']);
  });

  test("a MAC outside VMware's manual range: a VM that has it keeps it; one shipshape would make or give it is refused", async () => {
    const auto = '00:50:56:9a:01:02'; // vCenter assigns 00:50:56:80:00:00-00:50:56:bf:ff:ff itself
    const p = newProvider();
    const fresh = systemNamed('auto-01', { network: { net: 'dev-net', ip: 'auto', mac: auto } });
    const want = p.desired(fresh, { ip: '', mac: '' })!;
    expect(p.foreseeCreate(fresh, want)).toEqual([
      expect.objectContaining({
        path: 'mac',
        refusal: 'mac-range',
        refused: expect.stringMatching(/outside VMware's manual range/),
      }),
    ]);
    await expect(createSystem(fresh, p)).rejects.toMatchObject({ refusal: 'mac-range' });
    expect((await allVms()).some((v) => v.name === 'auto-01')).toBe(false);
    const sys = systemNamed('auto-02', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:0a' } });
    const seen = await createSystem(sys);
    // A VM someone else made keeps the MAC vSphere generated for it (outside the manual range): a manifest
    // naming that MAC (what `shipshape import` writes) plans no MAC change.
    const generated = { ...seen, fields: { ...seen.fields, mac: '00:0c:29:33:34:38' } };
    const imported = { ...sys, network: { ...sys.network, mac: '00:0c:29:33:34:38' } };
    expect(inManualRange(generated.fields.mac)).toBe(false);
    expect(p.diff(imported, p.desired(imported, { ip: '', mac: '' })!, generated).map((c) => c.path)).not.toContain(
      'mac',
    );
    const moved = { ...sys, network: { ...sys.network, mac: auto } };
    expect(p.diff(moved, p.desired(moved, { ip: '', mac: '' })!, seen)).toEqual([
      expect.objectContaining({ path: 'mac', to: auto, refusal: 'mac-range' }),
    ]);
  });

  test('delete destroys only VMs carrying our marker; an unmarked VM is reported and left alone', async () => {
    const sys = systemNamed('old-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:09' } });
    await createSystem(sys);
    const stranger = await cloneUnmarked(sim, 'hand-made-01');
    const p = newProvider();
    const obs = await p.observe(ctxFor(site));
    const foreign = obs.resources.find((r) => r.id === stranger)!;
    expect(foreign).toMatchObject({ system: 'hand-made-01', owned: false });
    const gone = { ...sys, state: 'absent' as const };
    await expect(p.delete({ ...gone, name: 'hand-made-01' }, foreign, ctxFor(site))).rejects.toThrow(
      /refusing to delete VM hand-made-01/,
    );
    await p.delete(
      gone,
      obs.resources.find((r) => r.system === 'old-01')!,
      ctxFor(site),
    );
    const names = (await allVms()).map((v) => v.name);
    expect(names).toContain('hand-made-01');
    expect(names).not.toContain('old-01');
    // The model's own VMs outside our folder were never in scope.
    expect(names).toContain('DC0_C0_RP0_VM2');
  });

  test('a replace (delete, then create in the same run) makes a new VM instead of reusing the destroyed one', async () => {
    const sys = systemNamed('repl-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:11' } });
    const first = await createSystem(sys);
    const p = newProvider();
    const seen = await observeOne(p, 'repl-01');
    expect(seen.id).toBe(first.id);
    const rocky = { ...sys, os: 'rocky9' };
    const want = p.desired(rocky, { ip: '', mac: sys.network.mac })!;
    expect(p.diff(rocky, want, seen)).toContainEqual(expect.objectContaining({ path: 'os', forcesReplace: true }));
    await p.delete(sys, seen, ctxFor(site));
    const second = await p.create(rocky, want, { ip: '', mac: sys.network.mac }, ctxFor(site));
    expect(second.id).not.toBe(first.id);
    expect(second.fields.os).toBe('rocky9');
    expect((await allVms()).filter((v) => v.name === 'repl-01')).toHaveLength(1);
  });

  test('a replace of a kept VM (poweroff-keep) renames the old VM <name>-retired-<date>, unclaims it, and creates the new one', async () => {
    const keep = {
      protect: false,
      vmOnDelete: 'poweroff-keep' as const,
      cmdbOnDelete: 'archive' as const,
      powerPolicy: 'never' as const,
    };
    const sys = systemNamed('repl-02', {
      lifecycle: keep,
      network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:12' },
    });
    const first = await createSystem(sys);
    const p = newProvider();
    await p.delete(sys, await observeOne(p, 'repl-02'), ctxFor(site));
    const second = await createSystem({ ...sys, os: 'rocky9' }, p);
    expect(second.id).not.toBe(first.id);
    const retired = `repl-02-retired-${new Date().toISOString().slice(0, 10)}`;
    expect((await allVms()).filter((v) => v.name.startsWith('repl-02'))).toEqual(
      expect.arrayContaining([
        { name: retired, ref: first.id, power: 'poweredOff' },
        { name: 'repl-02', ref: second.id, power: 'poweredOn' },
      ]),
    );
    const obs = await newProvider().observe(ctxFor(site));
    expect(obs.resources.find((r) => r.id === first.id)).toMatchObject({ system: retired, owned: false });
    expect(obs.resources.filter((r) => r.system === 'repl-02')).toEqual([
      expect.objectContaining({ id: second.id, owned: true, fields: expect.objectContaining({ os: 'rocky9' }) }),
    ]);
  });

  test('a VM deleted by hand after observe is cloned anew by create in the same run', async () => {
    const sys = systemNamed('gone-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:13' } });
    const first = await createSystem(sys);
    const p = newProvider();
    await p.observe(ctxFor(site));
    const c = adminClient(sim);
    await runTask(c, 'PowerOffVM_Task', ref('_this', { type: 'VirtualMachine', value: first.id }), {
      timeoutMs: 30_000,
      what: 'test',
    });
    await runTask(c, 'Destroy_Task', ref('_this', { type: 'VirtualMachine', value: first.id }), {
      timeoutMs: 30_000,
      what: 'test',
    });
    await c.logout();
    const again = await createSystem(sys, p);
    expect(again.id).not.toBe(first.id);
    expect((await allVms()).filter((v) => v.name === 'gone-01')).toHaveLength(1);
  });

  test('lifecycle poweroff-keep powers the VM off and keeps it', async () => {
    const sys = systemNamed('keep-01', {
      network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:0a' },
      lifecycle: { protect: false, vmOnDelete: 'poweroff-keep', cmdbOnDelete: 'archive', powerPolicy: 'never' },
    });
    await createSystem(sys);
    const p = newProvider();
    const kept = await observeOne(p, 'keep-01');
    await p.delete({ ...sys, state: 'absent' }, kept, ctxFor(site));
    expect((await allVms()).find((v) => v.ref === kept.id)).toEqual({
      name: `keep-01-retired-${new Date().toISOString().slice(0, 10)}`,
      ref: kept.id,
      power: 'poweredOff',
    });
    expect((await p.observe(ctxFor(site))).resources.filter((r) => r.system === 'keep-01')).toEqual([]); // nothing left to delete next run
  });

  // vcsim accepts duplicate VM names; vCenter would refuse them in the same folder.
  test('a VM with the same name but without our marker stops the create with a clear error', async () => {
    await cloneUnmarked(sim, 'dup-01');
    const sys = systemNamed('dup-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:0b' } });
    await expect(createSystem(sys)).rejects.toThrow(
      /a VM named dup-01 already exists in DC0\/vm\/shipshape .* without shipshape's marker/,
    );
    expect((await allVms()).filter((v) => v.name === 'dup-01')).toHaveLength(1);
  });

  test('a template missing in vCenter names the setting to fix', async () => {
    const sys = systemNamed('tpl-01', {
      os: 'missing',
      network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:0c' },
    });
    // Apply refuses on its own (the template may be gone since the plan), as the plan foresees it.
    await expect(createSystem(sys)).rejects.toMatchObject({
      refusal: 'template-missing',
      outcome: 'refused',
      message:
        'vSphere template "DC0/vm/tpl-does-not-exist" not found (vms.templates.missing): make or import that template in vCenter, or set vms.templates.missing to the path below DC0/vm of one that exists',
    });
  });

  test('a cluster, datastore or port group missing in vCenter: apply refuses the create itself, naming the key that sets it', async () => {
    const mac = '00:50:56:01:02:1c';
    const cases: [Partial<DesiredSystem>, string, string][] = [
      [
        {
          placement: { cluster: 'DC0_C9' },
          sources: { 'placement.cluster': { file: 'systems/pl-01.yaml', line: 9, col: 16 } },
        },
        'placement-missing',
        'vSphere cluster "DC0/host/DC0_C9" not found (placement.cluster, set at systems/pl-01.yaml:9:16): fix the name, or make the cluster in vCenter',
      ],
      [
        { disks: [{ sizeGiB: 10, datastore: 'NoSuchDS' }] },
        'placement-missing',
        'vSphere datastore "DC0/datastore/NoSuchDS" not found (disks[0].datastore): fix the name, or make the datastore in vCenter',
      ],
      // A port group is looked up as networks.ts reads them (paths, bare names): one refusal for a missing or ambiguous one.
      [
        {
          network: { net: 'dev-net', ip: 'auto', mac, portgroup: 'no-such-pg' },
          sources: { 'network.portgroup': { file: 'systems/pl-01.yaml', line: 7, col: 52 } },
        },
        'portgroup-name',
        'vSphere port group "no-such-pg" not found in datacenter DC0: check network.portgroup at systems/pl-01.yaml:7:52; write a port group\'s name, or its path below the datacenter\'s network folder (Prod/VLAN-100), with a "/" inside a name as %2f',
      ],
    ];
    for (const [over, refusal, message] of cases) {
      const sys = systemNamed('pl-01', { network: { net: 'dev-net', ip: 'auto', mac }, ...over });
      await expect(createSystem(sys)).rejects.toMatchObject({ refusal, outcome: 'refused', message });
      // The plan says the same from its observation.
      const p = newProvider();
      await p.observe(ctxFor(site));
      expect(p.foreseeCreate(sys, p.desired(sys, { ip: '', mac })!)).toEqual([
        expect.objectContaining({ refusal, refused: message }),
      ]);
    }
    expect((await allVms()).filter((v) => v.name === 'pl-01')).toEqual([]);
  });

  test('an invalid login fails observe with a typed InvalidLogin error', async () => {
    const p = new VsphereProvider({
      config: vmsOf(site),
      secret: async (r) => (r.ref.includes('PASSWORD') ? '' : 'admin'),
    }); // vcsim: only an empty password is invalid
    providers.push(p);
    const err = await p.observe(ctxFor(site)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidLoginError);
  });

  test('observe costs the same round trips for 1 owned VM as for many', async () => {
    const p = newProvider();
    const first = await p.observe(ctxFor(site));
    await createSystem(systemNamed('rt-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:0d' } }));
    await createSystem(systemNamed('rt-02', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:0e' } }));
    const second = await p.observe(ctxFor(site));
    expect(second.resources.filter((r) => r.owned).length).toBeGreaterThan(
      first.resources.filter((r) => r.owned).length,
    );
    expect(second.roundTrips).toBe(first.roundTrips - 3); // the first observe also paid vimServiceVersions.xml, RetrieveServiceContent and Login
  });

  test('device reads page like the light read: only by page size, never per VM', async () => {
    const one = new VsphereProvider({ config: vmsOf(site), secret, pageSize: 1000 });
    const two = new VsphereProvider({ config: vmsOf(site), secret, pageSize: 2 });
    providers.push(one, two);
    const a = await one.observe(ctxFor(site));
    const b = await two.observe(ctxFor(site));
    const owned = a.resources.filter((r) => r.owned).length;
    expect(owned).toBeGreaterThan(4);
    expect(b.resources.map((r) => r.fields)).toEqual(a.resources.map((r) => r.fields));
    // vcsim never pages the light read; vCenter (and the vCenter-like mode) pages it at maxObjects too. The
    // light read covers the datacenter: every VM and template, and its folders, clusters, pools and hosts
    // (for folder paths and placement names), its datastores (the plan foresees a missing one), and its
    // networks and switches (port group paths; the plan foresees one that names none or several).
    const c = adminClient(sim);
    const root = (await findByInventoryPath(c, 'DC0'))!;
    const objects = (
      await retrieveView(c, root, [
        { type: 'VirtualMachine', paths: ['name'] },
        ...CONTAINER_TYPES.filter((t) => t !== 'Datacenter').map((type) => ({ type, paths: ['name'] })),
        ...PLACED_TYPES.map((type) => ({ type, paths: ['name'] })),
        ...NETWORK_VIEW.map(({ type }) => ({ type, paths: ['name'] })),
      ])
    ).length;
    await c.logout();
    const lightPages = sim.mode === 'vcenter-like' ? Math.ceil(objects / 2) - 1 : 0;
    expect(b.roundTrips - a.roundTrips).toBe(Math.ceil(owned / 2) - 1 + lightPages);
  });

  test('a session lost mid-run is re-established and the create still lands', async () => {
    const p = newProvider();
    await p.observe(ctxFor(site));
    (p as unknown as { vs: { client: { dropSessionForTest(): void } } }).vs.client.dropSessionForTest();
    const sys = systemNamed('relogin-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:0f' } });
    const r = await createSystem(sys, p);
    expect(r.fields.power).toBe('poweredOn');
  });

  test("close() logs the run's session out on the server", async () => {
    const watcher = adminClient(sim);
    const sessions = async (): Promise<number> => {
      const sc = await watcher.serviceContent();
      const [sm] = await retrieveObjects(
        watcher,
        [sc.sessionManager],
        [{ type: 'SessionManager', paths: ['sessionList'] }],
      );
      return sm?.props.get('sessionList')?.children.length ?? 0;
    };
    const before = await sessions();
    const p = new VsphereProvider({ config: vmsOf(site), secret });
    await p.observe(ctxFor(site));
    expect(await sessions()).toBe(before + 1);
    await p.close();
    expect(await sessions()).toBe(before);
    await watcher.logout();
  });
});
