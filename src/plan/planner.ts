/**
 * The planner: a pure function of (desired systems, observations) → plan. No I/O, no clock
 * other than the `now` it is given, so the same inputs always give the same plan (apply relies
 * on that to check a saved plan against a fresh one).
 */
import {
  RESOURCE_KINDS,
  UNKNOWN,
  type FieldChange,
  type Observation,
  type ObservedResource,
  type Provider,
  type Resolved,
  type ResourceKind,
} from '../engine/contract';
import { formatSource, type DesiredSystem } from '../manifest/types';
import type { SiteConfig } from '../manifest/site';
import { isRefusal, REFUSALS, type RefusalId } from '../engine/refusals';
import { actionDigests, digest, digestTexts } from './digest';
import { readdressWarning } from './readdress';
import { planMovedAway, SHARD_OWNED_KINDS, type Elsewhere } from './shard-move';
import { linkWaits, settleWaits } from './waits';
import type { Plan, PlannedAction, PlanSummary, PlanWarning } from './types';

export interface PlanInput {
  systems: DesiredSystem[];
  site: SiteConfig;
  providers: Provider[];
  observations: Map<ResourceKind, Observation>;
  maxDeletes: number;
  commit?: string;
  now: Date;
  /**
   * `shipshape adopt`: the systems whose existing unmarked resources are to be taken over (all
   * declared systems when `systems` is absent); `acceptChanges` lets an adoption whose manifest
   * differs from reality go ahead (the changes are shown and made after the marker).
   */
  adopt?: { systems?: ReadonlySet<string>; acceptChanges?: boolean };
  /** Systems of the site's other shards (`--shard`) and of the repo's other sites: their marked resources are theirs, not orphans. */
  declaredElsewhere?: readonly string[];
  /** A shard's run: those systems as declared, with their shard (what they left in this shard is removed). */
  elsewhere?: readonly Elsewhere[];
  /**
   * A targeted run (`--system`, a change-feed run of serve, a saved plan's systems): the systems it
   * applies. The others are planned as always but take nothing scarce (a net's last free addresses):
   * apply leaves them out, so what they would have taken goes to the systems of the run.
   */
  only?: ReadonlySet<string>;
}

/**
 * What a system starts with before any step ran: an explicit address is known, `auto` is not; plus
 * what steps promise up front (the install step's PXE options, which the earlier DHCP step needs).
 */
export function initialResolved(system: DesiredSystem, providers: Provider[] = [], site?: SiteConfig): Resolved {
  let resolved: Resolved = { ip: system.network.ip === 'auto' ? UNKNOWN : system.network.ip, mac: system.network.mac };
  if (site) for (const p of providers) if (p.promises) resolved = { ...resolved, ...p.promises(system, site) };
  return resolved;
}

/** Observed resources per kind, per system name. */
export type ObservedIndex = Map<ResourceKind, Map<string, ObservedResource[]>>;

export function indexObservations(observations: Map<ResourceKind, Observation>): ObservedIndex {
  const index: ObservedIndex = new Map();
  for (const [kind, obs] of observations) {
    const bySystem = new Map<string, ObservedResource[]>();
    for (const r of obs.resources) {
      const list = bySystem.get(r.system) ?? [];
      list.push(r);
      bySystem.set(r.system, list);
    }
    index.set(kind, bySystem);
  }
  return index;
}

/**
 * What the steps before `kind` resolve for a system from their observations alone (what planning
 * and apply start from): providers that observe after the others use it to find their targets.
 */
export function resolvedBefore(
  system: DesiredSystem,
  kind: ResourceKind,
  providers: Provider[],
  index: ObservedIndex,
  site?: SiteConfig,
): Resolved {
  return resolvedSteps(system, providers, index, site, kind).at(-1)!;
}

/**
 * `resolvedBefore` of every kind of one system, walking the steps once: a plan asks it for each of
 * the system's actions (their digests) and for cross-references, and each walk starts with the
 * steps' promises (the install step's boot options).
 */
export function resolvedByKind(
  system: DesiredSystem,
  providers: Provider[],
  index: ObservedIndex,
  site?: SiteConfig,
): (kind: ResourceKind) => Resolved {
  const ordered = orderedProviders(providers);
  const states = resolvedSteps(system, providers, index, site);
  return (kind) => states[ordered.filter((p) => rankOf(p.kind) < rankOf(kind)).length]!;
}

const rankOf = (k: ResourceKind) => RESOURCE_KINDS.indexOf(k);

