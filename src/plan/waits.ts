/**
 * Ordering between actions of different systems. A change marked `after` another system (the address
 * it takes is held by a declared system this plan moves off it) makes its action wait for that
 * system's step of the same kind: `waitsFor`, plain data in the plan, which apply honours. The wait
 * is only possible when the awaited step is in the plan and goes ahead; otherwise (left out by a
 * scope, blocked, unchanged, or waiting back in a cycle) the waiting action is blocked, saying why
 * and what to do. Pure.
 */
import type { FieldChange, ResourceKind } from '../engine/contract';
import { REFUSALS } from '../engine/refusals';
import type { PlannedAction } from './types';

const keyOf = (a: { system: string; kind: ResourceKind }) => `${a.system}/${a.kind}`;

/** Sets `waitsFor` from the changes' `after`, then blocks the waits that cannot happen (see `settleWaits`). */
export function linkWaits(actions: PlannedAction[]): PlannedAction[] {
  const linked = actions.map((a) => {
    const after = [...new Set(a.changes.flatMap((c) => (c.after ? [c.after] : [])))].sort();
    return after.length && !a.blocked ? { ...a, waitsFor: after.map((system) => ({ system, kind: a.kind })) } : a;
  });
  return settleWaits(
    linked,
    (holder) =>
      `${holder} is not part of this run (another shard's system?); apply ${holder}'s shard first, or run without --shard`,
  );
}

/**
 * Blocks every waiting action whose wait cannot happen, until nothing changes (a block propagates
 * down a chain). `missing(holder)` says what to do when the awaited step is not among `actions`
 * (the scope left it out). Returns new action objects for the ones it changes.
 */
export function settleWaits(actions: PlannedAction[], missing: (holder: string) => string): PlannedAction[] {
  const out = [...actions];
  const at = new Map(out.map((a, i) => [keyOf(a), i]));
  const get = (k: string) => {
    const i = at.get(k);
    return i === undefined ? undefined : out[i];
  };
  const block = (i: number, why: string) => {
    const { waitsFor: _w, ...a } = out[i]!;
    const c = claim(a);
    const refusal = c?.refusal;
    out[i] = {
      ...a,
      blocked: `${c ? `${c.path} ${String(c.to)} is held by ${c.after}: ` : ''}${why}`,
      ...(refusal ? { blockedCode: REFUSALS[refusal].code, refusal } : { blockedCode: 'refused' as const }),
    };
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let i = 0; i < out.length; i++) {
      const a = out[i]!;
      if (!a.waitsFor || a.blocked) continue;
      const cycle = cycleFrom(a, get);
      if (cycle) {
        block(
          i,
          `${cycle.join(' → ')} each wait for the next to free an address first (a swap), so none can go first; give one of them a free address (apply), then its final one`,
        );
        changed = true;
        continue;
      }
      for (const w of a.waitsFor) {
        const b = get(keyOf(w));
        // Apply runs no step of a system with a blocked action: the awaited step would not run either.
        const stop = out.find((x) => x.system === w.system && x.blocked);
        const why = !b
          ? missing(w.system)
          : stop
            ? `${w.system} does not move in this run: its ${stop.kind} step is blocked (${stop.blocked}); resolve that first`
            : b.action === 'noop' || b.action === 'adopt'
              ? `this plan does not move ${w.system} off it; free it or choose another address`
              : undefined;
        if (why) {
          block(i, why);
          changed = true;
          break;
        }
      }
    }
  }
  return out;
}

/** The change that takes what another system holds (the first with `after`). */
function claim(a: PlannedAction): FieldChange | undefined {
  return a.changes.find((c) => c.after);
}

/** The systems of a cycle of waits through `a` (a first), or undefined. */
function cycleFrom(a: PlannedAction, get: (k: string) => PlannedAction | undefined): string[] | undefined {
  const path: PlannedAction[] = [];
  const walk = (x: PlannedAction): string[] | undefined => {
    if (x === a && path.length) return path.map((p) => p.system).concat(a.system);
    if (path.includes(x)) return undefined; // a cycle not through `a`: its own members report it
    path.push(x);
    for (const w of x.waitsFor ?? []) {
      const next = get(keyOf(w));
      if (next && !next.blocked) {
        const found = walk(next);
        if (found) return found;
      }
    }
    path.pop();
    return undefined;
  };
  return walk(a);
}

/**
 * `items` ordered so each comes after the ones it waits for (a stable topological order; waits on
 * items not in the list are no constraint). A bounded pool taking items in this order never holds
 * all its slots with waiters whose awaited items have not started.
 */
export function waitOrder<T extends { action: PlannedAction }>(items: T[]): T[] {
  const byKey = new Map(items.map((w) => [keyOf(w.action), w]));
  const out: T[] = [];
  const state = new Map<T, 'visiting' | 'done'>();
  const visit = (w: T) => {
    if (state.get(w)) return; // done, or a cycle (the planner blocks those): keep list order
    state.set(w, 'visiting');
    for (const x of w.action.waitsFor ?? []) {
      const dep = byKey.get(keyOf(x));
      if (dep) visit(dep);
    }
    state.set(w, 'done');
    out.push(w);
  };
  for (const w of items) visit(w);
  return out;
}
