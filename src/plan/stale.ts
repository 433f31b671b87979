/**
 * A saved plan against the world as it is now: which of its actions no longer hold. Each action is
 * checked on its own (its `observedDigest` and `desiredDigest`, src/plan/digest.ts) against the same
 * action of a fresh plan, so a change elsewhere — drift on another system, another system's manifest —
 * leaves the saved plan valid, and a change to what an action touches makes that action stale.
 */
import { UserError, type FieldChange, type ResourceKind } from '../engine/contract';
import { formatValue } from './render/values';
import { stableStringify } from './digest';
import type { Plan, PlannedAction } from './types';

export interface StaleAction {
  system: string;
  kind: ResourceKind;
  /** What changed and since when; the caller adds what to do. */
  message: string;
}

/** Where a kind's resources live, for messages an operator can act on. */
const WHERE: Record<ResourceKind, string> = {
  ip: 'the IPAM',
  dns: 'DNS',
  dhcp: 'DHCP',
  vm: 'the VM platform',
  install: 'the installation state',
  specialise: 'the roles on the system',
  cmdb: 'the CMDB',
};

/** `cpu 2 → 4, memoryMiB 4096 → 8192`: the changes of an action, short. */
export function describeChanges(a: Pick<PlannedAction, 'action' | 'changes' | 'blocked'>): string {
  if (a.blocked) return `blocked (${a.blocked})`;
  if (a.action === 'noop') return 'nothing to change';
  if (a.action === 'delete') return 'delete';
  const list = a.changes.map((c: FieldChange) =>
    c.from === null || c.from === undefined
      ? `${c.path} ${formatValue(c.to)}`
      : `${c.path} ${formatValue(c.from)} → ${formatValue(c.to)}`,
  );
  return `${a.action}${list.length ? ` ${list.join(', ')}` : ''}`;
}

/** The part of an action that says what apply would do (not where values came from). */
function doing(a: PlannedAction): string {
  return stableStringify({
    action: a.action,
    blocked: a.blockedCode ?? null,
    changes: a.changes.map((c) => ({ path: c.path, from: c.from, to: c.to })),
  });
}

/** Refuses a plan file whose actions carry no digests (made by a shipshape before per-action checks). */
export function assertCheckable(saved: Plan, file: string): void {
  const missing = saved.actions.find((a) => a.action !== 'noop' && (!a.observedDigest || !a.desiredDigest));
  if (missing)
    throw new UserError(
      `${file}: its actions carry no digests to check them against the world (the plan was made by an older shipshape); nothing was applied. Make a new plan with this version and review it`,
    );
}

/** The saved plan's changes that no longer hold, at most one per system and kind. */
export function staleActions(saved: Plan, fresh: Plan): StaleAction[] {
  const now = new Map(fresh.actions.map((a) => [`${a.system}/${a.kind}`, a]));
  const out: StaleAction[] = [];
  for (const a of saved.actions) {
    if (a.action === 'noop' || a.blocked) continue;
    const f = now.get(`${a.system}/${a.kind}`);
    const what = `${a.system} ${a.kind}${a.resourceId ? ` (${a.resourceId})` : ''}`;
    const was = `the plan has ${describeChanges(a)}`;
    if (!f) {
      out.push({
        system: a.system,
        kind: a.kind,
        message: `${what}: ${was}, but nothing is planned for it any more (its system's manifest was removed or no longer asks for it)`,
      });
    } else if (f.action === 'noop' && !f.blocked) {
      // A noop carries no digests (planner.ts): comparing them would blame the world for what may be a
      // reverted manifest. Either side may have made the change needless; the plan cannot tell which.
      out.push({
        system: a.system,
        kind: a.kind,
        message: `${what}: ${was}, but nothing is to change there any more: since the plan was made (${saved.createdAt}) either its manifest, profile, roles or the site config now ask for what is already there (a change reverted), or the change was made in ${WHERE[a.kind]} already (by an earlier apply of this plan, or by hand)`,
      });
    } else if (f.observedDigest !== a.observedDigest) {
      const nowDoes = describeChanges(f);
      out.push({
        system: a.system,
        kind: a.kind,
        message: `${what} changed in ${WHERE[a.kind]} since the plan was made (${saved.createdAt}): ${was}, now it would be ${nowDoes === describeChanges(a) ? `the same, but other fields of what it touches changed` : nowDoes}`,
      });
    } else if (f.desiredDigest !== a.desiredDigest) {
      out.push({
        system: a.system,
        kind: a.kind,
        message: `${what}: its manifest, profile, roles or the site config changed since the plan was made: ${was}, now it would be ${describeChanges(f)}`,
      });
    } else if (doing(f) !== doing(a)) {
      out.push({
        system: a.system,
        kind: a.kind,
        message: `${what}: ${was}, but this shipshape would now ${describeChanges(f)} (was the plan made by another version?)`,
      });
    }
  }
  return out;
}

/** The saved plan without the systems that have a stale action: none of their actions is applied. */
export function withoutSystems(saved: Plan, systems: Set<string>): Plan {
  return { ...saved, actions: saved.actions.filter((a) => !systems.has(a.system)) };
}