/** What is resolved before each step in step order (then after the last), up to the first step of `until`'s rank. */
function resolvedSteps(
  system: DesiredSystem,
  providers: Provider[],
  index: ObservedIndex,
  site?: SiteConfig,
  until?: ResourceKind,
): Resolved[] {
  let resolved = initialResolved(system, providers, site);
  const states = [resolved];
  for (const provider of orderedProviders(providers)) {
    if (until && rankOf(provider.kind) >= rankOf(until)) break;
    const found = foundFor(provider, system, index, resolved);
    if (provider.resolve && found.length === 1 && found[0]!.owned)
      resolved = provider.resolve(system, found[0], resolved);
    states.push(resolved);
  }
  return states;
}

/** What a step holds for a system: its observation, else what it recovers from earlier steps' values. */
export function foundFor(
  provider: Provider,
  system: DesiredSystem,
  index: ObservedIndex,
  resolved: Resolved,
): ObservedResource[] {
  const all = index.get(provider.kind)?.get(system.name) ?? [];
  // A same-named resource outside the managed scope (a VM in another folder) only counts when
  // nothing in scope matches: it is then what a create would duplicate.
  const inScope = all.filter((r) => r.owned || !r.outOfScope);
  const found = inScope.length ? inScope : all;
  if (found.length || !provider.recovered) return found;
  const r = provider.recovered(system, resolved);
  return r ? [r] : [];
}

export function orderedProviders(providers: Provider[]): Provider[] {
  return [...providers].sort((a, b) => RESOURCE_KINDS.indexOf(a.kind) - RESOURCE_KINDS.indexOf(b.kind));
}

/** The same plan limited to some systems (merge requests plan only what they touch). */
export function scopePlan(p: Plan, systems: Set<string>): Plan {
  const actions = settleWaits(
    p.actions.filter((a) => systems.has(a.system)),
    (holder) =>
      `${holder}, which moves off it first, is not among the systems this change touches, so the run on merge leaves it out; change ${holder}'s manifest in the same merge request, or apply it first`,
  );
  return { ...p, actions, warnings: p.warnings.filter((w) => systems.has(w.system)), summary: summarise(actions) };
}

