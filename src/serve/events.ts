/**
 * What `serve` does with a backend's change feed: the drift check between scheduled runs. For each
 * resource the feed reports (already read again by its provider), compare it with what the
 * manifests want, purely, against the last run's observations of the other kinds (the values they
 * hand this step). Only a system that now differs (or whose resource appeared or vanished) is
 * named, with why; a change that leaves the resource as wanted, such as the echo of our own apply,
 * names nothing. So the check costs one read of the changed resources, whatever the estate's size.
 */
import type { FieldChange, Observation, ObservedResource, ResourceKind, WatchedChanges } from '../engine/contract';
import { indexObservations, resolvedBefore } from '../plan/planner';
import type { LastRun } from './providers';

export interface Noticed {
  system: string;
  /** One line: `web-01: vm cpu is 3, wanted 2 (vm-42)`. */
  why: string;
  kind: ResourceKind;
  id: string;
  /** A difference from the manifests: judged again on the latest state before a run starts. */
  recheck?: true;
  /** Found by the feed's full resync. */
  resync?: true;
  /** Noticed while a run was going on: read again before it is judged (that run may have changed it since). */
  duringRun?: true;
}

export function noticeChanges(
  last: LastRun | undefined,
  kind: ResourceKind,
  changes: WatchedChanges,
  before: Observation | undefined,
): Noticed[] {
  if (!last || !last.providers.some((p) => p.kind === kind)) return [];
  const systems = new Map(last.loaded.repo.systems.map((s) => [s.name, s]));
  const was = new Map((before?.resources ?? []).map((r) => [r.id, r]));
  const index = indexObservations(last.observations);
  const out: Noticed[] = [];
  for (const r of changes.changed) {
    const system = systems.get(r.system);
    if (!system) continue; // not a system of this repo: unmanaged, reported by the scheduled run
    const at = { system: r.system, kind, id: r.id };
    if (!r.owned) {
      if (!was.has(r.id)) out.push({ ...at, why: `${r.system}: ${kind} ${r.id} appeared without shipshape's marker` });
      continue;
    }
    if (system.state === 'absent') {
      out.push({ ...at, why: `${r.system}: ${kind} ${r.id} changed, and the system is to be removed` });
      continue;
    }
    const why = drift(last, kind, r, index);
    if (why) out.push({ ...at, why, recheck: true });
  }
  for (const id of changes.gone) {
    const prior = was.get(id);
    if (prior?.owned && systems.has(prior.system))
      out.push({ system: prior.system, kind, id, why: `${prior.system}: ${kind} ${id} is gone` });
  }
  return out;
}

/**
 * A difference noticed earlier, judged on the latest state the feeds brought (undefined: gone).
 * Our own apply passes through states the manifest does not want (powered off for a CPU change):
 * what still differs once the changes settled is what starts a run.
 */
export function recheck(last: LastRun | undefined, n: Noticed): Noticed | undefined {
  if (!n.recheck) return n;
  const r = last?.observations.get(n.kind)?.resources.find((x) => x.id === n.id);
  if (!last || !r?.owned) return undefined;
  const why = drift(last, n.kind, r, indexObservations(last.observations));
  return why ? { ...n, why } : undefined;
}

function drift(
  last: LastRun,
  kind: ResourceKind,
  r: ObservedResource,
  index: ReturnType<typeof indexObservations>,
): string | undefined {
  const provider = last.providers.find((p) => p.kind === kind);
  const system = last.loaded.repo.systems.find((s) => s.name === r.system);
  if (!provider || !system) return undefined;
  const site = last.loaded.repo.site;
  const desired = provider.desired(system, resolvedBefore(system, kind, last.providers, index, site), site);
  const diff = desired ? provider.diff(system, desired, r) : [];
  return diff.length ? `${r.system}: ${kind} ${diff.map(describe).join(', ')} (${r.id})` : undefined;
}

/** `cpu is 3, wanted 2`: the observed value first, since that is what changed. */
function describe(c: FieldChange): string {
  return `${c.path} is ${short(c.from)}, wanted ${short(c.to)}`;
}

function short(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s === undefined ? '∅' : s.length > 40 ? `${s.slice(0, 37)}…` : s;
}

/**
 * Gathers what the feeds notice and starts one run for the systems that still differ once it is
 * quiet and no run is going on (a change seen during a run, such as that run's own power-off, is
 * judged on the state after it). Prints one `change feed:` line per system it starts a run for.
 */
export class FeedTrigger {
  private readonly noticed = new Map<string, Noticed>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: {
      last: () => LastRun | undefined;
      busy: () => boolean;
      /** Reads resources of a kind again (their report patches `last`). */
      reread: (kind: ResourceKind, ids: string[]) => Promise<void>;
      trigger: (reason: string, systems: string[]) => void;
      say: (line: string) => void;
      quietMs: number;
    },
  ) {}

  add(found: Noticed[], resync: boolean): void {
    const busy = this.o.busy();
    for (const n of found)
      this.noticed.set(n.system, { ...n, ...(resync ? { resync: true } : {}), ...(busy ? { duringRun: true } : {}) });
    if (this.noticed.size) this.arm();
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.noticed.clear();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), this.o.quietMs);
  }

  private fire(): void {
    this.timer = undefined;
    if (this.o.busy() || this.rereading) return this.arm();
    const noticed = [...this.noticed.values()];
    this.noticed.clear();
    const again = noticed.filter((n) => n.duringRun && n.recheck);
    if (!again.length) return this.start(noticed);
    // Seen while a run went on: read those again first, so the run's own passing states do not count.
    const byKind = new Map<ResourceKind, string[]>();
    for (const n of again) byKind.set(n.kind, [...(byKind.get(n.kind) ?? []), n.id]);
    this.rereading = Promise.all([...byKind].map(([kind, ids]) => this.o.reread(kind, ids)))
      .then(
        () => this.start(noticed),
        () => this.start(noticed),
      )
      .finally(() => (this.rereading = undefined));
  }

  private rereading: Promise<void> | undefined;

  private start(noticed: Noticed[]): void {
    const still = noticed.flatMap((n) => recheck(this.o.last(), n) ?? []);
    // What the re-read reported again is in this run already.
    for (const n of still) this.noticed.delete(n.system);
    if (!this.noticed.size && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!still.length) return;
    for (const n of still) this.o.say(`change feed${n.resync ? ' (full resync)' : ''}: ${n.why}`);
    this.o.trigger(
      `change feed: ${still.map((n) => n.why).join('; ')}`,
      [...new Set(still.map((n) => n.system))].sort(),
    );
  }
}
