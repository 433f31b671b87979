import type { FieldChange } from '../engine/contract';
import { renderText } from './render';
import { summarise } from './planner';
import { targetPlan } from './target';
import type { Plan, PlannedAction } from './types';
import { linkWaits, waitOrder } from './waits';
import { system } from '../../test/support/fixtures';

/** An ip action of `name`: taking `to`, held by `after` when given. */
function ip(name: string, over: Partial<PlannedAction> = {}, after?: string, to = '10.0.0.20'): PlannedAction {
  const change: FieldChange = {
    path: 'network.ip',
    from: '10.0.0.9',
    to,
    ...(after ? { after, refusal: 'address-held' as const } : {}),
  };
  return {
    system: name,
    kind: 'ip',
    action: 'update',
    changes: [change],
    needsPowerOff: false,
    needsReboot: false,
    reason: 'network.ip differs',
    ...over,
  };
}

const holderMoves = (name = 'holder') =>
  ip(name, { changes: [{ path: 'network.ip', from: '10.0.0.20', to: '(known after apply)' }] });

describe('waits between systems', () => {
  it('a claim on what another system frees first waits for that step and is not blocked', () => {
    const [claim] = linkWaits([ip('claimant', {}, 'holder'), holderMoves()]);
    expect(claim!.blocked).toBeUndefined();
    expect(claim!.waitsFor).toEqual([{ system: 'holder', kind: 'ip' }]);
  });

  it('the holder not in the plan, unchanged, or blocked: the claim is blocked saying why', () => {
    const alone = linkWaits([ip('claimant', {}, 'holder')])[0]!;
    expect(alone).toMatchObject({ blockedCode: 'collides', refusal: 'address-held' });
    expect(alone.blocked).toMatch(/network\.ip 10\.0\.0\.20 is held by holder: holder is not part of this run/);
    expect(alone.waitsFor).toBeUndefined();

    const still = linkWaits(
      [ip('claimant', {}, 'holder'), holderMoves('holder')].map((a, i) =>
        i === 1 ? { ...a, action: 'noop' as const, changes: [] } : a,
      ),
    )[0]!;
    expect(still.blocked).toMatch(/this plan does not move holder off it/);

    // Apply runs no step of a system with a blocked action, so the holder's move would not run either.
    const vmBlocked: PlannedAction = {
      ...ip('holder'),
      kind: 'vm',
      changes: [],
      blocked: 'cpu needs a power-off',
      blockedCode: 'refused',
    };
    const stuck = linkWaits([ip('claimant', {}, 'holder'), holderMoves(), vmBlocked])[0]!;
    expect(stuck.blocked).toMatch(/holder does not move in this run: its vm step is blocked \(cpu needs a power-off\)/);
  });

  it('a swap (each holds what the other declares) is blocked on both sides; a chain waits in order', () => {
    const swap = linkWaits([ip('a', {}, 'b', '10.0.0.21'), ip('b', {}, 'a', '10.0.0.22')]);
    for (const a of swap) expect(a.blocked).toMatch(/each wait for the next to free an address first \(a swap\)/);
    expect(summarise(swap).blocked).toBe(2);

    // c moves off what b takes; b moves off what a takes.
    const chain = linkWaits([ip('a', {}, 'b'), ip('b', {}, 'c'), holderMoves('c')]);
    expect(chain.map((a) => a.blocked)).toEqual([undefined, undefined, undefined]);
    const order = waitOrder(chain.map((action) => ({ action }))).map((w) => w.action.system);
    expect(order).toEqual(['c', 'b', 'a']);
    // A block at the end of a chain blocks all of it.
    const broken = linkWaits([ip('a', {}, 'b'), ip('b', {}, 'c')]);
    expect(broken.map((a) => !!a.blocked)).toEqual([true, true]);
  });

  it('a scope leaving the holder out blocks the claim and says to add it; with it, the claim waits', () => {
    const actions = linkWaits([ip('claimant', {}, 'holder'), holderMoves()]);
    const plan: Plan = {
      formatVersion: 1,
      createdAt: '2026-01-01T00:00:00Z',
      desiredDigest: '',
      observedDigest: '',
      summary: summarise(actions),
      actions,
      warnings: [],
      maxDeletes: 3,
      roundTrips: {},
    };
    const systems = [system('claimant'), system('holder')];
    const scoped = targetPlan(plan, systems, { systems: ['claimant'] });
    expect(scoped.actions[0]!.blocked).toMatch(
      /this scope \(--system claimant\) leaves holder, which moves off it first, out; add it \(--system holder\)/,
    );
    expect(scoped.summary.blocked).toBe(1);
    expect(plan.actions[0]!.blocked).toBeUndefined(); // the whole plan is not changed by scoping it
    const both = targetPlan(plan, systems, { systems: ['claimant', 'holder'] });
    expect(both.actions.map((a) => a.blocked)).toEqual([undefined, undefined]);

    // The rendered plan says the claim comes after the holder's move.
    expect(renderText(plan, { colour: false })).toContain('network.ip: 10.0.0.9 → 10.0.0.20 [after holder frees it]');
  });
});
