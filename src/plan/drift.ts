/**
 * Drift: what changed behind git's back. A pure function of a fresh plan (and the first-seen
 * history kept by the caller): fields of our resources that differ from the manifests, resources
 * of applied systems that went missing, and marked resources that no manifest names.
 * Systems never applied at all are pending, not drift.
 */
import type { Observation, ResourceKind } from '../engine/contract';
import { disagreements, type Disagreement, type Identities } from './consistency';
import { stableStringify } from './digest';
import type { Plan, PlanWarning } from './types';

export interface DriftItem {
  system: string;
  kind: ResourceKind;
  resourceId?: string;
  /** A field path, or `(missing)` when the whole resource is gone. */
  path: string;
  desired: unknown;
  actual: unknown;
  source?: string;
  /** When this difference was first seen (kept across runs by the caller). */
  firstSeen: string;
}

export interface DriftReport {
  formatVersion: 1;
  createdAt: string;
  commit?: string;
  items: DriftItem[];
  orphans: PlanWarning[];
  /** In the managed scope without a marker, and no manifest names them: not yet under management (not drift). */
  unmanaged?: PlanWarning[];
  /** Systems declared but never applied: not drift, listed so the report is complete. */
  pending: string[];
  /** Systems whose backends disagree with each other (IPAM vs DNS vs DHCP vs CMDB address; VM vs DHCP vs CMDB MAC). */
  disagreements: Disagreement[];
  drifted: boolean;
}

/** First-seen timestamps keyed by system/kind/path/actual value. */
export type DriftHistory = Record<string, string>;

export function driftReport(
  plan: Plan,
  history: DriftHistory,
  now: Date,
  observations: Map<ResourceKind, Observation> = new Map(),
  identities: Identities = new Map(),
): { report: DriftReport; history: DriftHistory } {
  const applied = new Set(plan.actions.filter((a) => a.action !== 'create').map((a) => a.system));
  const items: Omit<DriftItem, 'firstSeen'>[] = [];
  const pending = new Set<string>();
  for (const a of plan.actions) {
    if (a.action === 'update' || a.action === 'replace') {
      for (const c of a.changes) {
        items.push({
          system: a.system,
          kind: a.kind,
          ...(a.resourceId ? { resourceId: a.resourceId } : {}),
          path: c.path,
          desired: c.to,
          actual: c.from,
          ...(c.source ? { source: c.source } : {}),
        });
      }
    } else if (a.action === 'delete' && a.movedTo) {
      // What a system moved to another shard left here: this shard's run removes it.
      items.push({
        system: a.system,
        kind: a.kind,
        ...(a.resourceId ? { resourceId: a.resourceId } : {}),
        path: '(left in this shard)',
        desired: `absent: ${a.reason}`,
        actual: 'present',
      });
    } else if (a.action === 'create') {
      if (applied.has(a.system))
        items.push({ system: a.system, kind: a.kind, path: '(missing)', desired: 'present', actual: 'missing' });
      else pending.add(a.system);
    }
  }
  const next: DriftHistory = {};
  const withTimes = items.map((i) => {
    const key = `${i.system}/${i.kind}/${i.path}/${stableStringify(i.actual)}`;
    const firstSeen = history[key] ?? now.toISOString();
    next[key] = firstSeen;
    return { ...i, firstSeen };
  });
  const orphans = plan.warnings.filter((w) => w.code === 'orphan');
  const disagree = disagreements(observations, identities);
  return {
    report: {
      formatVersion: 1,
      createdAt: now.toISOString(),
      ...(plan.commit ? { commit: plan.commit } : {}),
      items: withTimes,
      orphans,
      unmanaged: plan.warnings.filter((w) => w.code === 'unmanaged'),
      pending: [...pending].sort(),
      disagreements: disagree,
      drifted: withTimes.length > 0 || orphans.length > 0 || disagree.length > 0,
    },
    history: next,
  };
}
