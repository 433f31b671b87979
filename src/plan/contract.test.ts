/**
 * The plan as a contract, without backends: per-action digests (a change to what an action touches makes
 * it stale, a change elsewhere does not), targeting (systems, labels, steps) and the engine applying a
 * scoped plan with values from the steps it leaves out.
 */
import { UNKNOWN, UserError, type Observation, type Provider, type ResourceKind } from '../engine/contract';
import { applyPlan } from '../engine/apply';
import { MemoryIpam, MemoryProvider } from '../../test/support/memory-provider';
import { site, system } from '../../test/support/fixtures';
import { silentLog } from '../../test/helpers/log';
import { plan } from './planner';
import { assertCheckable, staleActions } from './stale';
import { parseKinds, parseSelector, selectSystems, targetPlan } from './target';
import type { DesiredSystem } from '../manifest/types';

const vm = () => new MemoryProvider('vm', (s) => ({ cpu: s.cpu, memoryMiB: s.memoryMiB }), { cpu: {} });
const dns = () => new MemoryProvider('dns', (s, r) => ({ a: `${s.name} A ${r.ip}` }));

async function observe(providers: Provider[]): Promise<Map<ResourceKind, Observation>> {
  const m = new Map<ResourceKind, Observation>();
  for (const p of providers) m.set(p.kind, await p.observe({} as never));
  return m;
}
async function planOf(systems: DesiredSystem[], providers: Provider[]) {
  return plan({ systems, site, providers, observations: await observe(providers), maxDeletes: 3, now: new Date() });
}