export function plan(input: PlanInput): Plan {
  const providers = orderedProviders(input.providers);
  const index = indexObservations(input.observations);
  const actions: PlannedAction[] = [];
  const warnings: PlanWarning[] = [];
  const declared = new Set([...input.systems.map((s) => s.name), ...(input.declaredElsewhere ?? [])]);
  // Cross-references see the other systems as the observations hold them (UNKNOWN: not allocated yet).
  const byName = new Map(input.systems.map((s) => [s.name, s]));
  const steps = new Map<string, (kind: ResourceKind) => Resolved>();
  const before = (s: DesiredSystem, kind: ResourceKind): Resolved => {
    let of = steps.get(s.name);
    if (!of) steps.set(s.name, (of = resolvedByKind(s, providers, index, input.site)));
    return of(kind);
  };
  const others = (name: string): Resolved | undefined => {
    const s = byName.get(name);
    return s ? before(s, 'specialise') : undefined;
  };

  const planSystems = () => {
    const out = { actions: [] as PlannedAction[], warnings: [] as PlanWarning[] };
    for (const system of [...input.systems].sort((a, b) => a.name.localeCompare(b.name))) {
      if (system.state === 'absent') {
        planRemoval(system, [...providers].reverse(), index, out.actions, out.warnings);
      } else {
        planPresence(system, providers, index, input.site, out.actions, out.warnings, others, input.adopt);
      }
    }
    return out;
  };
  let planned = planSystems();
  // A system blocked by one step takes nothing in another (the IPAM's last free addresses, handed out
  // earlier in step order): planned again without it, so another system gets what it would have left.
  // Neither does a system outside the run's target: apply leaves it out.
  const outside = input.only ? input.systems.map((s) => s.name).filter((n) => !input.only!.has(n)) : [];
  let again = false;
  for (const p of providers) {
    if (!p.leaveOut) continue;
    const blocked = new Set(planned.actions.filter((a) => a.blocked && a.kind !== p.kind).map((a) => a.system));
    for (const n of outside) blocked.add(n);
    if (blocked.size && p.leaveOut(blocked)) again = true;
  }
  if (again) planned = planSystems();
  actions.push(...planned.actions);
  warnings.push(...planned.warnings);
  actions.push(...planMovedAway(input.elsewhere ?? [], index));
  // A tombstone of another shard: what it left in this shard's zones and DHCP servers goes as a tombstone's does.
  const here = [...providers].reverse().filter((p) => SHARD_OWNED_KINDS.includes(p.kind));
  for (const e of input.elsewhere ?? [])
    if (e.system.state === 'absent') planRemoval(e.system, here, index, actions, warnings);
  // Marked resources that no manifest names: reported, never deleted (deletion is declared).
  // In step order and by name, not in the order the backends' observations finished: the same world gives the
  // same plan (a CI job diffing plans, a reviewer comparing two runs).
  for (const kind of RESOURCE_KINDS) {
    const bySystem = index.get(kind);
    if (!bySystem) continue;
    for (const [name, resources] of [...bySystem].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (declared.has(name)) continue;
      // Unmarked resources in the managed scope that no manifest names: not yet under management.
      for (const r of resources.filter((x) => !x.owned && !x.outOfScope && !x.retired)) {
        warnings.push({
          system: name,
          kind,
          resourceId: r.id,
          code: 'unmanaged',
          message: `in shipshape's scope without its marker, and no manifest names "${name}"; \`shipshape import\` writes a manifest for it, or leave it unmanaged`,
        });
      }
      // A retired one (an i-doit object a tombstone archived, its address released) is where the delete left
      // it: the tombstone may go, and that history is no orphan (re-adding the tombstone would change nothing).
      for (const r of resources.filter((x) => x.owned && !x.retired)) {
        warnings.push({
          system: name,
          kind,
          resourceId: r.id,
          code: 'orphan',
          message: `carries shipshape's marker but no manifest names system "${name}"; add a manifest with state: absent to delete it, or one with state: present to keep managing it`,
        });
      }
    }
  }

  // A claim on what another system's step frees first waits for that step, or is blocked saying why.
  actions.splice(0, actions.length, ...linkWaits(actions));

  // Each action's own digests: apply checks a saved plan action by action against them. A noop is never
  // applied, so it has nothing to check and carries none: in a plan of an estate that holds, digesting what
  // every action touches and is to reach was a tenth of the plan's time.
  const texts = digestTexts();
  const away = new Map((input.elsewhere ?? []).map((e) => [e.system.name, e.system]));
  for (const a of actions) {
    if (a.action === 'noop') continue;
    const system = byName.get(a.system) ?? away.get(a.system)!;
    const resolved = before(system, a.kind);
    const desired =
      system.state === 'present' && !a.movedTo
        ? desiredOrRefusal(providers, a.kind, system, resolved, input.site)
        : null;
    const found = index.get(a.kind)?.get(a.system) ?? [];
    Object.assign(a, actionDigests({ found, resolved, desired, system, site: input.site, texts }));
  }

  const summary = summarise(actions);
  const roundTrips: Plan['roundTrips'] = {};
  const backends: NonNullable<Plan['backends']> = {};
  // In step order, not in the order the observations finished (they run at once): the plan a reviewer read and
  // the one apply prints must list the backends alike.
  const kinds = [...new Set([...input.providers.map((p) => p.kind), ...input.observations.keys()])];
  for (const kind of kinds) {
    const obs = input.observations.get(kind);
    if (!obs) continue;
    roundTrips[kind] = obs.roundTrips;
    if (obs.about) backends[kind] = obs.about;
  }
  return {
    formatVersion: 1,
    createdAt: input.now.toISOString(),
    ...(input.commit ? { commit: input.commit } : {}),
    desiredDigest: digest({
      systems: [...input.systems].sort((a, b) => a.name.localeCompare(b.name)).map(({ sources: _s, ...rest }) => rest),
      site: { ...input.site, root: undefined },
    }),
    observedDigest: observedDigest(input.observations),
    summary,
    actions,
    warnings,
    maxDeletes: input.maxDeletes,
    roundTrips,
    ...(Object.keys(backends).length ? { backends } : {}),
  };
}

export function observedDigest(observations: Map<ResourceKind, Observation>): string {
  const all = [...observations.values()]
    .flatMap((o) => o.resources.map(({ handle: _h, ...r }) => r))
    .sort((a, b) => `${a.kind}/${a.system}/${a.id}`.localeCompare(`${b.kind}/${b.system}/${b.id}`));
  return digest(all);
}

