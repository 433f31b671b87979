/**
 * The conformance suite every backend runs against its real server or emulator: one set of
 * behaviours, parameterised by a harness per backend. A harness starts the server, builds the
 * step's provider from the site section exactly as the registry does, and knows one name the
 * operator owns (a resource without shipshape's marker).
 *
 * A case that cannot apply to a kind is named in the harness's `notApplicable` with the reason, and
 * the suite checks that declaration: a case whose hook is missing and that is not declared, or one
 * declared while its hook is there, fails the suite at registration.
 */
import { tempDir } from '../helpers/tmp';
import { resolveInterrupted } from '../../src/engine/apply';
import type { Fields, Provider, ProviderContext, Resolved } from '../../src/engine/contract';
import { CreateJournal } from '../../src/engine/journal';
import { codeOf } from '../../src/engine/outcome';
import type { DesiredSystem } from '../../src/manifest/types';
import { runStage } from '../helpers/systems';

/** The suite's cases, by id (what `notApplicable` names). */
export const CASES = {
  idempotent: 'create is idempotent: a second run changes nothing',
  zeroDiff: 'observe after create shows zero diff',
  update: 'update converges: one run changes it, the next finds nothing to do',
  unowned: 'a resource not carrying the marker is reported not owned, and a tombstone of its name leaves it alone',
  collider: 'a system that needs what an unmarked resource holds is refused, and the resource is untouched',
  forged: 'a forged marker is reported not owned, and neither a manifest nor a tombstone of its name changes it',
  crash: 'a crash between the recorded intent and the create is recovered: one resource each, the journal cleared',
  roundTrips: 'round trips of observe do not grow with the number of resources',
  badCredentials: 'refused credentials give one clear error that names the server and leaks no secret',
} as const;
export type CaseId = keyof typeof CASES;

/** The run helpers a harness's own cases (`also`) use: one run of the stage, one observation. */
export interface Runs {
  run(systems: DesiredSystem[]): ReturnType<typeof runStage>;
  observe(): ReturnType<Provider<Fields>['observe']>;
}

export interface Harness {
  /** Shown in the test names: `<kind>/<backend id>`. */
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * A fresh provider (one run), connected with good credentials. `systems`: the run's manifest, for
   * kinds whose provider is handed the site's systems at construction (the engine's registry does).
   */
  provider(systems?: DesiredSystem[]): Provider<Fields>;
  /**
   * A fresh provider, and its run's context, whose credentials the server refuses. `act` is where
   * the credentials are first used (default: observe); its error is the one the operator sees.
   */
  bad?(): { provider: Provider<Fields>; ctx: ProviderContext; act?: () => Promise<unknown> };
  ctx(): ProviderContext;
  /** The n-th test system (distinct names and addresses); `changed` gives it a different desired value. */
  system(n: number, changed?: boolean): DesiredSystem;
  resolved(s: DesiredSystem): Resolved;
  /** Picks the operator's resource (no marker) from an observation: shipshape must never touch it. */
  isForeign?(r: { id: string; system: string }): boolean;
  /** What the operator's resources hold outside the observation (file bytes, …): compared before and after. */
  evidence?(): Promise<unknown>;
  /**
   * A system that needs what the operator's resource holds (its name, MAC or address): its create is
   * refused with `collides` (or `not-owned`, where the resource holds the system's own name). Absent where the backend has nothing a system needs exclusively (a CMDB
   * documents beside the operator's objects).
   */
  collider?(): DesiredSystem | DesiredSystem[];
  /** The outcome code each collider is refused with (default: collides, or not-owned for its name). */
  colliderCode?: RegExp;
  /** The name a tombstone of the operator's resource would carry (the system it is observed as). */
  foreignName?: string;
  /**
   * Puts system 1 where an update is due, for kinds where no manifest edit can ask for one (a built
   * install is never redone: what an update does there is finish an attempt that failed).
   */
  beforeUpdate?(runs: Runs): Promise<void>;
  /**
   * For backends that seal their markers (src/ownership; the harness's site has `ownership:`): puts a
   * resource into the backend that carries shipshape's marker for a new system name, either without a
   * seal or with a seal that is not this site's for it, and returns that name.
   */
  forge?(how: 'unsealed' | 'wrongly sealed'): Promise<string>;
  /** The counts the round-trip check compares (real servers on 2 shared cores: kept small). */
  scale?: [number, number];
  /** Cases that do not apply to this kind, each with the reason an operator would accept. */
  notApplicable?: Partial<Record<CaseId, string>>;
  /** The kind's own cases, registered inside the suite's describe (its server is up). */
  also?(runs: Runs): void;
}