describe('per-action digests', () => {
  const systems = [system('web-01', { cpu: 4 }), system('web-02', { cpu: 4 })];
  let p: MemoryProvider;
  beforeEach(() => {
    p = vm();
    p.seed('web-01', { cpu: 2, memoryMiB: 4096 });
    p.seed('web-02', { cpu: 2, memoryMiB: 4096 });
  });

  it('every action that changes something carries both; equal inputs give equal digests', async () => {
    const a = await planOf(systems, [p]);
    const b = await planOf(systems, [p]);
    expect(a.actions.map((x) => x.action)).toEqual(['update', 'update']);
    for (const x of a.actions) {
      expect(x.observedDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(x.desiredDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    expect(staleActions(a, b)).toEqual([]);
  });

  it('a noop carries no digests (it is never applied) and a saved plan holding noops is checkable', async () => {
    const held = [system('web-01', { cpu: 2 }), system('web-02', { cpu: 4 })];
    const saved = await planOf(held, [p]);
    const noop = saved.actions.find((x) => x.system === 'web-01')!;
    expect(noop.action).toBe('noop');
    expect(noop).not.toHaveProperty('observedDigest');
    expect(noop).not.toHaveProperty('desiredDigest');
    expect(() => assertCheckable(saved, 'plan.json')).not.toThrow();
    // Drift on the noop's VM after the plan: nothing of it is applied, so the saved plan stays valid.
    [...p.store.values()].find((r) => r.system === 'web-01')!.fields.cpu = 3;
    expect(staleActions(saved, await planOf(held, [p]))).toEqual([]);
  });

  it('drift on another system leaves a plan of web-01 valid; a change to its own VM makes it stale, saying what changed', async () => {
    const saved = targetPlan(await planOf(systems, [p]), systems, { systems: ['web-01'] });
    [...p.store.values()].find((r) => r.system === 'web-02')!.fields.memoryMiB = 8192;
    expect(staleActions(saved, await planOf(systems, [p]))).toEqual([]);
    [...p.store.values()].find((r) => r.system === 'web-01')!.fields.cpu = 3;
    const stale = staleActions(saved, await planOf(systems, [p]));
    expect(stale).toHaveLength(1);
    expect(stale[0]!.message).toMatch(
      /^web-01 vm \(vm-seed-\d+\) changed in the VM platform since the plan was made \(.*\): the plan has update cpu 2 → 4, now it would be update cpu 3 → 4$/,
    );
  });

  it('a field outside the diff changed, or the manifest changed: stale with its own sentence', async () => {
    const saved = await planOf(systems, [p]);
    [...p.store.values()].find((r) => r.system === 'web-01')!.fields.note = 'edited by hand';
    expect(staleActions(saved, await planOf(systems, [p]))[0]!.message).toMatch(
      /the plan has update cpu 2 → 4, now it would be the same, but other fields of what it touches changed/,
    );
    delete [...p.store.values()].find((r) => r.system === 'web-01')!.fields.note;
    const edited = [system('web-01', { cpu: 4, memoryMiB: 2048 }), systems[1]!];
    expect(staleActions(saved, await planOf(edited, [p]))[0]!.message).toMatch(
      /web-01 vm .*: its manifest, profile, roles or the site config changed since the plan was made: the plan has update cpu 2 → 4, now it would be update cpu 2 → 4, memoryMiB 4096 → 2048/,
    );
  });

  it('the change is no longer needed (the manifest reverted, or the world changed to match): stale, naming both causes', async () => {
    const saved = await planOf(systems, [p]);
    const needless =
      /^web-01 vm \(vm-seed-\d+\): the plan has update cpu 2 → 4, but nothing is to change there any more: since the plan was made \(.*\) either its manifest, profile, roles or the site config now ask for what is already there \(a change reverted\), or the change was made in the VM platform already \(by an earlier apply of this plan, or by hand\)$/;
    const reverted = [system('web-01', { cpu: 2 }), systems[1]!];
    const byManifest = staleActions(saved, await planOf(reverted, [p]));
    expect(byManifest.map((s) => s.system)).toEqual(['web-01']);
    expect(byManifest[0]!.message).toMatch(needless);
    [...p.store.values()].find((r) => r.system === 'web-01')!.fields.cpu = 4;
    expect(staleActions(saved, await planOf(systems, [p]))[0]!.message).toMatch(needless);
  });

  it("a dns action's digest covers the address the IPAM hands it", async () => {
    const ipam = new MemoryIpam();
    const d = dns();
    const one = [system('web-01')];
    ipam.seed('web-01', { net: 'dev-net', address: '10.0.0.10' });
    d.seed('web-01', { a: 'web-01 A 10.0.0.9' });
    const saved = await planOf(one, [ipam, d]);
    expect(saved.actions.find((a) => a.kind === 'dns')!.action).toBe('update');
    [...ipam.store.values()][0]!.fields.address = '10.0.0.11';
    expect(staleActions(saved, await planOf(one, [ipam, d])).map((s) => s.kind)).toEqual(['dns']);
  });
});

describe('targeting', () => {
  const systems = [
    system('web-01', { cpu: 4, labels: { env: 'dev', team: 'shop' } }),
    system('db-01', { cpu: 4, labels: { env: 'dev', team: 'data' } }),
    system('web-live', { cpu: 4, labels: { env: 'live', team: 'shop' } }),
  ];

  it('--system, --selector and --kind combine as AND; the plan says its scope', async () => {
    const full = await planOf(systems, [new MemoryIpam(), vm(), dns()]);
    const bySel = targetPlan(full, systems, { selector: parseSelector(['team=shop,env=dev']) });
    expect(new Set(bySel.actions.map((a) => a.system))).toEqual(new Set(['web-01']));
    const byKind = targetPlan(full, systems, { systems: ['web-01', 'db-01'], kinds: parseKinds(['vm']) });
    expect(byKind.actions.map((a) => `${a.system}/${a.kind}`).sort()).toEqual(['db-01/vm', 'web-01/vm']);
    expect(byKind.scope).toBe('--system web-01,db-01 --kind vm');
    expect(byKind.summary.create).toBe(2);
  });

  it('a step whose values come from a left-out step yet to run is blocked, saying what to add', async () => {
    const full = await planOf([systems[0]!], [new MemoryIpam(), dns()]);
    const onlyDns = targetPlan(full, [systems[0]!], { kinds: ['dns'] });
    expect(JSON.stringify(onlyDns.actions[0]!.changes)).toContain(UNKNOWN);
    expect(onlyDns.actions[0]!.blocked).toMatch(
      /needs values known only after ip create, which --kind leaves out; add ip/,
    );
  });

  it('a selector label no system carries is an error naming the labels in use; a value may select none', () => {
    expect(() => targetPlan({ actions: [] } as never, systems, { selector: { teams: 'shop' } })).toThrow(
      /--selector: no system carries the label "teams"; the labels in use are env, team/,
    );
    expect(targetPlan({ actions: [], warnings: [] } as never, systems, { selector: { team: 'ops' } }).actions).toEqual(
      [],
    );
  });

  it('bad targets are clear errors', () => {
    expect(() => parseSelector(['team'])).toThrow(/--selector "team": write it as label=value/);
    expect(() => parseKinds(['vm,dnz'])).toThrow(/--kind "dnz": not a step; the steps are ip, dns, dhcp/);
    expect(() => targetPlan({ actions: [] } as never, systems, { systems: ['web-99', 'plan.json'] })).toThrow(
      UserError,
    );
    expect(() => targetPlan({ actions: [] } as never, systems, { systems: ['plan.json'] })).toThrow(
      /no manifest declares it \(a plan file\? give it before --system\)/,
    );
  });

  it('with several sites, a name of another site selects nothing here and is said, not an error', async () => {
    const full = await planOf(systems, [vm()]);
    const said: string[][] = [];
    expect(selectSystems(systems, { systems: ['web-99'] }, (n) => said.push(n))).toEqual(new Set(['web-99']));
    expect(said).toEqual([['web-99']]);
    expect(targetPlan(full, systems, { systems: ['web-99'] }, true).actions).toEqual([]);
  });

  it('the engine applies a --kind dns plan with the address the (left-out, unchanged) IPAM holds', async () => {
    const ipam = new MemoryIpam();
    const d = dns();
    const v = vm();
    const one = [system('web-01')];
    ipam.seed('web-01', { net: 'dev-net', address: '10.0.0.10' });
    const observations = await observe([ipam, v, d]);
    const full = plan({ systems: one, site, providers: [ipam, v, d], observations, maxDeletes: 3, now: new Date() });
    const scoped = targetPlan(full, one, { kinds: ['dns'] });
    const report = await applyPlan({
      plan: scoped,
      systems: one,
      providers: [ipam, v, d],
      observations,
      ctx: { site, log: silentLog, lab: false },
      concurrency: 1,
      retry: { attempts: 1, baseDelayMs: 1 },
    });
    expect(report.ok).toBe(true);
    expect(v.ops('create')).toEqual([]); // the VM create was left out
    expect([...d.store.values()][0]!.fields.a).toBe('web-01 A 10.0.0.10');
  });
});
