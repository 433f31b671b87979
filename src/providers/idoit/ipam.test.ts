/** The `ip` provider against the i-doit emulator: allocation rules, idempotency, conflicts, release, races. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../lab/idoit';
import { UNKNOWN, UserError } from '../../engine/contract';
import type { SiteConfig } from '../../manifest/site';
import type { DesiredSystem } from '../../manifest/types';
import { IdoitClient } from './client';
import { IdoitAuthError } from './errors';
import { testContext, testSite, testSystem, runStage } from '../../../test/support/idoit-fixtures';
import { IdoitIpamProvider } from './ipam';
import { createIdoitClient } from './site-client';
import { plan } from '../../plan/planner';
import { EMULATED_VERSIONS } from '../../../test/idoit/emulated';

const SECRETS: Record<string, string> = {
  '${env:IDOIT_API_KEY}': 'lab-key',
  '${env:IDOIT_USER}': 'shipshape',
  '${env:IDOIT_PASSWORD}': 'pw',
};
const secret = async (r: { ref: string }) => SECRETS[r.ref] ?? '';
const NETS = [
  { title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1', dhcp: [{ from: '10.1.0.200', to: '10.1.0.250' }] },
  { title: 'small-net', cidr: '10.9.0.0/29', gateway: '10.9.0.1' },
  { title: 'other-net', cidr: '10.2.0.0/24', gateway: '10.2.0.1' },
  { title: 'drift-net', cidr: '10.5.0.0/24' },
];
const SITE_NETS = [
  { title: 'lab-net', cidr: '10.1.0.0/24', gateway: '10.1.0.1', dnsServers: [] },
  { title: 'small-net', cidr: '10.9.0.0/29', gateway: '10.9.0.1', dnsServers: [] },
  { title: 'other-net', cidr: '10.2.0.0/24', gateway: '10.2.0.1', dnsServers: [] },
  { title: 'drift-net', cidr: '10.6.0.0/24', dnsServers: [] },
];

describe.each(EMULATED_VERSIONS)('i-doit API add-on %s', (apiVersion) => {
  let dir: string;
  const emus: IdoitEmulator[] = [];
  async function emulator(
    name: string,
    uniqueIp = true,
  ): Promise<{ emu: IdoitEmulator; site: SiteConfig; raw: IdoitClient }> {
    const emu = await startIdoitEmulator({
      stateFile: path.join(dir, `${name}.json`),
      apiKey: 'lab-key',
      users: [{ username: 'shipshape', password: 'pw' }],
      nets: NETS,
      uniqueIp,
      apiVersion,
    });
    emus.push(emu);
    const site = testSite(emu.url, SITE_NETS, { 'lab-net': ['10.1.0.2', '10.1.0.3'] });
    return { emu, site, raw: createIdoitClient(site, secret) };
  }
  const ipam = (site: SiteConfig, systems?: DesiredSystem[]) =>
    new IdoitIpamProvider({ client: createIdoitClient(site, secret), site, ...(systems ? { systems } : {}) });

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-ipam-'));
  });
  afterAll(async () => {
    for (const e of emus) await e.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('ip: auto and explicit addresses', () => {
    let site: SiteConfig;
    let raw: IdoitClient;
    beforeAll(async () => {
      ({ site, raw } = await emulator('rules'));
      // Not ours: a live server holding .4 and an archived host still holding .5.
      const nets = await raw.call<{ id: number; title: string }[]>('cmdb.objects.read', {
        filter: { type: 'C__OBJTYPE__LAYER3_NET' },
      });
      const lab = nets.find((n) => n.title === 'lab-net')!.id;
      for (const [title, ip] of [
        ['legacy-db', '10.1.0.4'],
        ['old-web', '10.1.0.5'],
      ] as const) {
        const o = await raw.call<{ id: number }>('cmdb.object.create', {
          type: 'C__OBJTYPE__SERVER',
          title,
          categories: { C__CATG__IP: [{ net: lab, ipv4_address: ip }] },
        });
        if (title === 'old-web') await raw.call('cmdb.object.archive', { object: o.id });
      }
    });

    it('takes the first free address: skips network, gateway, reserved, held, archived-held and DHCP', async () => {
      const p = ipam(site);
      const r = await runStage(p, [testSystem('web-01')], testContext(site));
      expect(r.created).toEqual(['web-01']);
      expect(r.resolved.get('web-01')).toMatchObject({ ip: '10.1.0.6', prefixLength: 24, gateway: '10.1.0.1' });
      const obj = await raw.call<{ sysid: string; title: string }[]>('cmdb.objects.read', {
        filter: { title: 'web-01' },
      });
      expect(obj.map((o) => o.sysid)).toEqual([
        apiVersion === '1.10' ? expect.stringMatching(/^SYSID_/) : 'SHIPSHAPE-VM-web-01',
      ]);
      await p.close();
    });

    it('gives a rerun the same address and changes nothing', async () => {
      const p = ipam(site);
      const again = await runStage(p, [testSystem('web-01')], testContext(site));
      expect(again.unchanged).toEqual(['web-01']);
      expect(again.resolved.get('web-01')!.ip).toBe('10.1.0.6');
      // Even a create the engine repeats (it lost its observation) finds the held address.
      const s = testSystem('web-01');
      const res = await p.create(s, p.desired(s)!, { ip: UNKNOWN, mac: s.network.mac }, testContext(site));
      expect(res.fields.ip).toBe('10.1.0.6');
      const list = await raw.call<{ title: string }[]>('cmdb.category.read', {
        objID: (res.handle as { objectId: number }).objectId,
        category: 'C__CATG__IP',
      });
      expect(list).toHaveLength(1);
      await p.close();
    });

    it('accepts a free explicit address and refuses a held, reserved, gateway or out-of-range one', async () => {
      const p = ipam(site);
      const ok = await runStage(
        p,
        [testSystem('db-01', { network: { net: 'lab-net', ip: '10.1.0.50', mac: '00:50:56:00:00:02' } })],
        testContext(site),
      );
      expect(ok.resolved.get('db-01')!.ip).toBe('10.1.0.50');
      const cases: [string, RegExp][] = [
        ['10.1.0.4', /10\.1\.0\.4 is already held by "legacy-db" \(#\d+\) in i-doit/],
        [
          '10.1.0.5',
          /10\.1\.0\.5 is already held by "old-web" \(#\d+\) in i-doit \(archived: shipshape keeps its address reserved until it is purged in i-doit or its tombstone is applied\)/,
        ],
        ['10.1.0.50', /already held by "db-01"/],
        ['10.1.0.2', /reserved for net "lab-net" in shipshape.yaml/],
        ['10.1.0.1', /is the gateway of net "lab-net"/],
        ['10.1.0.210', /DHCP range 10\.1\.0\.200–10\.1\.0\.250/],
        ['10.1.1.9', /outside the range 10\.1\.0\.1–10\.1\.0\.254 of net "lab-net"/],
      ];
      for (const [ip, msg] of cases) {
        const s = testSystem(`conflict-${ip}`, { network: { net: 'lab-net', ip, mac: '00:50:56:00:00:03' } });
        const err = await p
          .create(s, p.desired(s)!, { ip, mac: s.network.mac }, testContext(site))
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message).toMatch(msg);
      }
      await p.close();
    });

    it('moves a system to another net and releases the old address', async () => {
      const p = ipam(site);
      const moved = await runStage(
        p,
        [testSystem('web-01', { network: { net: 'other-net', ip: 'auto', mac: '00:50:56:00:00:01' } })],
        testContext(site),
      );
      expect(moved.updated).toEqual(['web-01']);
      expect(moved.resolved.get('web-01')).toMatchObject({ ip: '10.2.0.2', gateway: '10.2.0.1' });
      const next = await runStage(p, [testSystem('web-02')], testContext(site));
      expect(next.resolved.get('web-02')!.ip).toBe('10.1.0.6');
      await p.close();
    });

    it('releases the address on delete so the next system gets it', async () => {
      const p = ipam(site);
      const obs = await p.observe(testContext(site));
      const mine = obs.resources.find((r) => r.system === 'web-02')!;
      await p.delete(testSystem('web-02'), mine, testContext(site));
      const r = await runStage(p, [testSystem('web-03')], testContext(site));
      expect(r.resolved.get('web-03')!.ip).toBe('10.1.0.6');
      await p.close();
    });

    it('names the net and its range when the net is full', async () => {
      const p = ipam(site);
      const systems = ['f1', 'f2', 'f3', 'f4', 'f5'].map((n) =>
        testSystem(n, { network: { net: 'small-net', ip: 'auto', mac: '00:50:56:00:00:09' } }),
      );
      const r = await runStage(p, systems, testContext(site));
      expect([...r.resolved.values()].map((x) => x.ip).sort()).toEqual([
        '10.9.0.2',
        '10.9.0.3',
        '10.9.0.4',
        '10.9.0.5',
        '10.9.0.6',
      ]);
      const s = testSystem('f6', { network: { net: 'small-net', ip: 'auto', mac: '00:50:56:00:00:09' } });
      const err = (await p
        .create(s, p.desired(s)!, { ip: UNKNOWN, mac: '' }, testContext(site))
        .catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(UserError);
      expect(err).toMatchObject({ refusal: 'net-full', outcome: 'refused' });
      expect(err.message).toMatch(
        /^net "small-net" \(10\.9\.0\.0\/29, range 10\.9\.0\.1–10\.9\.0\.6\) has no free address left for f6/,
      );
      await p.close();
    });

    it('refuses a net whose range in i-doit disagrees with shipshape.yaml', async () => {
      const p = ipam(site);
      const s = testSystem('drifter', { network: { net: 'drift-net', ip: 'auto', mac: '00:50:56:00:00:0a' } });
      const err = (await p
        .create(s, p.desired(s)!, { ip: UNKNOWN, mac: '' }, testContext(site))
        .catch((e: unknown) => e)) as Error;
      expect(err.message).toBe(
        'i-doit net "drift-net" is 10.5.0.0/24 but shipshape.yaml declares 10.6.0.0/24; make them agree before allocating addresses.',
      );
      await p.close();
    });

    it('fails with a clear error for a wrong API key', async () => {
      const p = new IdoitIpamProvider({
        client: createIdoitClient(site, async (r) => (r.ref.includes('API_KEY') ? 'not-the-key' : secret(r))),
        site,
      });
      const err = (await p.observe(testContext(site)).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(IdoitAuthError);
      expect(err.message).toMatch(
        /refused the credentials: Authentication error: Unable to login using given credentials and apiKey\. Check apiKey \(and username \/ password\) of the ipam \/ cmdb sections/,
      );
      expect(err.message).not.toContain('not-the-key');
    });
  });

  describe('archived holders and declared addresses', () => {
    let site: SiteConfig;
    let raw: IdoitClient;
    let lab: number;
    beforeAll(async () => {
      ({ site, raw } = await emulator('policy'));
      lab = (
        await raw.call<{ id: number; title: string }[]>('cmdb.objects.read', {
          filter: { type: 'C__OBJTYPE__LAYER3_NET', title: 'lab-net' },
        })
      )[0]!.id;
    });

    it("keeps an archived host's address reserved although i-doit frees it, and frees it once the host is purged", async () => {
      const o = await raw.call<{ id: number }>('cmdb.object.create', {
        type: 'C__OBJTYPE__SERVER',
        title: 'parked',
        categories: { C__CATG__IP: [{ net: lab, ipv4_address: '10.1.0.4' }] },
      });
      await raw.call('cmdb.object.archive', { object: o.id });
      // i-doit's own view: the address is no longer in use.
      const list = await raw.call<{ title: string }[]>('cmdb.category.read', {
        objID: lab,
        category: 'C__CATS__NET_IP_ADDRESSES',
        status: -1,
      });
      expect(list.map((e) => e.title)).not.toContain('10.1.0.4');
      const p = ipam(site);
      const r = await runStage(p, [testSystem('after-park')], testContext(site));
      expect(r.resolved.get('after-park')!.ip).toBe('10.1.0.5');
      await raw.call('cmdb.object.purge', { object: o.id }).catch(async () => {
        // Add-on 1.10 without quick-purge: the host's address entry is what holds the address.
        const [e] = await raw.call<{ id: string }[]>('cmdb.category.read', { objID: o.id, category: 'C__CATG__IP' });
        await raw.call('cmdb.category.purge', { object: o.id, category: 'C__CATG__IP', entry: Number(e!.id) });
      });
      const next = await runStage(p, [testSystem('after-purge')], testContext(site));
      expect(next.resolved.get('after-purge')!.ip).toBe('10.1.0.4');
      await p.close();
    });

    it('never hands an address a manifest declares to ip: auto, whatever the order', async () => {
      const autos = Array.from({ length: 6 }, (_, i) => testSystem(`auto-${i}`));
      const pinned = testSystem('pinned', { network: { net: 'lab-net', ip: '10.1.0.8', mac: '00:50:56:00:00:08' } });
      const p = ipam(site, [...autos, pinned]);
      const r = await runStage(p, autos, testContext(site)); // the autos first, in parallel
      expect([...r.resolved.values()].map((x) => x.ip)).not.toContain('10.1.0.8');
      const late = await runStage(p, [pinned], testContext(site));
      expect(late.resolved.get('pinned')!.ip).toBe('10.1.0.8');
      await p.close();
    });

    it('shows in the plan an address that ip: auto took before a manifest declared it, and moves the taker', async () => {
      // Before the manifest declared it, `auto` took the next free address.
      const early = ipam(site);
      const took = await runStage(early, [testSystem('early-bird')], testContext(site));
      const ip = String(took.resolved.get('early-bird')!.ip);
      const late = testSystem('late-owner', { network: { net: 'lab-net', ip, mac: '00:50:56:00:00:0c' } });
      // late-owner's object exists from a failed run (no address yet).
      await early.create(
        testSystem('late-owner'),
        early.desired(testSystem('late-owner'))!,
        { ip: UNKNOWN, mac: '' },
        testContext(site),
      );
      const [e] = (await early.observe(testContext(site))).resources
        .filter((x) => x.system === 'late-owner')
        .map((x) => x.handle as { objectId: number; entryId: number });
      await raw.call('cmdb.category.purge', { object: e!.objectId, category: 'C__CATG__IP', entry: e!.entryId });
      await early.close();

      const p = ipam(site, [testSystem('early-bird'), late]);
      const obs = await p.observe(testContext(site));
      const of = (name: string) => obs.resources.find((x) => x.system === name)!;
      const birdChanges = p.diff(testSystem('early-bird'), p.desired(testSystem('early-bird'))!, of('early-bird'));
      expect(birdChanges).toEqual([{ path: 'network.ip', from: ip, to: UNKNOWN }]);
      const ownerChanges = p.diff(late, p.desired(late)!, of('late-owner'));
      expect(ownerChanges).toContainEqual({
        path: 'network.ip',
        from: null,
        to: ip,
        // Not refused: the claim waits for early-bird's ip step (the plan orders them: src/plan/waits.ts).
        refusal: 'address-held',
        after: 'early-bird',
      });
      expect(ownerChanges.some((c) => c.refused)).toBe(false);
      // Until its ip step ran, what answers on the address is early-bird (specialisation does not connect there).
      expect(p.resolve(late, of('late-owner'), { ip, mac: '' }).heldBy).toBe('early-bird');
      const moved = await p.update(
        testSystem('early-bird'),
        p.desired(testSystem('early-bird'))!,
        of('early-bird'),
        birdChanges,
        { ip: UNKNOWN, mac: '' },
        testContext(site),
      );
      expect(moved.fields.ip).not.toBe(ip);
      const next = await runStage(p, [late], testContext(site));
      expect(next.resolved.get('late-owner')!.ip).toBe(ip);
      expect(next.resolved.get('late-owner')!.heldBy).toBeUndefined();
      await p.close();
    });

    it('a move interrupted between taking the new address and releasing the old one: the rerun finishes it and leaves no address behind', async () => {
      const first = ipam(site);
      const took = await runStage(first, [testSystem('crash-bird')], testContext(site));
      await first.close();
      const ip = String(took.resolved.get('crash-bird')!.ip);
      // The interrupted move: crash-bird's object also holds its new address, the old one not yet released.
      const objects = await raw.call<{ id: number; title: string }[]>('cmdb.objects.read', {
        filter: { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'crash-bird' },
      });
      const obj = objects.find((o) => o.title === 'crash-bird')!.id;
      await raw.call('cmdb.category.save', {
        object: obj,
        category: 'C__CATG__IP',
        data: {
          net: lab,
          net_type: 1,
          ipv4_assignment: 2,
          ipv4_address: '10.1.0.77',
          hostname: 'crash-bird',
          domain: testSystem('crash-bird').dns.domain,
          primary: 1,
        },
      });
      const owner = testSystem('crash-owner', { network: { net: 'lab-net', ip, mac: '00:50:56:00:00:0d' } });
      const p = ipam(site, [testSystem('crash-bird'), owner]);
      const obs = await p.observe(testContext(site));
      const bird = obs.resources.find((x) => x.system === 'crash-bird')!;
      const changes = p.diff(testSystem('crash-bird'), p.desired(testSystem('crash-bird'))!, bird);
      expect(changes.map((c) => c.path)).toContain('leftover');
      const moved = await p.update(
        testSystem('crash-bird'),
        p.desired(testSystem('crash-bird'))!,
        bird,
        changes,
        { ip: UNKNOWN, mac: '' },
        testContext(site),
      );
      // It kept the address the interrupted move took (no third one), and released the claimed one.
      expect(moved.fields.ip).toBe('10.1.0.77');
      const entries = await raw.call<{ ipv4_address?: { ref_title?: string } }[]>('cmdb.category.read', {
        objID: obj,
        category: 'C__CATG__IP',
      });
      expect(entries.map((e) => e.ipv4_address?.ref_title)).toEqual(['10.1.0.77']);
      const next = await runStage(p, [owner], testContext(site));
      expect(next.resolved.get('crash-owner')!.ip).toBe(ip);
      const again = (await p.observe(testContext(site))).resources.find((x) => x.system === 'crash-bird')!;
      expect(p.diff(testSystem('crash-bird'), p.desired(testSystem('crash-bird'))!, again)).toEqual([]);
      await p.close();
    });
  });

  describe.each([
    ["with i-doit's unique-IP check off (verify-after-write decides)", false],
    ["with i-doit's unique-IP check on", true],
  ])('32 parallel allocations from two runs %s', (_label, uniqueIp) => {
    it('never gives one address to two systems', async () => {
      const { emu, site, raw } = await emulator(`race-${String(uniqueIp)}`, uniqueIp);
      // Two providers with their own clients and sessions: two shipshape processes at once.
      const runs = [ipam(site), ipam(site)];
      const systems = Array.from({ length: 32 }, (_, i) => testSystem(`race-${i}`));
      const ctx = testContext(site);
      const results = await Promise.all(
        systems.map((s, i) => runs[i % 2]!.create(s, runs[0]!.desired(s)!, { ip: UNKNOWN, mac: '' }, ctx)),
      );
      const ips = results.map((r) => r.fields.ip);
      expect(new Set(ips).size).toBe(32);
      for (const ip of ips) expect(ip).toMatch(/^10\.1\.0\.(\d+)$/);
      const net = (
        await raw.call<{ id: number; title: string }[]>('cmdb.objects.read', {
          filter: { type: 'C__OBJTYPE__LAYER3_NET', title: 'lab-net' },
        })
      )[0]!;
      const list = await raw.call<{ title: string }[]>('cmdb.category.read', {
        objID: net.id,
        category: 'C__CATS__NET_IP_ADDRESSES',
        status: -1,
      });
      const titles = list.map((e) => e.title);
      expect(new Set(titles).size).toBe(titles.length);
      expect(titles).toHaveLength(33); // the gateway + 32 systems
      await Promise.all(runs.map((r) => r.close()));
      expect(emu.stats().byMethod['idoit.login']).toBe(3); // two runs + the checking client
      // The two runs start in lockstep, so their first candidates collide: the loser's write was given up
      // (verify-after-write) or refused by i-doit's unique check, and it took another address.
      const s = emu.stats().byMethod;
      if (uniqueIp) expect(s['cmdb.category.save']).toBeGreaterThan(32);
      else expect(s['cmdb.category.purge']).toBeGreaterThan(0);
    });
  });
  describe('the plan foresees a full net (net-full)', () => {
    const inSmall = (name: string) =>
      testSystem(name, { network: { net: 'small-net', ip: 'auto', mac: '00:50:56:00:00:0c' } });
    it('hands the free addresses out in plan order, to creates and moves alike, and refuses the rest as apply would', async () => {
      const { site } = await emulator('foresee-full');
      // small-net: .1 the gateway, .2–.6 in its range. Four systems take .2–.5; `mover` holds one in other-net.
      const first = ipam(site);
      const mover = testSystem('mover', { network: { net: 'other-net', ip: 'auto', mac: '00:50:56:00:00:0d' } });
      const held = ['h1', 'h2', 'h3', 'h4'].map(inSmall);
      await runStage(first, [...held, mover], testContext(site));
      await first.close();

      // Now `mover` moves into small-net and two new systems ask there too: one address (.6) for three.
      const systems = [...held, inSmall('mover'), inSmall('new-1'), inSmall('new-2')];
      const p = ipam(site, systems);
      const obs = await p.observe(testContext(site));
      const observedMover = obs.resources.find((r) => r.system === 'mover' && r.owned)!;
      const moves = p.diff(systems[4]!, p.desired(systems[4]!)!, observedMover);
      expect(moves.find((c) => c.path === 'network.net')).toEqual(
        expect.not.objectContaining({ refused: expect.anything() }),
      );
      const [refused] = p.foreseeCreate(systems[5]!, p.desired(systems[5]!)!);
      expect(refused).toMatchObject({ refusal: 'net-full', path: 'network.ip' });
      expect(refused!.refused).toMatch(
        /^net "small-net" \(10\.9\.0\.0\/29, range 10\.9\.0\.1–10\.9\.0\.6\) has no free address left for new-1; its last free address goes to mover in this run \(5 held in i-doit/,
      );
      // Asked again (a second plan on the same observation), each keeps its answer.
      expect(p.foreseeCreate(systems[5]!, p.desired(systems[5]!)!)).toEqual([refused]);
      expect(p.foreseeCreate(systems[6]!, p.desired(systems[6]!)!)[0]?.refusal).toBe('net-full');
      // Apply refuses on its own: the net's last address went to someone else meanwhile.
      await runStage(ipam(site), [inSmall('elsewhere')], testContext(site));
      const err = (await p
        .create(systems[5]!, p.desired(systems[5]!)!, { ip: UNKNOWN, mac: '' }, testContext(site))
        .catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({ refusal: 'net-full', outcome: 'refused' });
      await p.close();
    });

    it('a targeted plan: a system outside the target takes none of the last free addresses', async () => {
      const { site } = await emulator('foresee-target');
      const held = ['h1', 'h2', 'h3', 'h4'].map(inSmall);
      const first = ipam(site);
      await runStage(first, held, testContext(site));
      await first.close();
      // One address (.6) left, two systems asking: a-new is first by name, but only b-new is in the run.
      const systems = [...held, inSmall('a-new'), inSmall('b-new')];
      const p = ipam(site, systems);
      const observations = new Map([['ip' as const, await p.observe(testContext(site))]]);
      const planned = (only?: ReadonlySet<string>) =>
        plan({ systems, site, providers: [p], observations, maxDeletes: 3, now: new Date(), ...(only ? { only } : {}) })
          .actions.filter((a) => a.kind === 'ip' && a.action === 'create')
          .map((a) => [a.system, a.refusal ?? 'ok']);
      expect(planned()).toEqual([
        ['a-new', 'ok'],
        ['b-new', 'net-full'],
      ]);
      expect(planned(new Set(['b-new']))).toEqual([
        ['a-new', 'ok'],
        ['b-new', 'ok'],
      ]);
      await p.close();
    });

    it('a net i-doit does not have: the plan refuses the create (net-missing) and apply refuses it on its own', async () => {
      const { site } = await emulator('foresee-no-net');
      const s = testSystem('lost-01', {
        network: { net: 'nope-net', ip: 'auto', mac: '00:50:56:00:00:0f' },
        sources: { 'network.net': { file: 'systems/lost-01.yaml', line: 6, col: 18 } },
      });
      const why =
        'i-doit has no layer-3 net titled "nope-net" (network.net in systems/lost-01.yaml:6:18); create it in i-doit or fix network.net.';
      const p = ipam(site, [s]);
      expect(p.foreseeCreate(s, p.desired(s)!)).toEqual([]); // not observed yet: nothing known, nothing refused
      await p.observe(testContext(site));
      expect(p.foreseeCreate(s, p.desired(s)!)).toEqual([
        expect.objectContaining({ path: 'network.net', refusal: 'net-missing', refused: why }),
      ]);
      const inLab = testSystem('found-01', { network: { net: 'lab-net', ip: 'auto', mac: '00:50:56:00:00:0f' } });
      expect(p.foreseeCreate(inLab, p.desired(inLab)!)).toEqual([]);
      const err = (await p
        .create(s, p.desired(s)!, { ip: UNKNOWN, mac: '' }, testContext(site))
        .catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({ refusal: 'net-missing', outcome: 'refused', message: why });
      await p.close();
    });

    it("two nets of one title (an operator's duplicate): the plan blocks the systems taking an address in it (net-ambiguous), naming both objects, and apply refuses on its own", async () => {
      const { site, raw } = await emulator('foresee-twice');
      // held-01 took an address in lab-net before the duplicate was made.
      const held = testSystem('held-01', { network: { net: 'lab-net', ip: 'auto', mac: '00:50:56:00:00:10' } });
      const setup = ipam(site);
      await runStage(setup, [held], testContext(site));
      await setup.close();
      const [lab] = await raw.call<{ id: number }[]>('cmdb.objects.read', {
        filter: { type: 'C__OBJTYPE__LAYER3_NET', title: 'lab-net' },
      });
      const { id: copy } = await raw.call<{ id: number }>('cmdb.object.create', {
        type: 'C__OBJTYPE__LAYER3_NET',
        title: 'lab-net',
      });
      const s = testSystem('twice-01', {
        network: { net: 'lab-net', ip: 'auto', mac: '00:50:56:00:00:11' },
        sources: { 'network.net': { file: 'systems/twice-01.yaml', line: 6, col: 18 } },
      });
      const explicit = testSystem('twice-02', {
        network: { net: 'lab-net', ip: '10.1.0.40', mac: '00:50:56:00:00:12' },
      });
      const moved = testSystem('held-01', { network: { net: 'lab-net', ip: '10.1.0.41', mac: '00:50:56:00:00:10' } });
      const other = testSystem('other-01', { network: { net: 'other-net', ip: 'auto', mac: '00:50:56:00:00:13' } });
      const why = (tail: string) =>
        `i-doit has 2 layer-3 nets titled "lab-net" (#${lab!.id}, #${copy})${tail}; shipshape does not guess which one is meant: give all but one another title in i-doit (or archive the ones that are leftovers), then run again.`;
      const p = ipam(site, [s, explicit, moved, other]);
      const obs = await p.observe(testContext(site));
      expect(p.foreseeCreate(s, p.desired(s)!)).toEqual([
        expect.objectContaining({
          path: 'network.net',
          refusal: 'net-ambiguous',
          refused: why(', named by network.net in systems/twice-01.yaml:6:18'),
        }),
      ]);
      expect(p.foreseeCreate(explicit, p.desired(explicit)!)).toEqual([
        expect.objectContaining({ refusal: 'net-ambiguous', refused: why('') }),
      ]);
      expect(p.foreseeCreate(other, p.desired(other)!)).toEqual([]); // another net: nothing to guess
      // An address already held there needs no allocation; a move within the net does.
      const mine = obs.resources.find((r) => r.system === 'held-01' && r.owned)!;
      expect(p.diff(held, p.desired(held)!, mine)).toEqual([]);
      expect(p.diff(moved, p.desired(moved)!, mine)).toEqual([
        expect.objectContaining({ path: 'network.ip', to: '10.1.0.41', refusal: 'net-ambiguous', refused: why('') }),
      ]);
      // Handed the create anyway, the allocation refuses it the same way and takes no address in either net.
      const err = (await p
        .create(s, p.desired(s)!, { ip: UNKNOWN, mac: '' }, testContext(site))
        .catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({
        refusal: 'net-ambiguous',
        outcome: 'ambiguous',
        message: why(', named by network.net in systems/twice-01.yaml:6:18'),
      });
      const again = ipam(site);
      const after = await again.observe(testContext(site));
      expect(after.resources.filter((r) => r.system === 'twice-01' && r.fields.ip)).toEqual([]);
      await again.close();
      await p.close();
    });

    it('reads the nets asked for in one request per run, whatever the number of systems and nets', async () => {
      const { site } = await emulator('foresee-count');
      const asking = (n: number) =>
        Array.from({ length: n }, (_, i) =>
          testSystem(`ask-${i}`, {
            network: { net: i % 2 ? 'lab-net' : 'other-net', ip: 'auto', mac: '00:50:56:00:00:0e' },
          }),
        );
      const trips = async (systems?: DesiredSystem[]) => {
        const p = ipam(site, systems);
        const { roundTrips } = await p.observe(testContext(site));
        await p.close();
        return roundTrips;
      };
      const none = await trips();
      expect([await trips(asking(1)), await trips(asking(40))]).toEqual([none + 1, none + 1]);
    });
  });
});