/** Which optional cases a harness provides the hooks for. */
function provided(h: Harness): Record<CaseId, boolean> {
  return {
    idempotent: true,
    zeroDiff: true,
    update: true,
    unowned: !!h.isForeign && h.foreignName !== undefined,
    collider: !!h.collider,
    forged: !!h.forge,
    crash: true,
    roundTrips: !!h.scale,
    badCredentials: !!h.bad,
  };
}

/** The cases the harness runs; throws when a case is neither provided for nor declared not to apply. */
export function casesOf(h: Harness): Set<CaseId> {
  const has = provided(h);
  const na = h.notApplicable ?? {};
  const problems: string[] = [];
  for (const id of Object.keys(CASES) as CaseId[]) {
    const reason = na[id];
    if (reason !== undefined && (has[id] || !reason.trim()))
      problems.push(`${id}: declared not applicable ${reason.trim() ? 'but its hook is given' : 'without a reason'}`);
    if (reason === undefined && !has[id]) problems.push(`${id}: no hook and no reason why it does not apply`);
  }
  if (problems.length) throw new Error(`conformance harness ${h.name}: ${problems.join('; ')}`);
  return new Set((Object.keys(CASES) as CaseId[]).filter((id) => has[id]));
}

const absent = (s: DesiredSystem): DesiredSystem => ({ ...s, state: 'absent' });

