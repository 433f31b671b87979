import { UNKNOWN, type Observation, type Provider, type ResourceKind } from '../engine/contract';
import { MemoryIpam, MemoryProvider } from '../../test/support/memory-provider';
import { site, system } from '../../test/support/fixtures';
import { Refusal } from '../engine/refusals';
import { plan } from './planner';
import { deletedSystems } from './types';

const vm = () =>
  new MemoryProvider(
    'vm',
    (s) => ({ cpu: s.cpu, memoryMiB: s.memoryMiB, os: s.os, disks: s.disks.map((d) => d.sizeGiB) }),
    {
      os: { forcesReplace: true },
      cpu: { needsPowerOff: true },
      disks: {
        refuse: (from, to) =>
          ((from as number[] | undefined) ?? []).some((f, i) => (to as number[])[i]! < f)
            ? 'disks cannot shrink'
            : undefined,
      },
    },
  );
const dns = () => new MemoryProvider('dns', (s, r) => ({ a: `${s.name}.${s.dns.domain} A ${r.ip}` }));

async function observe(providers: Provider[]): Promise<Map<ResourceKind, Observation>> {
  const m = new Map<ResourceKind, Observation>();
  for (const p of providers) m.set(p.kind, await p.observe({} as never));
  return m;
}

async function planFor(systems = [system('web-01')], providers: Provider[] = [vm()], maxDeletes = 3) {
  return plan({
    systems,
    site,
    providers,
    observations: await observe(providers),
    maxDeletes,
    now: new Date('2026-01-01T00:00:00Z'),
  });
}