function planPresence(
  system: DesiredSystem,
  providers: Provider[],
  index: ObservedIndex,
  site: SiteConfig,
  actions: PlannedAction[],
  warnings: PlanWarning[],
  others: Resolved['others'],
  adopt?: PlanInput['adopt'],
): void {
  let resolved: Resolved = { ...initialResolved(system, providers, site), others };
  let installed = false;
  // The address the IPAM holds for the system now (its identity field), for the readdress warning.
  let held: unknown;
  for (const provider of providers) {
    const found = foundFor(provider, system, index, resolved);
    if (provider.kind === 'install' && found.length === 1 && found[0]!.fields.state === 'built') installed = true;
    if (provider.kind === 'ip' && found.length === 1 && found[0]!.owned)
      held = found[0]!.fields[provider.identity?.ip ?? 'ip'];
    // A producing step (the IPAM) first tells what it already holds, so an existing allocation is not a change.
    if (provider.resolve && found.length === 1 && found[0]!.owned)
      resolved = provider.resolve(system, found[0], resolved);
    const base = { system: system.name, kind: provider.kind, needsPowerOff: false, needsReboot: false };
    let desired: ReturnType<Provider['desired']>;
    try {
      desired = provider.desired(system, resolved, site);
    } catch (e) {
      // What the step would be cannot even be said (a role's package missing): apply refuses the same way.
      if (!isRefusal(e)) throw e;
      actions.push({
        ...base,
        action: found[0] ? 'update' : 'create',
        ...(found[0] ? { resourceId: found[0].id } : {}),
        changes: [],
        reason: 'the manifest asks for something apply refuses',
        ...blockedBy(e.refusal, e.message),
      });
      continue;
    }
    if (desired === null) continue;
    if (found.length > 1) {
      const ids = found.map((r) => r.id).join(', ');
      for (const r of found) {
        warnings.push({
          system: system.name,
          kind: provider.kind,
          resourceId: r.id,
          code: 'ambiguous',
          message: `${found.length} resources claim this system (${ids})`,
        });
      }
      actions.push({
        ...base,
        action: 'noop',
        changes: [],
        reason: `${found.length} ${provider.kind} resources match this system`,
        ...blockedBy(
          'ambiguous',
          `ambiguous: ${ids} all match "${system.name}"; remove or rename the extra ones, then run again`,
        ),
      });
      continue;
    }
    const observed = found[0];
    if (!observed) {
      const changes = Object.entries(desired).map(([path, to]) => ({
        path,
        from: null,
        to,
        ...sourceOf(system, path),
      }));
      const foreseen = provider.foreseeCreate?.(system, desired) ?? [];
      const refused = foreseen.filter((c) => c.refused);
      actions.push({
        ...base,
        action: 'create',
        changes: withWaits(changes, foreseen),
        reason: 'declared in the manifest, not found',
        ...(refused.length ? blockedByChanges(refused) : {}),
      });
    } else if (!observed.owned && provider.adopt) {
      const adopting = !!adopt && (!adopt.systems || adopt.systems.has(system.name));
      const documents = !!provider.capabilities?.documents;
      actions.push(
        adoption(system, base, observed, provider.diff(system, desired, observed), adopting, adopt, documents),
      );
      // Later steps see the resource as it will be once adopted; a VM someone else made was installed by them.
      if (provider.resolve) resolved = provider.resolve(system, { ...observed, owned: true }, resolved);
      if (provider.kind === 'vm') resolved = { ...resolved, installed: 'adopted' };
    } else if (!observed.owned) {
      warnings.push({
        system: system.name,
        kind: provider.kind,
        resourceId: observed.id,
        code: 'not-owned',
        message: "exists without shipshape's ownership marker; left untouched",
      });
      actions.push({
        ...base,
        action: 'noop',
        resourceId: observed.id,
        changes: [],
        reason: 'a resource with this name exists but is not ours',
        ...blockedBy(
          'not-owned',
          `${provider.kind} "${observed.id}" exists but does not carry shipshape's marker; shipshape will not take it over. Remove or rename it, or mark it as shipshape's to adopt it`,
        ),
      });
    } else {
      actions.push(changeAction(system, base, observed, provider.diff(system, desired, observed)));
    }
  }
  // An installed system whose address moves (the address later steps get differs from the one held):
  // what its guest does about it. Compared by value, whatever path the IPAM's diff names the change by.
  if (installed && typeof held === 'string' && held && resolved.ip && resolved.ip !== held)
    warnings.push(readdressWarning(system, site, held, resolved.ip));
}

/**
 * An unmarked resource a present system's name matches. Without `shipshape adopt` the create it
 * would need is blocked (`collides`): creating a second one is never right. With it, an adoption,
 * showing the diff between the manifest and reality; it takes the resource over only when that diff
 * is empty, or with --accept-changes (the changes are then made after the marker).
 */
