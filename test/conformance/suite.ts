/**
 * The conformance suite every backend runs against its real server or emulator: one set of
 * behaviours, parameterised by a harness per backend. A harness starts the server, builds the
 * step's provider from the site section exactly as the registry does, and knows one name the
 * operator owns (a resource without shipshape's marker).
 */
import type { Fields, Provider, ProviderContext, Resolved } from '../../src/engine/contract';
import { codeOf } from '../../src/engine/outcome';
import type { DesiredSystem } from '../../src/manifest/types';
import { runStage } from '../helpers/systems';

export interface Harness {
  /** Shown in the test names: `<kind>/<backend id>`. */
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A fresh provider (one run), connected with good credentials. */
  provider(): Provider<Fields>;
  /** A fresh provider, and its run's context, whose credentials the server refuses. */
  bad(): { provider: Provider<Fields>; ctx: ProviderContext };
  ctx(): ProviderContext;
  /** The n-th test system (distinct names and addresses); `changed` gives it a different desired value. */
  system(n: number, changed?: boolean): DesiredSystem;
  resolved(s: DesiredSystem): Resolved;
  /** Picks the operator's resource (no marker) from an observation: shipshape must never touch it. */
  isForeign(r: { id: string; system: string }): boolean;
  /** A system that needs what the operator's resource holds (its name, MAC or address). */
  collider(): DesiredSystem;
  /** The counts the round-trip check compares (real servers on 2 shared cores: kept small). */
  scale: [number, number];
}

const absent = (s: DesiredSystem): DesiredSystem => ({ ...s, state: 'absent' });

export function conformance(h: Harness): void {
  describe(`conformance: ${h.name}`, () => {
    beforeAll(() => h.start(), 120_000);
    afterAll(() => h.stop());

    const run = (systems: DesiredSystem[]) => runStage(h.provider(), systems, (s) => h.resolved(s), h.ctx());

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
    });

    it('update converges: one run changes it, the next finds nothing to do', async () => {
      const changed = h.system(1, true);
      expect((await run([changed])).updated).toEqual(['c-1']);
      const again = await run([changed]);
      expect({ updated: again.updated, unchanged: again.unchanged }).toEqual({ updated: [], unchanged: ['c-1'] });
    });

    it('a resource not carrying the marker is never updated or deleted', async () => {
      const before = (await h.provider().observe(h.ctx())).resources.filter((r) => h.isForeign(r));
      expect(before.length).toBeGreaterThan(0);
      expect(before.every((r) => !r.owned)).toBe(true);
      const other = h.collider();
      const r = await run([other]);
      // Refused before anything is sent, or at commit: either way nothing of it lands, and it says why.
      expect([...r.refused, ...r.failed].map((x) => codeOf(x.error))).toEqual(['collides']);
      await run([absent(other)]);
      const after = (await h.provider().observe(h.ctx())).resources.filter((x) => h.isForeign(x));
      expect(after).toEqual(before);
      await run([absent(other)]);
    });

    it('round trips of observe do not grow with the number of resources', async () => {
      const [few, many] = h.scale;
      const all = Array.from({ length: many }, (_, i) => h.system(100 + i));
      await run(all.slice(0, few));
      const a = (await h.provider().observe(h.ctx())).roundTrips;
      await run(all);
      const b = (await h.provider().observe(h.ctx())).roundTrips;
      expect(b).toBe(a);
      const cleaned = await run(all.map(absent));
      expect(cleaned.deleted).toHaveLength(many);
    }, 240_000);

    it('refused credentials give one clear error that names the server and leaks no secret', async () => {
      const bad = h.bad();
      const err = (await bad.provider.observe(bad.ctx).then(
        () => undefined,
        (e: unknown) => e,
      )) as Error | undefined;
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/127\.0\.0\.1/);
      expect(err!.message).toMatch(/refus|denied|authenticat|BADSIG|BADKEY|NOTAUTH|not authori|signature/i);
      expect(err!.stack ?? '').not.toMatch(/BEGIN OPENSSH PRIVATE KEY/);
    });
  });
}