describe('planner', () => {
  it('creates what is declared and not found, with the source of each value', async () => {
    const p = await planFor();
    expect(p.actions).toHaveLength(1);
    expect(p.actions[0]).toMatchObject({ system: 'web-01', kind: 'vm', action: 'create' });
    const cpu = p.actions[0]!.changes.find((c) => c.path === 'cpu');
    expect(cpu).toMatchObject({ from: null, to: 2, source: 'systems/web-01.yaml:8:8' });
    expect(p.summary).toMatchObject({ create: 1, update: 0, delete: 0, noop: 0 });
  });

  it('reports noop when the observed resource matches, counting only fields the manifest owns', async () => {
    const p0 = vm();
    // The backend reports more than we own (host placement, guest IP): never a change.
    p0.seed('web-01', { cpu: 2, memoryMiB: 4096, os: 'debian12', disks: [40], host: 'esx-07', guestIp: '10.9.9.9' });
    const p = await planFor([system('web-01')], [p0]);
    expect(p.actions[0]).toMatchObject({ action: 'noop', changes: [] });
    expect(p.summary.noop).toBe(1);
  });

  it('updates changed fields with old and new value, and flags power-off', async () => {
    const p0 = vm();
    p0.seed('web-01', { cpu: 1, memoryMiB: 2048, os: 'debian12', disks: [40] });
    const p = await planFor([system('web-01')], [p0]);
    const a = p.actions[0]!;
    expect(a.action).toBe('update');
    expect(a.needsPowerOff).toBe(true);
    expect(a.changes).toEqual([
      { path: 'cpu', from: 1, to: 2, needsPowerOff: true, source: 'systems/web-01.yaml:8:8' },
      { path: 'memoryMiB', from: 2048, to: 4096, source: 'profiles/web.yaml:7:14' },
    ]);
  });

  it('replaces when a field cannot change in place', async () => {
    const p0 = vm();
    p0.seed('web-01', { cpu: 2, memoryMiB: 4096, os: 'rocky9', disks: [40] });
    const p = await planFor([system('web-01')], [p0]);
    expect(p.actions[0]).toMatchObject({ action: 'replace', reason: 'os cannot change in place' });
  });

  it('blocks a refused change (disk shrink) with the reason', async () => {
    const p0 = vm();
    p0.seed('web-01', { cpu: 2, memoryMiB: 4096, os: 'debian12', disks: [80] });
    const p = await planFor([system('web-01')], [p0]);
    expect(p.actions[0]!.blocked).toMatch(/disks: disks cannot shrink/);
    expect(p.actions[0]!.blockedCode).toBe('refused');
    expect(p.summary.blocked).toBe(1);
  });

  it('deletes only on a tombstone, and only what carries our marker', async () => {
    const p0 = vm();
    p0.seed('old-01', { cpu: 2 }, true, 'vm-1');
    p0.seed('old-01', { cpu: 2 }, false, 'vm-2');
    const p = await planFor([system('old-01', { state: 'absent' })], [p0]);
    expect(p.actions).toEqual([expect.objectContaining({ action: 'delete', resourceId: 'vm-1' })]);
    expect(p.warnings).toEqual([expect.objectContaining({ code: 'not-owned', resourceId: 'vm-2' })]);
  });

  it('says what a delete does: VM destroyed or kept, CMDB object archived or purged', async () => {
    const p0 = vm();
    p0.seed('old-01', { cpu: 2 }, true, 'vm-1');
    const destroy = await planFor([system('old-01', { state: 'absent' })], [p0]);
    expect(destroy.actions[0]!.reason).toBe(
      'declared absent (tombstone): the VM and its disks are DESTROYED (lifecycle.vmOnDelete: destroy)',
    );
    const keep = await planFor(
      [
        system('old-01', {
          state: 'absent',
          lifecycle: { protect: false, vmOnDelete: 'poweroff-keep', cmdbOnDelete: 'purge', powerPolicy: 'never' },
        }),
      ],
      [p0],
    );
    expect(keep.actions[0]!.reason).toMatch(/powered off and KEPT, renamed \(lifecycle\.vmOnDelete: poweroff-keep\)$/);
  });

  it('plans nothing for what a tombstone already retired (an archived CMDB object): deleting converges', async () => {
    const p0 = vm();
    p0.seed('old-01', { cpu: 2 }, true, 'vm-1').retired = true;
    const p = await planFor([system('old-01', { state: 'absent' })], [p0]);
    expect(p.actions).toEqual([]);
    expect(p.warnings).toEqual([]);
  });

  it('never deletes a marked resource that no manifest names: reports it as an orphan', async () => {
    const p0 = vm();
    p0.seed('gone-01', { cpu: 2 }, true, 'vm-9');
    const p = await planFor([system('web-01')], [p0]);
    expect(p.actions.filter((a) => a.action === 'delete')).toEqual([]);
    expect(p.warnings).toEqual([expect.objectContaining({ code: 'orphan', system: 'gone-01', resourceId: 'vm-9' })]);
  });

  it('a retired resource whose tombstone was removed is no orphan (an archived CMDB object stays as history)', async () => {
    const p0 = vm();
    p0.seed('gone-01', { cpu: 2 }, true, 'obj-9').retired = true;
    p0.seed('gone-02', { cpu: 2 }, true, 'obj-10');
    const p = await planFor([system('web-01')], [p0]);
    expect(p.warnings).toEqual([expect.objectContaining({ code: 'orphan', system: 'gone-02', resourceId: 'obj-10' })]);
  });

  it('reports orphans and unmanaged resources in step order and by name, whatever order the backends answered in', async () => {
    const d = dns();
    const v = vm();
    d.seed('zz-01', { a: 'x' }, false, 'zz.example.com');
    d.seed('aa-01', { a: 'x' }, true, 'aa.example.com');
    v.seed('mm-01', { cpu: 2 }, true, 'vm-7');
    const observed = await observe([d, v]);
    const p = plan({ systems: [], site, providers: [v, d], observations: observed, maxDeletes: 3, now: new Date() });
    expect(p.warnings.map((w) => `${w.kind} ${w.system} ${w.code}`)).toEqual([
      'dns aa-01 orphan',
      'dns zz-01 unmanaged',
      'vm mm-01 orphan',
    ]);
    const reversed = new Map([...observed].reverse()); // the VM platform answered first
    const q = plan({ systems: [], site, providers: [v, d], observations: reversed, maxDeletes: 3, now: new Date() });
    expect(q.warnings).toEqual(p.warnings);
  });

  it('says "differs" for one field and "differ" for several', async () => {
    const one = vm();
    one.seed('web-01', { cpu: 1, memoryMiB: 4096, os: 'debian12', disks: [40] });
    expect((await planFor([system('web-01')], [one])).actions[0]!.reason).toBe('cpu differs from the manifest');
    const two = vm();
    two.seed('web-01', { cpu: 1, memoryMiB: 2048, os: 'debian12', disks: [40] });
    expect((await planFor([system('web-01')], [two])).actions[0]!.reason).toBe(
      'cpu, memoryMiB differ from the manifest',
    );
  });

  it("a shard's run does not report another shard's systems as orphans (they are declared there)", async () => {
    const p0 = vm();
    p0.seed('shop-live-01', { cpu: 2 }, true, 'vm-9');
    const p = plan({
      systems: [system('web-01')],
      site,
      providers: [p0],
      observations: await observe([p0]),
      maxDeletes: 3,
      now: new Date('2026-01-01T00:00:00Z'),
      declaredElsewhere: ['shop-live-01'],
    });
    expect(p.warnings).toEqual([]);
    expect(p.actions.filter((a) => a.system === 'shop-live-01')).toEqual([]);
  });

  it("a shard's run deletes the marked records and reservations a system moved to another shard left here, nothing else of it", async () => {
    const [ip, d, dhcp, v] = [
      new MemoryIpam(),
      dns(),
      new MemoryProvider('dhcp', (s) => ({ mac: s.network.mac })),
      vm(),
    ];
    const moved = system('web-01', {
      network: { net: 'live-net', ip: 'auto', mac: '00:50:56:00:00:01' },
      lifecycle: { protect: true, vmOnDelete: 'destroy', cmdbOnDelete: 'archive', powerPolicy: 'never' },
    });
    d.seed('web-01', { a: 'web-01.dev.example.com A 198.51.100.5' }, true, 'web-01.dev.example.com');
    dhcp.seed('web-01', { mac: '00:50:56:00:00:01' }, true, 'res-1');
    d.seed('shop-live-01', { a: 'shop-live-01.dev.example.com A 198.51.100.9' }, false, 'hand-written');
    ip.seed('web-01', { ip: '198.51.100.5' }, true, 'ip-1'); // the IPAM and the VM are the site's: its own shard's
    v.seed('web-01', { cpu: 2 }, true, 'vm-1');
    d.seed('gone-01', { a: 'gone-01.dev.example.com A 198.51.100.6' }, true, 'gone-01.dev.example.com'); // in no shard
    const providers = [ip, d, dhcp, v];
    const p = plan({
      systems: [system('db-01')],
      site,
      providers,
      observations: await observe(providers),
      maxDeletes: 0,
      now: new Date('2026-01-01T00:00:00Z'),
      declaredElsewhere: ['web-01', 'shop-live-01'],
      elsewhere: [
        { system: moved, shard: 'live' },
        {
          system: system('shop-live-01', { network: { net: 'live-net', ip: 'auto', mac: '00:50:56:00:00:02' } }),
          shard: 'live',
        },
      ],
    });
    const away = p.actions.filter((a) => a.system !== 'db-01');
    expect(away.map((a) => [a.system, a.kind, a.action, a.resourceId, a.blocked])).toEqual([
      ['web-01', 'dns', 'delete', 'web-01.dev.example.com', undefined],
      ['web-01', 'dhcp', 'delete', 'res-1', undefined],
    ]);
    expect(away[0]!.reason).toMatch(/^web-01 moved to shard live \(net live-net\): /);
    // A move is not a deletion of the system: neither --max-deletes nor protection stops it.
    expect(deletedSystems(p)).toEqual([]);
    // A system no shard's manifests name is still never deleted by inference.
    expect(p.warnings).toEqual([expect.objectContaining({ system: 'gone-01', code: 'orphan' })]);
  });

  it("a tombstone of another shard: what it left in this shard's zones goes as a tombstone's does (protection holds)", async () => {
    const d = dns();
    d.seed('old-01', { a: 'old-01.dev.example.com A 198.51.100.8' }, true, 'old-01.dev.example.com');
    d.seed('old-02', { a: 'old-02.dev.example.com A 198.51.100.9' }, true, 'old-02.dev.example.com');
    const lifecycle = { protect: true, vmOnDelete: 'destroy', cmdbOnDelete: 'archive', powerPolicy: 'never' } as const;
    const net = { net: 'live-net', ip: 'auto', mac: '00:50:56:00:00:01' };
    const p = plan({
      systems: [],
      site,
      providers: [d],
      observations: await observe([d]),
      maxDeletes: 3,
      now: new Date('2026-01-01T00:00:00Z'),
      declaredElsewhere: ['old-01', 'old-02'],
      elsewhere: [
        { system: system('old-01', { state: 'absent', network: net }), shard: 'live' },
        { system: system('old-02', { state: 'absent', network: net, lifecycle }), shard: 'live' },
      ],
    });
    expect(p.actions.map((a) => [a.system, a.kind, a.action, a.reason, a.blockedCode])).toEqual([
      ['old-01', 'dns', 'delete', 'declared absent (tombstone)', undefined],
      ['old-02', 'dns', 'delete', 'declared absent (tombstone)', 'protected'],
    ]);
    expect(deletedSystems(p)).toEqual(['old-01']);
  });

  it('blocks the delete of a protected system', async () => {
    const p0 = vm();
    p0.seed('db-01', { cpu: 2 });
    const s = system('db-01', {
      state: 'absent',
      lifecycle: { protect: true, vmOnDelete: 'destroy', cmdbOnDelete: 'archive', powerPolicy: 'never' },
    });
    s.sources['lifecycle.protect'] = { file: 'profiles/db.yaml', line: 9, col: 24 };
    const p = await planFor([s], [p0]);
    expect(p.actions[0]).toMatchObject({ action: 'delete' });
    // Where the protection comes from (a profile, with its line) and where to lift it for this system alone.
    expect(p.actions[0]!.blocked).toBe(
      'protected: lifecycle.protect is true (profiles/db.yaml:9:24); set lifecycle.protect: false in systems/db-01.yaml to allow this delete',
    );
    expect(p.actions[0]!.blockedCode).toBe('protected');
    expect(p.summary.delete).toBe(0);
    expect(p.summary.blocked).toBe(1);
  });

  it('refuses to create over an unmarked resource of the same name', async () => {
    const p0 = vm();
    p0.seed('web-01', { cpu: 2 }, false, 'vm-5');
    const p = await planFor([system('web-01')], [p0]);
    expect(p.actions[0]!.blocked).toMatch(/does not carry shipshape's marker/);
    expect(p.actions[0]!.blockedCode).toBe('not-owned');
  });

  it('blocks when several resources claim one system', async () => {
    const p0 = vm();
    p0.seed('web-01', { cpu: 2 }, true, 'vm-1');
    p0.seed('web-01', { cpu: 2 }, true, 'vm-2');
    const p = await planFor([system('web-01')], [p0]);
    expect(p.actions[0]!.blocked).toMatch(/ambiguous: vm-1, vm-2/);
    expect(p.actions[0]!.blockedCode).toBe('ambiguous');
  });

  it('shows an address not yet allocated as known after apply, and a known one as itself', async () => {
    const ipam = new MemoryIpam();
    const p1 = await planFor([system('web-01')], [ipam, dns()]);
    expect(p1.actions.find((a) => a.kind === 'dns')!.changes[0]!.to).toBe(`web-01.dev.example.com A ${UNKNOWN}`);
    ipam.seed('web-01', { net: 'dev-net', address: '10.0.0.17' });
    const p2 = await planFor([system('web-01')], [ipam, dns()]);
    expect(p2.actions.find((a) => a.kind === 'dns')!.changes[0]!.to).toBe('web-01.dev.example.com A 10.0.0.17');
    expect(p2.actions.find((a) => a.kind === 'ip')!.action).toBe('noop');
  });

  it('orders actions by step and gives the same plan for the same inputs', async () => {
    const providers = [dns(), vm(), new MemoryIpam()];
    const a = await planFor([system('b'), system('a')], providers);
    const b = await planFor([system('a'), system('b')], providers);
    expect(a.actions.map((x) => `${x.system}/${x.kind}`)).toEqual(['a/ip', 'a/dns', 'a/vm', 'b/ip', 'b/dns', 'b/vm']);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it('changes the observed digest when the world changes', async () => {
    const p0 = vm();
    const before = await planFor([system('web-01')], [p0]);
    p0.seed('web-01', { cpu: 2 });
    const after = await planFor([system('web-01')], [p0]);
    expect(after.observedDigest).not.toBe(before.observedDigest);
    expect(after.desiredDigest).toBe(before.desiredDigest);
  });

  it('blocks a create that apply would refuse (foreseeCreate) with the refusal and its code', async () => {
    const ipam = new MemoryIpam();
    (ipam as Provider).foreseeCreate = (_s, d) =>
      d.address === '10.0.0.1'
        ? [{ path: 'network.ip', from: null, to: d.address, refused: 'is the gateway', refusal: 'address-held' }]
        : [];
    const p = await planFor(
      [system('web-01', { network: { net: 'dev-net', ip: '10.0.0.1', mac: '00:50:56:00:00:01' } })],
      [ipam],
    );
    expect(p.actions[0]).toMatchObject({
      action: 'create',
      blocked: 'network.ip: is the gateway',
      blockedCode: 'collides',
      refusal: 'address-held',
    });
    expect(p.summary.blocked).toBe(1);
  });

  it('blocks a step whose desired state apply would refuse to even compute (a role package missing), not the whole plan', async () => {
    const role = new MemoryProvider('specialise', (s) => {
      if (s.name === 'web-02') throw new Refusal('role-artefact', 'role app/shop: files/shop_9_all.deb does not exist');
      return { roles: 'ok' };
    });
    const p = await planFor([system('web-01'), system('web-02')], [role]);
    expect(p.actions.map((a) => [a.system, a.action, a.refusal ?? '', a.blockedCode ?? ''])).toEqual([
      ['web-01', 'create', '', ''],
      ['web-02', 'create', 'role-artefact', 'refused'],
    ]);
  });

  it('a step with no record of its own plans from what earlier steps recovered (recovered), not as a create', async () => {
    const install = new MemoryProvider('install', (s) => ({ os: s.os, state: 'built' }));
    (install as Provider).recovered = (s, r) =>
      r.vmInstall?.marker === 'built'
        ? {
            kind: 'install',
            system: s.name,
            id: `install/${s.name}`,
            owned: true,
            fields: { os: r.vmInstall.os, state: 'built' },
          }
        : undefined;
    const v = vm();
    v.seed('web-01', { cpu: 2, memoryMiB: 4096, os: 'debian12', disks: [40] });
    (v as Provider).resolve = (_s, o, r) => (o ? { ...r, vmInstall: { marker: 'built', os: 'debian12' } } : r);
    const p = await planFor([system('web-01'), system('web-02')], [v, install]);
    expect(p.actions.filter((a) => a.kind === 'install').map((a) => [a.system, a.action])).toEqual([
      ['web-01', 'noop'],
      ['web-02', 'create'],
    ]);
  });

  it('an explicit address change reaches the later steps in the same plan', async () => {
    const ipam = new MemoryIpam();
    ipam.seed('web-01', { net: 'dev-net', address: '10.0.0.17' });
    ipam.resolve = (s, o, r) => ({
      ...r,
      ip: s.network.ip !== 'auto' ? s.network.ip : String(o?.fields.address ?? UNKNOWN),
    });
    const d = dns();
    d.seed('web-01', { a: 'web-01.dev.example.com A 10.0.0.17' });
    const moved = system('web-01', { network: { net: 'dev-net', ip: '10.0.0.40', mac: '00:50:56:00:00:01' } });
    const p = await planFor([moved], [ipam, d]);
    expect(p.actions.map((a) => [a.kind, a.action, JSON.stringify(a.changes.map((c) => c.to))])).toEqual([
      ['ip', 'update', '["10.0.0.40"]'],
      ['dns', 'update', '["web-01.dev.example.com A 10.0.0.40"]'],
    ]);
  });
});

describe('an installed system whose address changes', () => {
  const providers = () => {
    const ipam = Object.assign(new MemoryIpam(), { identity: { ip: 'address' } });
    const install = new MemoryProvider('install', (s) => ({ os: s.os, state: 'built' }));
    return { ipam, install };
  };
  const planOn = async (on: typeof site, built: boolean) => {
    const { ipam, install } = providers();
    ipam.seed('web-01', { net: 'dev-net', address: '10.0.0.5' });
    install.seed('web-01', { os: 'debian12', state: built ? 'built' : 'installing' });
    const web = system('web-01', { network: { net: 'dev-net', ip: '10.0.0.9', mac: '00:50:56:00:00:01' } });
    const providerList: Provider[] = [ipam, install];
    return plan({
      systems: [web],
      site: on,
      providers: providerList,
      observations: await observe(providerList),
      maxDeletes: 3,
      now: new Date(),
    });
  };

  it('says the guest takes the new address at its lease renewal where the net has DHCP', async () => {
    const dhcp = {
      ...site,
      dhcp: { servers: [{ name: 'dhcp-dev', backend: 'isc', nets: ['dev-net'] }] },
    } as unknown as typeof site;
    const p = await planOn(dhcp, true);
    expect(p.warnings).toEqual([
      expect.objectContaining({
        system: 'web-01',
        code: 'readdress',
        message: expect.stringMatching(/from 10\.0\.0\.5 to 10\.0\.0\.9: its DHCP reservation moves.*renews its lease/),
      }),
    ]);
  });

  it('says the guest keeps its static address where the net has no DHCP server, and what to do', async () => {
    const p = await planOn(site, true);
    expect(p.warnings.map((w) => [w.code, w.message])).toEqual([
      ['readdress', expect.stringMatching(/static address 10\.0\.0\.5 .*keeps it.*inside the guest.*reinstall/)],
    ]);
  });

  it('says nothing for a system that is not installed yet: its install takes the new address', async () => {
    expect((await planOn(site, false)).warnings).toEqual([]);
  });
});

describe('adoption and collisions with resources shipshape does not own', () => {
  /** A VM provider that can adopt (the planner only offers adoption for those). */
  const adoptable = () => Object.assign(vm(), { adopt: async () => ({}) as never });
  const legacy = { cpu: 2, memoryMiB: 4096, os: 'debian12', disks: [40] };

  async function planWith(p: Provider, adopt?: Parameters<typeof plan>[0]['adopt'], systems = [system('web-01')]) {
    return plan({
      systems,
      site,
      providers: [p],
      observations: await observe([p]),
      maxDeletes: 3,
      now: new Date('2026-01-01T00:00:00Z'),
      ...(adopt ? { adopt } : {}),
    });
  }

  it('a create that would duplicate an unmarked resource is blocked in the plan (collides), saying what to do', async () => {
    const p = adoptable();
    p.seed('web-01', legacy, false, 'vm-77');
    const got = await planWith(p);
    expect(got.actions).toEqual([
      expect.objectContaining({ action: 'create', resourceId: 'vm-77', blockedCode: 'collides', changes: [] }),
    ]);
    expect(got.actions[0]!.blocked).toBe(
      'vm "vm-77" already exists without shipshape\'s marker; creating it again would duplicate it. Adopt it (`shipshape adopt web-01`: it matches the manifest), rename the system, or remove the existing one',
    );
    expect(got.summary).toMatchObject({ create: 0, blocked: 1 });
  });

  it('plan --adopt: an adoption with an empty diff goes ahead; a differing one waits for --accept-changes', async () => {
    const p = adoptable();
    p.seed('web-01', legacy, false, 'vm-77');
    p.seed('web-02', { ...legacy, cpu: 1 }, false, 'vm-78');
    const systems = [system('web-01'), system('web-02')];
    const got = await planWith(p, {}, systems);
    expect(got.actions.map((a) => [a.system, a.action, a.changes.length, a.blockedCode])).toEqual([
      ['web-01', 'adopt', 0, undefined],
      ['web-02', 'adopt', 1, 'not-owned'],
    ]);
    expect(got.actions[1]!.blocked).toMatch(
      /it differs from the manifest in cpu: .*`shipshape adopt --accept-changes web-02`/,
    );
    expect(got.summary).toMatchObject({ adopt: 1, blocked: 1 });
    const accepted = await planWith(p, { systems: new Set(['web-02']), acceptChanges: true }, systems);
    expect(accepted.actions.map((a) => [a.system, a.action, !!a.blocked])).toEqual([
      ['web-01', 'create', true], // not named: still the blocked create
      ['web-02', 'adopt', false],
    ]);
    expect(accepted.actions[1]!.changes).toEqual([expect.objectContaining({ path: 'cpu', from: 1, to: 2 })]);
  });

  it('a same-named resource outside the managed scope never makes an owned one ambiguous', async () => {
    const p = adoptable();
    p.seed('web-01', legacy, true, 'vm-1');
    const outside = p.seed('web-01', legacy, false, 'vm-2');
    outside.outOfScope = 'in folder DC0/vm/legacy';
    const got = await planWith(p);
    expect(got.actions).toEqual([expect.objectContaining({ action: 'noop', resourceId: 'vm-1' })]);
    expect(got.warnings).toEqual([]);
  });

  it('unmarked resources in scope that no manifest names are reported as unmanaged; those outside the scope are not', async () => {
    const p = adoptable();
    p.seed('hand-made', legacy, false, 'vm-5');
    const far = p.seed('elsewhere', legacy, false, 'vm-6');
    far.outOfScope = 'in folder DC0/vm/other';
    const got = await planWith(p, undefined, []);
    expect(got.warnings.map((w) => [w.code, w.resourceId])).toEqual([['unmanaged', 'vm-5']]);
  });
});

describe('a claim on what another system frees first', () => {
  /** An IPAM whose observation has "holder" on 10.0.0.20, which "claimant" declares: holder moves, claimant waits. */
  const ipam = () => {
    const p = new MemoryIpam();
    p.store.set('ip-1', {
      kind: 'ip',
      system: 'holder',
      id: 'ip-1',
      owned: true,
      fields: { net: 'dev-net', address: '10.0.0.20' },
    });
    const diff = p.diff.bind(p);
    Object.assign(p, {
      foreseeCreate: (s: { name: string; network: { ip: string } }) =>
        s.network.ip === '10.0.0.20'
          ? [{ path: 'address', from: null, to: '10.0.0.20', after: 'holder', refusal: 'address-held' as const }]
          : [],
      diff: (s: Parameters<typeof diff>[0], d: Parameters<typeof diff>[1], o: Parameters<typeof diff>[2]) =>
        s.name === 'holder' ? [{ path: 'address', from: '10.0.0.20', to: UNKNOWN }] : diff(s, d, o),
    });
    return p;
  };

  it('a create taking it waits for the holder and is not blocked; without the holder in the plan it is', async () => {
    const claimant = system('claimant', { network: { net: 'dev-net', ip: '10.0.0.20', mac: '00:50:56:00:00:02' } });
    const p = await planFor([claimant, system('holder')], [ipam(), dns()]);
    const claim = p.actions.find((a) => a.system === 'claimant' && a.kind === 'ip')!;
    expect(claim).toMatchObject({ action: 'create', waitsFor: [{ system: 'holder', kind: 'ip' }] });
    expect(claim.blocked).toBeUndefined();
    expect(claim.changes.find((c) => c.to === '10.0.0.20')?.after).toBe('holder');
    expect(p.summary.blocked).toBe(0);

    // A shard's run without the holder: blocked, with what to do.
    const alone = await planFor([claimant], [ipam(), dns()]);
    const blocked = alone.actions.find((a) => a.system === 'claimant' && a.kind === 'ip')!;
    expect(blocked).toMatchObject({ blockedCode: 'collides', refusal: 'address-held' });
    expect(blocked.blocked).toMatch(/holder is not part of this run/);
  });
});
