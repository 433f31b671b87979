import { MemoryBatchProvider, MemoryIpam, MemoryProvider, transient } from '../../test/support/memory-provider';
import { site, system } from '../../test/support/fixtures';
import { plan as makePlan } from '../plan/planner';
import type { Observation, Provider, ProviderContext, Resolved, ResourceKind } from './contract';
import { applyPlan, type ApplyEvent } from './apply';
import type { DesiredSystem } from '../manifest/types';

const ctx = { site, log: console, lab: false } as unknown as ProviderContext;

async function run(
  systems: DesiredSystem[],
  providers: Provider[],
  opts: { maxDeletes?: number; concurrency?: number; stepConcurrency?: Partial<Record<ResourceKind, number>> } = {},
) {
  const observations = new Map<ResourceKind, Observation>();
  for (const p of providers) observations.set(p.kind, await p.observe(ctx));
  const plan = makePlan({ systems, site, providers, observations, maxDeletes: opts.maxDeletes ?? 3, now: new Date() });
  const events: ApplyEvent[] = [];
  const report = await applyPlan({
    plan,
    systems,
    providers,
    observations,
    ctx,
    concurrency: opts.concurrency ?? 4,
    ...(opts.stepConcurrency ? { stepConcurrency: opts.stepConcurrency } : {}),
    retry: { attempts: 3, baseDelayMs: 1 },
    onEvent: (e) => events.push(e),
  });
  return { plan, report, events };
}

const world = () => {
  const ipam = new MemoryIpam();
  const dns = new MemoryBatchProvider('dns', (s, r) => ({ a: `${s.name} A ${r.ip}` }));
  const vm = new MemoryProvider('vm', (s) => ({ cpu: s.cpu }));
  return { ipam, dns, vm, all: [vm, dns, ipam] as Provider[] };
};