function adoption(
  system: DesiredSystem,
  base: Pick<PlannedAction, 'system' | 'kind' | 'needsPowerOff' | 'needsReboot'>,
  observed: ObservedResource,
  changes: FieldChange[],
  adopting: boolean,
  adopt: PlanInput['adopt'],
  /** A CMDB: what it does not document yet is filled in, never a reason to refuse (it describes, it is not the system). */
  documents = false,
): PlannedAction {
  const withSources = changes.map((c) => ({ ...sourceOf(system, c.path), ...c }));
  const what = `${base.kind} "${observed.id}"${observed.outOfScope ? ` (${observed.outOfScope})` : ''}`;
  const fields = changes.map((c) => c.path).join(', ');
  const matches = changes.length ? `it differs from the manifest in ${fields}` : 'it matches the manifest';
  if (!adopting) {
    return {
      ...base,
      action: 'create',
      resourceId: observed.id,
      changes: [],
      reason: `declared in the manifest; ${what} already has this name without shipshape's marker`,
      blocked: `${what} already exists without shipshape's marker; creating it again would duplicate it. Adopt it (\`shipshape adopt ${system.name}\`: ${matches}), rename the system, or remove the existing one`,
      blockedCode: 'collides',
    };
  }
  const common = {
    ...base,
    action: 'adopt' as const,
    resourceId: observed.id,
    changes: withSources,
    needsPowerOff: changes.some((c) => c.needsPowerOff),
    needsReboot: changes.some((c) => c.needsReboot),
  };
  const refused = changes.filter((c) => c.refused || c.forcesReplace);
  if (refused.length)
    return {
      ...common,
      reason: `${what} becomes ${system.name}'s, but ${fields} differ`,
      ...blockedByChanges(refused.map((c) => ({ ...c, refused: c.refused ?? 'cannot change in place' }))),
    };
  if (changes.length && documents)
    return { ...common, reason: `${what} becomes ${system.name}'s; then it documents the system as it is (${fields})` };
  if (changes.length && !adopt?.acceptChanges)
    return {
      ...common,
      reason: `${what} becomes ${system.name}'s, but ${fields} differ`,
      blocked: `${matches}: shipshape takes a resource over only when the manifest describes it as it is. Change the manifest to match, or run \`shipshape adopt --accept-changes ${system.name}\` to take it over and make these changes`,
      blockedCode: 'not-owned',
    };
  return {
    ...common,
    reason: changes.length
      ? `${what} becomes ${system.name}'s, then ${fields} change (--accept-changes)`
      : `${what} becomes ${system.name}'s: it matches the manifest`,
  };
}

function changeAction(
  system: DesiredSystem,
  base: Pick<PlannedAction, 'system' | 'kind' | 'needsPowerOff' | 'needsReboot'>,
  observed: ObservedResource,
  changes: FieldChange[],
): PlannedAction {
  const withSources = changes.map((c) => ({ ...sourceOf(system, c.path), ...c }));
  const common = {
    ...base,
    resourceId: observed.id,
    changes: withSources,
    needsPowerOff: changes.some((c) => c.needsPowerOff),
    needsReboot: changes.some((c) => c.needsReboot),
  };
  if (changes.length === 0) return { ...common, action: 'noop', reason: 'matches the manifest' };
  const refused = changes.filter((c) => c.refused);
  const fields = changes.map((c) => c.path).join(', ');
  const differ = changes.length === 1 ? 'differs' : 'differ';
  // Blocked, it is still shown as what it would be: a reviewer must see that a replace (a delete, then a
  // create) waits behind the refusal, not an update.
  if (refused.length) {
    const action = changes.some((c) => c.forcesReplace) ? 'replace' : 'update';
    return { ...common, action, reason: `${fields} ${differ}`, ...blockedByChanges(refused) };
  }
  if (changes.some((c) => c.forcesReplace)) {
    const why = changes
      .filter((c) => c.forcesReplace)
      .map((c) => c.path)
      .join(', ');
    return { ...common, action: 'replace', reason: `${why} cannot change in place` };
  }
  return { ...common, action: 'update', reason: `${fields} ${differ} from the manifest` };
}