export function conformance(h: Harness): void {
  const cases = casesOf(h);
  const when = (id: CaseId) => (cases.has(id) ? it : undefined);
  describe(`conformance: ${h.name}`, () => {
    beforeAll(() => h.start(), 120_000);
    afterAll(() => h.stop());

    // One run: a fresh provider, closed at the end (Logout, SSH connections), as the engine does.
    const run = async (systems: DesiredSystem[]) => {
      const p = h.provider(systems);
      try {
        return await runStage(p, systems, (s) => h.resolved(s), h.ctx());
      } finally {
        await p.close?.();
      }
    };
    const observe = async () => {
      const p = h.provider();
      try {
        return await p.observe(h.ctx());
      } finally {
        await p.close?.();
      }
    };

    it('create is idempotent: a second run changes nothing', async () => {
      const systems = [h.system(1), h.system(2)];
      const first = await run(systems);
      expect({ created: first.created.sort(), refused: first.refused, failed: first.failed }).toEqual({
        created: ['c-1', 'c-2'],
        refused: [],
        failed: [],
      });
      const second = await run(systems);
      expect({ created: second.created, updated: second.updated, unchanged: second.unchanged.sort() }).toEqual({
        created: [],
        updated: [],
        unchanged: ['c-1', 'c-2'],
      });
    });

    it('observe after create shows zero diff', async () => {
      const p = h.provider();
      const obs = await p.observe(h.ctx());
      for (const s of [h.system(1), h.system(2)]) {
        const mine = obs.resources.filter((r) => r.owned && r.system === s.name);
        expect(mine).toHaveLength(1);
        expect(p.diff(s, p.desired(s, h.resolved(s), h.ctx().site)!, mine[0]!)).toEqual([]);
      }
      await p.close?.();
    });

    it('update converges: one run changes it, the next finds nothing to do', async () => {
      await h.beforeUpdate?.({ run, observe });
      const changed = h.system(1, true);
      expect((await run([changed])).updated).toEqual(['c-1']);
      const again = await run([changed]);
      expect({ updated: again.updated, unchanged: again.unchanged }).toEqual({ updated: [], unchanged: ['c-1'] });
    });

    when('unowned')?.(CASES.unowned, async () => {
      const isForeign = h.isForeign!;
      const evidence = await h.evidence?.();
      const before = (await observe()).resources.filter((r) => isForeign(r));
      expect(before.length).toBeGreaterThan(0);
      expect(before.every((r) => !r.owned)).toBe(true);
      const r = await run([{ ...absent(h.system(0)), name: h.foreignName! }]);
      expect({ deleted: r.deleted, refused: r.refused, failed: r.failed }).toEqual({
        deleted: [],
        refused: [],
        failed: [],
      });
      const after = (await observe()).resources.filter((x) => isForeign(x));
      expect(after).toEqual(before);
      expect(await h.evidence?.()).toEqual(evidence);
    });

    if (h.collider) {
      const collider = h.collider;
      const isForeign = h.isForeign ?? (() => false);
      it(`${CASES.collider} (${h.colliderCode ?? 'collides, or not-owned for its name'})`, async () => {
        const evidence = await h.evidence?.();
        const before = (await observe()).resources.filter((r) => isForeign(r));
        const others = [collider()].flat();
        const r = await run(others);
        // Refused before anything is sent, or at commit: either way nothing of it lands, and it says why.
        // `not-owned` where the resource holds the system's own name (the plan blocks it the same way).
        expect([...r.refused, ...r.failed].map((x) => codeOf(x.error))).toEqual(
          others.map(() => expect.stringMatching(h.colliderCode ?? /^(collides|not-owned)$/)),
        );
        await run(others.map(absent));
        const after = (await observe()).resources.filter((x) => isForeign(x));
        expect(after).toEqual(before);
        expect(await h.evidence?.()).toEqual(evidence);
        await run(others.map(absent));
      });
    }

    if (h.forge) {
      const forge = h.forge;
      it.each(['unsealed', 'wrongly sealed'] as const)(
        'a forged marker (%s) is reported not owned, and neither a manifest nor a tombstone of its name changes it',
        async (how) => {
          const name = await forge(how);
          const forged = async () => (await observe()).resources.filter((r) => r.system === name && !r.owned);
          const before = await forged();
          expect(before.length).toBeGreaterThan(0);
          expect((await observe()).resources.filter((r) => r.system === name && r.owned)).toEqual([]);
          const declared = { ...h.system(5), name };
          await run([declared]);
          expect(await forged()).toEqual(before);
          const r = await run([absent(declared)]);
          expect(r.failed).toEqual([]);
          expect(await forged()).toEqual(before);
        },
        120_000,
      );
    }

    it('a crash between the recorded intent and the create is recovered: one resource each, the journal cleared', async () => {
      const journal = new CreateJournal(tempDir('shipshape-conformance-journal-'));
      const p = h.provider();
      const ctx = h.ctx();
      // Killed after the engine recorded the intent, before the create was sent.
      const before = h.system(3);
      journal.begin(p.kind, before.name);
      // Killed after the create landed, before the engine cleared its intent.
      const after = h.system(4);
      await p.observe(ctx);
      const intent = journal.begin(p.kind, after.name);
      await p.create(after, p.desired(after, h.resolved(after), ctx.site)!, h.resolved(after), ctx, intent);
      if (p.commit) expect((await p.commit(ctx)).failed).toEqual([]);
      await p.close?.();

      // The next run: the engine resolves the interrupted entries before it observes and plans.
      const next = h.provider();
      await resolveInterrupted({ journal, providers: [next], systems: [before, after], ctx });
      await next.close?.();
      expect(journal.list()).toEqual([]);
      const r = await run([before, after]);
      expect({ created: r.created, unchanged: r.unchanged, refused: r.refused, failed: r.failed }).toEqual({
        created: [before.name],
        unchanged: [after.name],
        refused: [],
        failed: [],
      });
      const obs = await observe();
      for (const s of [before, after])
        expect(obs.resources.filter((x) => x.system === s.name).map((x) => x.owned)).toEqual([true]);
      await run([absent(before), absent(after)]);
    }, 120_000);

    when('roundTrips')?.(
      CASES.roundTrips,
      async () => {
        const [few, many] = h.scale!;
        const all = Array.from({ length: many }, (_, i) => h.system(100 + i));
        await run(all.slice(0, few));
        const a = (await observe()).roundTrips;
        await run(all);
        const b = (await observe()).roundTrips;
        expect(b).toBe(a);
        const cleaned = await run(all.map(absent));
        expect(cleaned.deleted).toHaveLength(many);
      },
      240_000,
    );

    when('badCredentials')?.(CASES.badCredentials, async () => {
      const bad = h.bad!();
      const err = (await (bad.act ? bad.act() : bad.provider.observe(bad.ctx)).then(
        () => undefined,
        (e: unknown) => e,
      )) as Error | undefined;
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/127\.0\.0\.\d+/);
      expect(err!.message).toMatch(/refus|denied|authenticat|incorrect|BADSIG|BADKEY|NOTAUTH|not authori|signature/i);
      expect(err!.stack ?? '').not.toMatch(/BEGIN OPENSSH PRIVATE KEY/);
      await bad.provider.close?.();
    });

    h.also?.({ run, observe });
  });
}
