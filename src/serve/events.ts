/**
 * What `serve` does with a backend's change feed: the drift check between scheduled runs. For each
 * resource the feed reports (already read again by its provider), compare it with what the
 * manifests want, purely, against the last run's observations of the other kinds (the values they
 * hand this step). Only a system that now differs (or whose resource appeared or vanished) is
 * named, with why; a change that leaves the resource as wanted, such as the echo of our own apply,
 * names nothing. So the check costs one read of the changed resources, whatever the estate's size.
 */
import type { FieldChange, Observation, ResourceKind, WatchedChanges } from '../engine/contract';
import { indexObservations, resolvedBefore } from '../plan/planner';
import type { LastRun } from './providers';

export interface Noticed {
  system: string;
  /** One line: `web-01: vm cpu is 3, wanted 2 (vm-42)`. */
  why: string;
}

export function noticeChanges(
  last: LastRun | undefined,
  kind: ResourceKind,
  changes: WatchedChanges,
  before: Observation | undefined,
): Noticed[] {
  if (!last) return [];
  const provider = last.providers.find((p) => p.kind === kind);
  if (!provider) return [];
  const systems = new Map(last.loaded.repo.systems.map((s) => [s.name, s]));
  const was = new Map((before?.resources ?? []).map((r) => [r.id, r]));
  const index = indexObservations(last.observations);
  const out: Noticed[] = [];
  for (const r of changes.changed) {
    const system = systems.get(r.system);
    if (!system) continue; // not a system of this repo: unmanaged, reported by the scheduled run
    const prior = was.get(r.id);
    if (!r.owned) {
      if (!prior)
        out.push({ system: r.system, why: `${r.system}: ${kind} ${r.id} appeared without shipshape's marker` });
      continue;
    }
    if (system.state === 'absent') {
      out.push({ system: r.system, why: `${r.system}: ${kind} ${r.id} changed, and the system is to be removed` });
      continue;
    }
    const desired = provider.desired(
      system,
      resolvedBefore(system, kind, last.providers, index, last.loaded.repo.site),
      last.loaded.repo.site,
    );
    const diff = desired ? provider.diff(system, desired, r) : [];
    if (diff.length)
      out.push({ system: r.system, why: `${r.system}: ${kind} ${diff.map(describe).join(', ')} (${r.id})` });
  }
  for (const id of changes.gone) {
    const prior = was.get(id);
    if (prior?.owned && systems.has(prior.system))
      out.push({ system: prior.system, why: `${prior.system}: ${kind} ${id} is gone` });
  }
  return out;
}

/** `cpu is 3, wanted 2`: the observed value first, since that is what changed. */
function describe(c: FieldChange): string {
  return `${c.path} is ${short(c.from)}, wanted ${short(c.to)}`;
}

function short(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s === undefined ? '∅' : s.length > 40 ? `${s.slice(0, 37)}…` : s;
}