function planRemoval(
  system: DesiredSystem,
  reversed: Provider[],
  index: ObservedIndex,
  actions: PlannedAction[],
  warnings: PlanWarning[],
): void {
  for (const provider of reversed) {
    for (const observed of index.get(provider.kind)?.get(system.name) ?? []) {
      const base = {
        system: system.name,
        kind: provider.kind,
        resourceId: observed.id,
        changes: [],
        needsPowerOff: false,
        needsReboot: false,
      };
      if (observed.retired) continue;
      if (!observed.owned) {
        warnings.push({
          system: system.name,
          kind: provider.kind,
          resourceId: observed.id,
          code: 'not-owned',
          message: "declared absent, but this resource is not shipshape's: reported, not deleted",
        });
        continue;
      }
      const blocked = system.lifecycle.protect
        ? `protected: lifecycle.protect is true (${system.sources['lifecycle.protect'] ? formatSource(system.sources['lifecycle.protect']) : system.file}); set lifecycle.protect: false in ${system.file} to allow this delete`
        : undefined;
      actions.push({
        ...base,
        action: 'delete',
        reason: `declared absent (tombstone)${deleteMeans(system, provider.kind)}`,
        ...(blocked ? blockedBy('protected', blocked) : {}),
      });
    }
  }
}

/** What a delete does to the VM and the CMDB object, said in the plan (the lifecycle settings decide it). */
function deleteMeans(system: DesiredSystem, kind: ResourceKind): string {
  if (kind === 'vm') {
    return system.lifecycle.vmOnDelete === 'poweroff-keep'
      ? ': the VM is powered off and KEPT, renamed (lifecycle.vmOnDelete: poweroff-keep)'
      : ': the VM and its disks are DESTROYED (lifecycle.vmOnDelete: destroy)';
  }
  if (kind === 'cmdb') {
    return system.lifecycle.cmdbOnDelete === 'purge'
      ? ': the CMDB object is PURGED, its history is gone (lifecycle.cmdbOnDelete: purge)'
      : ': the CMDB object is ARCHIVED, its history stays (lifecycle.cmdbOnDelete: archive)';
  }
  return '';
}

/** The fields of a blocked action: the sentence, the refusal apply would make and its outcome code. */
function blockedBy(refusal: RefusalId, blocked: string): Pick<PlannedAction, 'blocked' | 'blockedCode' | 'refusal'> {
  return { blocked, blockedCode: REFUSALS[refusal].code, refusal };
}

/** Blocked by refused field changes: every reason shown; the first change's refusal is the action's. */
function blockedByChanges(refused: FieldChange[]): Pick<PlannedAction, 'blocked' | 'blockedCode' | 'refusal'> {
  const blocked = refused.map((c) => `${c.path}: ${c.refused}`).join('; ');
  const first = refused.find((c) => c.refusal)?.refusal;
  return first ? blockedBy(first, blocked) : { blocked, blockedCode: 'refused' };
}

/** A create's changes, the one taking what another system frees first marked `after` it (as foreseen). */
function withWaits(changes: FieldChange[], foreseen: FieldChange[]): FieldChange[] {
  const waits = foreseen.filter((c) => c.after && !c.refused);
  if (!waits.length) return changes;
  const marked = changes.map((c) => {
    const w = waits.find((x) => x.to === c.to);
    return w ? { ...c, after: w.after, ...(w.refusal ? { refusal: w.refusal } : {}) } : c;
  });
  return [...marked, ...waits.filter((w) => !changes.some((c) => c.to === w.to))];
}

function sourceOf(system: DesiredSystem, path: string): { source?: string } {
  // Provider field paths may be finer than manifest paths (`disks[0].sizeGiB` vs `disks`): walk up.
  for (let p = path; p; p = p.replace(/(\.[^.]*|\[\d+\])$/, '')) {
    const s = system.sources[p];
    if (s) return { source: `${s.file}:${s.line}:${s.col}` };
    if (!/[.[]/.test(p)) break;
  }
  return {};
}

export function summarise(actions: PlannedAction[]): PlanSummary {
  const summary: PlanSummary = { create: 0, update: 0, replace: 0, delete: 0, noop: 0, blocked: 0 };
  for (const a of actions) {
    if (a.blocked) summary.blocked++;
    else summary[a.action] = (summary[a.action] ?? 0) + 1;
  }
  return summary;
}

/** A step's desired fields for the digest; a refusal (the planner blocked the action on it) counts by its sentence. */
function desiredOrRefusal(
  providers: Provider[],
  kind: ResourceKind,
  system: DesiredSystem,
  resolved: Resolved,
  site: SiteConfig,
): unknown {
  try {
    return providers.find((p) => p.kind === kind)?.desired(system, resolved, site) ?? null;
  } catch (e) {
    if (isRefusal(e)) return { refused: e.message };
    throw e;
  }
}