describe('executor', () => {
  it('runs steps in order and hands the allocated address to later steps', async () => {
    const w = world();
    const { report, events } = await run([system('web-01')], w.all);
    expect(report.ok).toBe(true);
    expect(events.filter((e) => e.type === 'done').map((e) => e.kind)).toEqual(['ip', 'dns', 'vm']);
    const address = [...w.ipam.store.values()][0]!.fields.address;
    expect(address).toBe('10.0.0.10');
    expect([...w.dns.store.values()][0]!.fields.a).toBe('web-01 A 10.0.0.10');
  });

  it("a shard's run deletes what a (protected) system moved to another shard left in its DNS; the system is not deleted", async () => {
    const w = world();
    w.dns.seed('web-01', { a: 'web-01 A 10.0.0.7' }, true, 'web-01.dev');
    const moved = system('web-01', {
      network: { net: 'live-net', ip: 'auto', mac: '00:50:56:00:00:01' },
      lifecycle: { protect: true, vmOnDelete: 'destroy', cmdbOnDelete: 'archive', powerPolicy: 'never' },
    });
    const providers = [w.dns];
    const observations = new Map<ResourceKind, Observation>([['dns', await w.dns.observe()]]);
    const elsewhere = [{ system: moved, shard: 'live' }];
    const plan = makePlan({ systems: [], site, providers, observations, maxDeletes: 0, now: new Date(), elsewhere });
    const report = await applyPlan({
      plan,
      systems: [],
      elsewhere: [moved],
      providers,
      observations,
      ctx,
      concurrency: 4,
      retry: { attempts: 1, baseDelayMs: 1 },
    });
    expect(report.outcomes).toEqual([expect.objectContaining({ system: 'web-01', status: 'ok' })]);
    expect([...w.dns.store.values()]).toEqual([]);
  });

  it("a provider's progress reports become progress events of the step that is running", async () => {
    const w = world();
    const create = w.vm.create.bind(w.vm);
    (w.vm as unknown as { create: Provider['create'] }).create = async (sys, desired, _resolved, c) => {
      c.progress?.(sys.name, 'vm', 'clone task-7 running 40%');
      return create(sys, desired);
    };
    const { events } = await run([system('web-01')], w.all);
    expect(events.filter((e) => e.type === 'progress')).toEqual([
      { type: 'progress', system: 'web-01', kind: 'vm', action: 'create', detail: 'clone task-7 running 40%' },
    ]);
  });

  it('specialisation runs in dependency order; a system whose dependency failed is not specialised, independent ones are', async () => {
    const w = world();
    const specialise = new MemoryProvider('specialise', (s, r) => ({
      roles: `${s.name} sees ${(s.dependsOn ?? []).map((d) => `${d}=${r.others?.(d)?.ip}`).join(' ')}`,
    }));
    const db = system('db-01');
    const web = { ...system('web-01'), dependsOn: ['db-01'] };
    const lb = { ...system('lb-01'), dependsOn: ['web-01'] };
    const solo = system('solo-01');
    const { report, events } = await run([db, lb, solo, web], [...w.all, specialise], { concurrency: 4 });
    expect(report.ok).toBe(true);
    const order = events.filter((e) => e.type === 'done' && e.kind === 'specialise').map((e) => e.system);
    expect(order.indexOf('db-01')).toBeLessThan(order.indexOf('web-01'));
    expect(order.indexOf('web-01')).toBeLessThan(order.indexOf('lb-01'));
    // The dependent saw the address the db's ip step allocated in this same run.
    expect([...specialise.store.values()].find((r) => r.system === 'web-01')!.fields.roles).toMatch(
      /^web-01 sees db-01=10\.0\.0\.\d+$/,
    );

    const w2 = world();
    const sp2 = new MemoryProvider('specialise', (s) => ({ roles: s.name }));
    sp2.failWith = (op, name) => (op === 'create' && name === 'db-01' ? new Error('role failed') : undefined);
    const second = await run([db, lb, solo, web], [...w2.all, sp2]);
    expect(second.report.outcomes.map((o) => [o.system, o.status, o.error?.message])).toEqual([
      ['db-01', 'failed', 'role failed'],
      ['lb-01', 'failed', 'not specialised: web-01, which it depends on, did not come up; fix that and apply again'],
      ['solo-01', 'ok', undefined],
      ['web-01', 'failed', 'not specialised: db-01, which it depends on, did not come up; fix that and apply again'],
    ]);
    expect(sp2.ops('create').sort()).toEqual(['db-01', 'solo-01']); // tried; web-01 and lb-01 never started
  });

  it('converges: a second run changes nothing', async () => {
    const w = world();
    await run([system('web-01'), system('web-02')], w.all);
    const second = await run([system('web-01'), system('web-02')], w.all);
    expect(second.plan.summary).toMatchObject({ create: 0, update: 0, delete: 0, noop: 6 });
    expect(w.vm.ops('create')).toEqual(['web-01', 'web-02']);
    expect(second.report.outcomes.map((o) => o.status)).toEqual(['unchanged', 'unchanged']);
  });

  it('a site whose only backends deploy (DNS, no VMs) reports its systems after the deploy, not before', async () => {
    const w = world();
    let deployed = false;
    const commit = w.dns.commit.bind(w.dns);
    w.dns.commit = async (c) => {
      await new Promise((r) => setTimeout(r, 20));
      deployed = true;
      return commit(c);
    };
    const { report } = await run([system('web-01'), system('web-02')], [w.dns]);
    expect(deployed).toBe(true);
    expect(report.ok).toBe(true);
    expect(report.outcomes.map((o) => [o.system, o.status])).toEqual([
      ['web-01', 'ok'],
      ['web-02', 'ok'],
    ]);
  });

  it('commits a batching backend once per run however many systems changed', async () => {
    const w = world();
    const systems = Array.from({ length: 25 }, (_, i) => system(`web-${String(i).padStart(2, '0')}`));
    const { report } = await run(systems, w.all);
    expect(report.ok).toBe(true);
    expect(w.dns.commits).toBe(1);
    expect(w.dns.ops('create')).toHaveLength(25);
  });

  it("keeps going when one system fails, and skips only that system's later steps", async () => {
    const w = world();
    w.dns.failWith = (op, s) => (op === 'create' && s === 'bad-01' ? new Error('zone says no') : undefined);
    const { report } = await run([system('bad-01'), system('good-01')], w.all);
    expect(report.ok).toBe(false);
    expect(report.outcomes.find((o) => o.system === 'bad-01')).toMatchObject({
      status: 'failed',
      error: { kind: 'dns', message: 'zone says no' },
    });
    expect(report.outcomes.find((o) => o.system === 'good-01')!.status).toBe('ok');
    expect(w.vm.ops('create')).toEqual(['good-01']);
  });

  it('fails the systems whose batch did not land at commit', async () => {
    const w = world();
    w.dns.failCommitFor.add('web-02');
    const { report } = await run([system('web-01'), system('web-02')], w.all);
    expect(report.outcomes.find((o) => o.system === 'web-02')).toMatchObject({
      status: 'failed',
      error: { kind: 'dns' },
    });
    expect(w.vm.ops('create')).toEqual(['web-01']);
  });

  it('retries transient errors with backoff, not others', async () => {
    const w = world();
    let flaky = 2;
    w.vm.failWith = (op) => (op === 'create' && flaky-- > 0 ? transient() : undefined);
    const { report, events } = await run([system('web-01')], w.all);
    expect(report.ok).toBe(true);
    expect(events.filter((e) => e.type === 'retry')).toHaveLength(2);

    const w2 = world();
    let calls = 0;
    w2.vm.failWith = (op) => (op === 'create' && ++calls ? new Error('InvalidLogin') : undefined);
    const second = await run([system('web-01')], w2.all);
    expect(second.report.ok).toBe(false);
    expect(calls).toBe(1);
  });

  it('deletes a tombstoned system in reverse order, and only its marked resources', async () => {
    const w = world();
    await run([system('old-01'), system('web-01')], w.all);
    w.vm.seed('old-01', { cpu: 2 }, false, 'someone-elses-vm');
    const { report, events } = await run([system('old-01', { state: 'absent' }), system('web-01')], w.all);
    expect(report.ok).toBe(true);
    expect(events.filter((e) => e.type === 'done' && e.action === 'delete').map((e) => e.kind)).toEqual([
      'vm',
      'dns',
      'ip',
    ]);
    expect([...w.vm.store.values()].map((r) => r.id)).toContain('someone-elses-vm');
    expect(w.vm.ops('delete')).toEqual(['old-01']);
  });

  it('refuses a plan with more deletes than --max-deletes and changes nothing', async () => {
    const w = world();
    const names = ['a', 'b', 'c'];
    await run(
      names.map((n) => system(n)),
      w.all,
    );
    const before = w.vm.calls.length;
    await expect(
      run(
        names.map((n) => system(n, { state: 'absent' })),
        w.all,
        { maxDeletes: 2 },
      ),
    ).rejects.toThrow(/deletes 3 systems \(a, b, c\), more than --max-deletes 2/);
    expect(w.vm.calls.slice(before).map((c) => c.op)).toEqual(['observe']);
  });

  it('changes nothing for a system with a blocked action, and reports why', async () => {
    const w = world();
    w.vm.seed('web-01', { cpu: 2 }, false, 'vm-unmarked');
    const { report } = await run([system('web-01')], w.all);
    expect(report.outcomes[0]).toMatchObject({ status: 'blocked', error: { kind: 'vm' } });
    expect(w.ipam.ops('create')).toEqual([]);
  });

  it('never has more systems in flight than --concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    class Slow extends MemoryProvider {
      override async create(s: DesiredSystem, d: Record<string, unknown>) {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return super.create(s, d);
      }
    }
    const slow = new Slow('vm', (s) => ({ cpu: s.cpu }));
    const { report } = await run(
      Array.from({ length: 10 }, (_, i) => system(`s${i}`)),
      [slow],
      { concurrency: 3 },
    );
    expect(report.ok).toBe(true);
    expect(peak).toBe(3);
  });

  it("each step runs as many systems at once as the site's stepConcurrency gives it, others the global concurrency", async () => {
    const peak: Record<string, number> = {};
    const inFlight: Record<string, number> = {};
    class Slow extends MemoryProvider {
      override async create(s: DesiredSystem, d: Record<string, unknown>) {
        inFlight[this.kind] = (inFlight[this.kind] ?? 0) + 1;
        peak[this.kind] = Math.max(peak[this.kind] ?? 0, inFlight[this.kind]!);
        await new Promise((r) => setTimeout(r, 5));
        inFlight[this.kind]!--;
        return super.create(s, d);
      }
    }
    const vm = new Slow('vm', (s) => ({ cpu: s.cpu }));
    const cmdb = new Slow('cmdb', (s) => ({ cpu: s.cpu }));
    const specialise = new Slow('specialise', (s) => ({ roles: s.name }));
    const { report } = await run(
      Array.from({ length: 20 }, (_, i) => system(`s${i}`)),
      [vm, specialise, cmdb],
      { concurrency: 3, stepConcurrency: { vm: 8, specialise: 5 } },
    );
    expect(report.ok).toBe(true);
    // Also where systems go on one by one (vm, then specialisation and the CMDB per system): each its own width.
    expect(peak).toEqual({ vm: 8, specialise: 5, cmdb: 3 });
  });

  it("a system goes on to its install and roles as soon as its own VM is made, not after every system's", async () => {
    const w = world();
    const at: string[] = [];
    class Timed extends MemoryProvider {
      constructor(
        kind: ResourceKind,
        private readonly ms: (name: string) => number,
      ) {
        super(kind, (s) => ({ n: s.name }));
      }
      override async create(s: DesiredSystem, d: Record<string, unknown>) {
        await new Promise((r) => setTimeout(r, this.ms(s.name)));
        at.push(`${this.kind} ${s.name}`);
        return super.create(s, d);
      }
    }
    // The last system's clone is slow; the others' are quick.
    const vm = new Timed('vm', (n) => (n === 's5' ? 300 : 5));
    const install = new Timed('install', () => 5);
    const specialise = new Timed('specialise', () => 5);
    const systems = Array.from({ length: 6 }, (_, i) => system(`s${i}`));
    const { report, events } = await run(systems, [w.ipam, w.dns, vm, install, specialise], {
      stepConcurrency: { vm: 6 },
    });
    expect(report.ok).toBe(true);
    expect(at.indexOf('specialise s0')).toBeLessThan(at.indexOf('vm s5'));
    expect(at.indexOf('install s4')).toBeLessThan(at.indexOf('vm s5'));
    // DNS (a batch deployed once) is still deployed for every system before the first VM is made.
    const commit = events.findIndex((e) => e.type === 'commit' && e.kind === 'dns');
    const firstVm = events.findIndex((e) => e.type === 'start' && e.kind === 'vm');
    expect(commit).toBeGreaterThanOrEqual(0);
    expect(commit).toBeLessThan(firstVm);
    expect(w.dns.commits).toBe(1);
  });
  it('a VM the install step boots is cloned while DNS deploys, and booted only after the deploy; a failed address or deploy installs nothing', async () => {
    const w = world();
    const order: string[] = [];
    // The deploy takes a while: the clones go on meanwhile.
    const commit = w.dns.commit.bind(w.dns);
    w.dns.commit = async (c) => {
      order.push('dns commit start');
      await new Promise((r) => setTimeout(r, 100));
      order.push('dns commit done');
      return commit(c);
    };
    w.dns.failCommitFor.add('late-01');
    w.ipam.failWith = (op, s) => (op === 'create' && s === 'noip-01' ? new Error('net full') : undefined);
    const vmCreate = w.vm.create.bind(w.vm);
    w.vm.create = async (s, d) => {
      order.push(`vm ${s.name}`);
      return vmCreate(s, d);
    };
    // Like the install step: it boots the VM itself, so the vm step leaves a new VM off (`bootsVm`).
    class Install extends MemoryProvider {
      promises(): Partial<Resolved> {
        return { bootsVm: true };
      }
      override async create(s: DesiredSystem, d: Record<string, unknown>) {
        order.push(`install ${s.name}`);
        return super.create(s, d);
      }
    }
    const install = new Install('install', (s) => ({ os: s.os }));
    const systems = ['web-01', 'web-02', 'late-01', 'noip-01'].map((n) => system(n));
    const { report } = await run(systems, [w.ipam, w.dns, w.vm, install]);
    const at = (x: string) => order.indexOf(x);
    expect(at('vm web-01')).toBeGreaterThanOrEqual(0);
    expect(at('vm web-01')).toBeLessThan(at('dns commit done'));
    expect(at('vm web-02')).toBeLessThan(at('dns commit done'));
    expect(at('install web-01')).toBeGreaterThan(at('dns commit done'));
    expect(at('install web-02')).toBeGreaterThan(at('dns commit done'));
    // Its address failed: no VM. Its deploy failed: the VM was made (off), nothing boots it.
    expect(w.vm.ops('create')).not.toContain('noip-01');
    expect(w.vm.ops('create')).toContain('late-01');
    expect(install.ops('create').sort()).toEqual(['web-01', 'web-02']);
    const status = Object.fromEntries(report.outcomes.map((o) => [o.system, [o.status, o.error?.kind]]));
    expect(status).toEqual({
      'late-01': ['failed', 'dns'],
      'noip-01': ['failed', 'ip'],
      'web-01': ['ok', undefined],
      'web-02': ['ok', undefined],
    });
  });

  it('a vm step that may power a VM on (no install step boots it) waits for the DNS deploy', async () => {
    const w = world();
    const order: string[] = [];
    const commit = w.dns.commit.bind(w.dns);
    w.dns.commit = async (c) => {
      await new Promise((r) => setTimeout(r, 50));
      order.push('dns commit done');
      return commit(c);
    };
    const vmCreate = w.vm.create.bind(w.vm);
    w.vm.create = async (s, d) => {
      order.push(`vm ${s.name}`);
      return vmCreate(s, d);
    };
    await run([system('web-01')], w.all);
    expect(order).toEqual(['dns commit done', 'vm web-01']);
  });

  it("a step waiting for another system's step of its stage (waitsFor) starts after it at any concurrency, and fails when that one failed", async () => {
    for (const concurrency of [1, 4]) {
      const w = world();
      // The waiting system sorts first: a pool taking steps in list order would fill its one slot with it.
      const systems = [system('a-claimant'), system('z-holder')];
      const observations = new Map<ResourceKind, Observation>();
      for (const p of w.all) observations.set(p.kind, await p.observe(ctx));
      const planned = makePlan({ systems, site, providers: w.all, observations, maxDeletes: 3, now: new Date() });
      const plan = {
        ...planned,
        actions: planned.actions.map((a) =>
          a.system === 'a-claimant' && a.kind === 'ip'
            ? { ...a, waitsFor: [{ system: 'z-holder', kind: 'ip' as const }] }
            : a,
        ),
      };
      const slow = w.ipam.create.bind(w.ipam);
      w.ipam.create = async (s, d) => {
        if (s.name === 'z-holder') await new Promise((r) => setTimeout(r, 30));
        return slow(s, d);
      };
      const events: ApplyEvent[] = [];
      const apply = () =>
        applyPlan({
          plan,
          systems,
          providers: w.all,
          observations,
          ctx,
          concurrency,
          retry: { attempts: 1, baseDelayMs: 1 },
          onEvent: (e) => events.push(e),
        });
      const report = await apply();
      expect(report.ok).toBe(true);
      const at = (type: string, name: string) =>
        events.findIndex((e) => e.type === type && e.kind === 'ip' && e.system === name);
      expect(at('done', 'z-holder')).toBeLessThan(at('start', 'a-claimant'));
      // Only the ip step waited: both systems went on to their later steps.
      expect(events.filter((e) => e.type === 'done' && e.kind === 'vm').length).toBe(2);

      // The holder's step fails: the claim is not attempted and says why; nothing hangs.
      const again = world();
      again.ipam.failWith = (op, name) =>
        op === 'create' && name === 'z-holder' ? new Error('i-doit said no') : undefined;
      const failed = await applyPlan({
        plan,
        systems,
        providers: again.all,
        observations,
        ctx,
        concurrency,
        retry: { attempts: 1, baseDelayMs: 1 },
      });
      const claimant = failed.outcomes.find((o) => o.system === 'a-claimant');
      expect(claimant?.status).toBe('failed');
      expect(claimant?.error?.message).toMatch(
        /takes what z-holder holds, and z-holder's ip step, which frees it first, failed/,
      );
      expect(again.ipam.calls.filter((c) => c.op === 'create').map((c) => c.system)).toEqual(['z-holder']);
    }
  });
});
