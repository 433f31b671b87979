import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MemoryIpam, MemoryProvider } from '../../test/support/memory-provider';
import { site, system } from '../../test/support/fixtures';
import { plan as makePlan } from '../plan/planner';
import type { DesiredSystem } from '../manifest/types';
import type { CreateIntent, Observation, ObservedResource, Provider, ProviderContext, ResourceKind } from './contract';
import { applyPlan, resolveInterrupted, type ApplyEvent } from './apply';
import { CreateJournal } from './journal';
import { tempDir } from '../../test/helpers/tmp';

const ctx = { site, log: { info() {}, warn() {}, error() {}, debug() {} }, lab: false } as unknown as ProviderContext;

async function run(systems: DesiredSystem[], providers: Provider[], journal: CreateJournal) {
  const events: ApplyEvent[] = [];
  await resolveInterrupted({ journal, providers, systems, ctx, onEvent: (e) => events.push(e) });
  const observations = new Map<ResourceKind, Observation>();
  for (const p of providers) observations.set(p.kind, await p.observe(ctx));
  const plan = makePlan({ systems, site, providers, observations, maxDeletes: 3, now: new Date() });
  const report = await applyPlan({
    plan,
    systems,
    providers,
    observations,
    ctx,
    concurrency: 2,
    retry: { attempts: 1, baseDelayMs: 1 },
    journal,
    onEvent: (e) => events.push(e),
  });
  return { report, events, warnings: events.filter((e) => e.type === 'warn').map((e) => e.error) };
}

/** A VM-like provider that notes a task id in the journal, can fail after "making" the resource, and can find it again. */
class HalfMaking extends MemoryProvider {
  failAfterMaking = false;
  adoptFails?: Error;
  seenDuringCreate: string[] = [];
  constructor(private readonly journal: CreateJournal) {
    super('vm', (s) => ({ cpu: s.cpu }));
  }
  override async create(
    s: DesiredSystem,
    desired: Record<string, unknown>,
    _r?: unknown,
    _c?: unknown,
    intent?: CreateIntent,
  ): Promise<ObservedResource> {
    this.seenDuringCreate = this.journal.list().map((e) => `${e.kind}/${e.system}`);
    intent?.note({ task: `task-${s.name}` });
    const made = await super.create(s, desired);
    if (this.failAfterMaking) {
      this.store.set(made.id, { ...made, owned: false }); // born unmarked, like a clone whose marker was dropped
      throw new Error('reconfigure failed: FileNotFound');
    }
    return made;
  }
  async adoptCreated(s: DesiredSystem, detail: Record<string, string>): Promise<ObservedResource | undefined> {
    if (this.adoptFails) throw this.adoptFails;
    if (detail.task !== `task-${s.name}`) return undefined;
    const left = [...this.store.values()].find((r) => r.system === s.name);
    if (left) this.store.set(left.id, { ...left, owned: true });
    return left;
  }
}

const journalDir = () => new CreateJournal(join(tempDir('shipshape-journal-'), 'journal'));

describe('the engine create journal', () => {
  it("records every kind's create before it runs and leaves nothing after a converged run", async () => {
    const journal = journalDir();
    const vm = new HalfMaking(journal);
    const { report } = await run([system('web-01')], [new MemoryIpam(), vm], journal);
    expect(vm.seenDuringCreate).toEqual(['vm/web-01']);
    expect(report).toMatchObject({ ok: true, journalLeft: [] });
    expect(journal.list()).toEqual([]);
  });

  it('a failed create is resolved in the same run: what it left is found, marked and shown by the next plan', async () => {
    const journal = journalDir();
    const vm = new HalfMaking(journal);
    vm.failAfterMaking = true;
    const first = await run([system('web-01')], [vm], journal);
    expect(first.report.ok).toBe(false);
    expect(first.warnings).toEqual([
      expect.stringMatching(
        /the create failed \(reconfigure failed: FileNotFound\): found what it made \(vm-1\), marked/,
      ),
    ]);
    expect(journal.list()).toEqual([]);
    vm.failAfterMaking = false;
    const observations = new Map([['vm' as ResourceKind, await vm.observe()]]);
    const next = makePlan({
      systems: [system('web-01')],
      site,
      providers: [vm],
      observations,
      maxDeletes: 3,
      now: new Date(),
    });
    expect(next.actions.map((a) => a.action)).toEqual(['noop']); // no second create: the half-made one is ours
  });

  it('keeps the entry (and fails the run) only when the backend cannot say what a failed create left', async () => {
    const journal = journalDir();
    const vm = new HalfMaking(journal);
    vm.failAfterMaking = true;
    vm.adoptFails = new Error('vCenter unreachable');
    const { report, warnings } = await run([system('web-01')], [vm], journal);
    expect(report.journalLeft).toEqual([journal.pathFor('vm', 'web-01')]);
    expect(warnings).toEqual([
      expect.stringMatching(/vCenter unreachable \(kept the create journal .*web-01.json for the next run\)/),
    ]);
    vm.adoptFails = undefined;
    vm.failAfterMaking = false;
    const again = await run([system('web-01')], [vm], journal);
    expect(again.report).toMatchObject({ ok: true, journalLeft: [] });
    expect([...vm.store.values()]).toHaveLength(1);
  });

  it('clears entries of an interrupted run whose resource exists, or whose system is gone, and says so', async () => {
    const journal = journalDir();
    const ipam = new MemoryIpam();
    await run([system('web-01')], [ipam], journal);
    for (const [kind, name] of [
      ['ip', 'web-01'],
      ['dns', 'old-01'],
    ] as const) {
      mkdirSync(dirname(journal.pathFor(kind, name)), { recursive: true });
      writeFileSync(
        journal.pathFor(kind, name),
        JSON.stringify({ system: name, startedAt: '2026-11-30T00:00:00Z', detail: {} }),
      );
    }
    const { report, warnings } = await run([system('web-01')], [ipam], journal);
    expect(report).toMatchObject({ ok: true, journalLeft: [] });
    expect(warnings).toEqual([expect.stringMatching(/old-01|backend this site no longer configures/)]);
    expect(journal.list()).toEqual([]);
  });

  it('a torn journal file is moved aside and read as an interrupted create without details', () => {
    const journal = journalDir();
    mkdirSync(dirname(journal.pathFor('vm', 'web-01')), { recursive: true });
    writeFileSync(journal.pathFor('vm', 'web-01'), '{"system": "web-0');
    expect(journal.read('vm', 'web-01')).toMatchObject({ system: 'web-01', detail: {} });
    expect(readdirSync(dirname(journal.pathFor('vm', 'web-01'))).sort()).toEqual([
      'web-01.json',
      expect.stringMatching(/^web-01\.json\.corrupt-/),
    ]);
  });
});
