/**
 * Targeting: `--system`, `--selector label=value`, `--kind` (and `--changed-since`, which names systems)
 * narrow a plan, an apply or a drift report to some systems and steps. The planner still plans the whole
 * repo (so values flow between steps as always); the target then keeps only the actions asked for.
 */
import { RESOURCE_KINDS, UNKNOWN, UserError, type ResourceKind } from '../engine/contract';
import type { DesiredSystem } from '../manifest/types';
import { summarise } from './planner';
import type { Plan, PlannedAction } from './types';
import { settleWaits } from './waits';

export interface Target {
  /** System names (`--system`, repeatable, comma-separated). */
  systems?: string[];
  /** Labels every selected system carries (`--selector env=dev,team=shop`). */
  selector?: Record<string, string>;
  /** Steps (`--kind vm,dns`). */
  kinds?: ResourceKind[];
  /** The systems `--changed-since REF` found, with the ref (said in the plan's scope line). */
  changedSince?: { ref: string; systems: string[] };
}

/** `a,b` and repeated flags → one list, blanks dropped. */
export function splitList(values: string[] | string | undefined): string[] {
  return (Array.isArray(values) ? values : values ? [values] : [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

export function parseSelector(values: string[] | string | undefined): Record<string, string> | undefined {
  const items = splitList(values);
  if (!items.length) return undefined;
  const out: Record<string, string> = {};
  for (const item of items) {
    const m = /^([^=\s]+)=(.*)$/.exec(item);
    if (!m)
      throw new UserError(`--selector "${item}": write it as label=value (several: env=dev,team=shop)`, 'invalid');
    out[m[1]!] = m[2]!;
  }
  return out;
}

export function parseKinds(values: string[] | string | undefined): ResourceKind[] | undefined {
  const items = splitList(values);
  if (!items.length) return undefined;
  for (const k of items)
    if (!(RESOURCE_KINDS as readonly string[]).includes(k))
      throw new UserError(`--kind "${k}": not a step; the steps are ${RESOURCE_KINDS.join(', ')}`, 'invalid');
  return items as ResourceKind[];
}

export function isTargeted(t: Target | undefined): t is Target {
  return !!t && !!(t.systems?.length || t.selector || t.kinds?.length || t.changedSince);
}

/**
 * The systems a target selects (undefined: all). Named systems must exist, and a selector's labels must be
 * carried by some system; a selector's values or `--changed-since` may select none.
 */
export function selectSystems(
  systems: DesiredSystem[],
  t: Target,
  /** In a repo with several sites a name may belong to another site: say so here instead of failing. */
  elsewhere?: (names: string[]) => void,
): Set<string> | undefined {
  let names: Set<string> | undefined;
  const intersect = (s: Set<string>) => (names = names ? new Set([...names].filter((n) => s.has(n))) : s);
  if (t.systems?.length) {
    const declared = new Set(systems.map((s) => s.name));
    const unknown = t.systems.filter((n) => !declared.has(n));
    if (unknown.length && elsewhere) elsewhere(unknown);
    else if (unknown.length)
      throw new UserError(
        `--system ${unknown.map((n) => `"${n}"`).join(', ')}: no manifest declares ${unknown.length === 1 ? 'it' : 'them'}` +
          (unknown.some((n) => n.endsWith('.json')) ? ' (a plan file? give it before --system)' : '') +
          `; declared: ${[...declared].sort().slice(0, 20).join(', ')}${declared.size > 20 ? ', …' : ''}`,
        'invalid',
      );
    intersect(new Set(t.systems));
  }
  if (t.selector) {
    const sel = Object.entries(t.selector);
    // A value may select none (no system of that team yet); a label no system carries at all is a typo
    // (`--selector teir=web` would otherwise plan, apply or report nothing and succeed). In a repo with
    // several sites another site may carry it.
    const inUse = new Set(systems.flatMap((s) => Object.keys(s.labels)));
    const unknown = sel.map(([k]) => k).filter((k) => !inUse.has(k));
    if (unknown.length && !elsewhere)
      throw new UserError(
        `--selector: no system carries the label${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => `"${k}"`).join(', ')}; ` +
          (inUse.size
            ? `the labels in use are ${[...inUse].sort().join(', ')}`
            : "no system has labels (metadata.labels, or its profile's labels)"),
        'invalid',
      );
    intersect(new Set(systems.filter((s) => sel.every(([k, v]) => s.labels[k] === v)).map((s) => s.name)));
  }
  if (t.changedSince) intersect(new Set(t.changedSince.systems));
  return names;
}

/** One line for the plan header: what the plan was narrowed to. */
export function describeTarget(t: Target): string {
  const parts: string[] = [];
  if (t.systems?.length) parts.push(`--system ${t.systems.join(',')}`);
  if (t.selector)
    parts.push(
      `--selector ${Object.entries(t.selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
    );
  if (t.changedSince) parts.push(`--changed-since ${t.changedSince.ref}`);
  if (t.kinds?.length) parts.push(`--kind ${t.kinds.join(',')}`);
  return parts.join(' ');
}

/**
 * The plan narrowed to a target. With `--kind`, an action whose values come from a step the target
 * leaves out and that step has yet to run (an address `ip: auto` known after apply) cannot be applied
 * alone: it is blocked, saying which step to add.
 */
export function targetPlan(plan: Plan, systems: DesiredSystem[], t: Target, otherSites = false): Plan {
  const names = selectSystems(systems, t, otherSites ? () => undefined : undefined);
  const kinds = t.kinds?.length ? new Set(t.kinds) : undefined;
  const inScope = (a: { system: string; kind: ResourceKind }) =>
    (!names || names.has(a.system)) && (!kinds || kinds.has(a.kind));
  const actions: PlannedAction[] = [];
  for (const a of plan.actions) {
    if (!inScope(a)) continue;
    const leftOut = kinds
      ? plan.actions.filter(
          (b) =>
            b.system === a.system &&
            !kinds.has(b.kind) &&
            b.action !== 'noop' &&
            !b.blocked &&
            RESOURCE_KINDS.indexOf(b.kind) < RESOURCE_KINDS.indexOf(a.kind),
        )
      : [];
    if (!a.blocked && leftOut.length && JSON.stringify(a.changes).includes(UNKNOWN)) {
      const steps = leftOut.map((b) => `${b.kind} ${b.action}`).join(', ');
      actions.push({
        ...a,
        blocked: `needs values known only after ${steps}, which --kind leaves out; add ${leftOut.map((b) => b.kind).join(',')} to --kind, or leave --kind out`,
        blockedCode: 'refused',
      });
    } else actions.push(a);
  }
  // A claim waiting for a step the scope leaves out (the holder of the address it takes) cannot go ahead.
  const settled = settleWaits(
    actions,
    (holder) =>
      `this scope (${describeTarget(t)}) leaves ${holder}, which moves off it first, out; add it (--system ${holder}), or run without the scope`,
  );
  return {
    ...plan,
    actions: settled,
    warnings: plan.warnings.filter(inScope),
    summary: summarise(settled),
    scope: describeTarget(t),
  };
}
