/**
 * The `specialise` provider: after install, brings each system's roles to what its manifest lists,
 * over SSH, verified by the host key the install step learned (resolved.hostKey) or, for systems
 * shipshape did not install, by the site's known_hosts. Never trust-on-first-use.
 *
 * Fields are one per role, `roles.<name>` = `<version> <digest>`; the diff says why a role runs
 * (new, changed digest, failed check, failed last time) or goes (remove steps, or cannot be undone).
 * Observe is one SSH connection and one command per host, hosts in parallel: per-host work cannot
 * be batched across machines, so round trips grow with the number of hosts (one each).
 */
import { join, posix } from 'node:path';
import {
  UNKNOWN,
  UserError,
  type EarlierSteps,
  type FieldChange,
  type Fields,
  type Observation,
  type ObservedResource,
  type Provider,
  type ProviderContext,
  type Resolved,
} from '../../engine/contract';
import { mapPool } from '../../engine/pool';
import { Refusal } from '../../engine/refusals';
import type { RoleDef } from '../../manifest/catalog';
import { resolveSecret } from '../../manifest/secrets';
import type { SiteConfig, SpecialiseSite, SshEndpoint } from '../../manifest/site';
import type { DesiredSystem } from '../../manifest/types';
import { fingerprintPolicy, knownHostsPolicy, publicKeyPolicy, type HostKeyPolicy } from '../../transport/host-key';
import { SshHostKeyError, SshPool, type SshSession } from '../../transport/ssh';
import type { HostState } from './record';
import { RoleRecordCache, type HostIdentity } from './record-cache';
import { RoleCompiler, rootPrefix, type CompiledRole } from './role-model';
import { readHostState, runRoles, whyRun } from './runner';

interface Handle {
  state?: HostState;
  /** Why the host could not be read (unknown host key, unreachable): plan shows it, apply stops on it. */
  error?: string;
  refused?: boolean;
}

export interface SpecialiseDeps {
  site: SiteConfig;
  roles: Record<string, RoleDef>;
  systems: DesiredSystem[];
  /** Clock for the record's timestamps (tests). */
  now?: () => Date;
  /** Where role records read from unchanged machines are kept (record-cache.ts); without it every plan reads every host. */
  stateDir?: string;
}

type Target = { endpoint: SshEndpoint; policy: HostKeyPolicy } | { pending: string } | { error: string };

const fieldOf = (role: string) => `roles.${role}`;
const label = (version: string | undefined, digest: string) => `${version ? `${version} ` : ''}${digest.slice(0, 16)}`;
/** A role whose cross-references are not all known yet has no digest to show. */
const desiredLabel = (r: CompiledRole) => (r.pending ? UNKNOWN : label(r.version, r.digest));

export class SpecialiseProvider implements Provider {
  readonly kind = 'specialise' as const;
  readonly observeAfterEarlier = true;
  private readonly sp: SpecialiseSite;
  private readonly compiler: RoleCompiler;
  private readonly pool: SshPool;
  private readonly now: () => Date;
  private readonly cache: RoleRecordCache | undefined;

  constructor(private readonly deps: SpecialiseDeps) {
    if (!deps.site.specialise)
      throw new UserError(
        'systems list roles, but shipshape.yaml has no `specialise` section (user, privateKey): add it so shipshape can reach the systems',
      );
    this.sp = deps.site.specialise;
    this.compiler = new RoleCompiler(
      deps.site.root,
      deps.roles,
      this.sp.rootPrefix,
      this.sp.commandTimeoutSeconds * 1000,
      deps.systems,
    );
    this.pool = new SshPool({
      readSecret: (ref) => resolveSecret(ref, deps.site.root),
      root: deps.site.root,
      connectTimeoutMs: this.sp.connectTimeoutSeconds * 1000,
    });
    this.now = deps.now ?? (() => new Date());
    if (deps.stateDir) this.cache = new RoleRecordCache(join(deps.stateDir, 'specialise', 'records'));
  }

  /** One boot of the machine behind a target, when the VM platform names it (record-cache.ts); else undefined. */
  private bootOf(system: DesiredSystem, resolved: Resolved, endpoint: SshEndpoint): HostIdentity | undefined {
    if (!resolved.vmInstanceUuid || !resolved.vmBootTime) return undefined;
    return {
      system: system.name,
      instanceUuid: resolved.vmInstanceUuid,
      bootTime: resolved.vmBootTime,
      address: endpoint.host,
      port: endpoint.port,
      user: endpoint.user,
      hostKey: typeof resolved.hostKey === 'string' ? resolved.hostKey.trim() : (resolved.vmInstall?.hostKey ?? ''),
      installMarker: resolved.vmInstall?.marker ?? '',
      root: this.root(system.name),
    };
  }

  private root(system: string): string {
    return rootPrefix(this.sp.rootPrefix, system);
  }

  /** Where and how to reach a system: its address from the ip step, its host key from install or known_hosts. */
  target(system: DesiredSystem, resolved: Resolved): Target {
    if (resolved.ip === UNKNOWN) return { pending: 'its address is not allocated yet' };
    // What answers there now is the other system; this one is reached there once that one has moved off.
    if (resolved.heldBy) return { pending: `its address is still ${resolved.heldBy}'s, which moves off it first` };
    if (resolved.hostKey === UNKNOWN) return { pending: 'it is not installed yet (no host key reported)' };
    const endpoint: SshEndpoint = {
      host: resolved.ip,
      port: this.sp.port,
      user: this.sp.user,
      privateKey: this.sp.privateKey,
    };
    try {
      if (typeof resolved.hostKey === 'string') {
        const k = resolved.hostKey.trim();
        return { endpoint, policy: k.startsWith('SHA256:') ? fingerprintPolicy(k) : publicKeyPolicy(k) };
      }
      if (this.sp.knownHosts) {
        const file = posix.isAbsolute(this.sp.knownHosts)
          ? this.sp.knownHosts
          : posix.join(this.deps.site.root, this.sp.knownHosts);
        return { endpoint, policy: knownHostsPolicy(file, resolved.ip, this.sp.port) };
      }
    } catch (e) {
      return { error: `no trusted host key for ${system.name} (${resolved.ip}): ${(e as Error).message}` };
    }
    return {
      error: `no trusted host key for ${system.name} (${resolved.ip}): the install step reported none and specialise.knownHosts is not set; shipshape never trusts a key on first use`,
    };
  }

  /**
   * The roles as `desired` last compiled them for each system, with the other systems' values it was
   * given (`Resolved.others`), so `diff` judges exactly what the plan shows.
   */
  private readonly lastCompiled = new Map<string, CompiledRole[]>();
  /** Systems this process ran (or began to run) roles on: their record is read before every later run. */
  private readonly reached = new Set<string>();
  /** The other systems' values as the observations hold them (set by observe), for diff without desired. */
  private observedOthers: Resolved['others'];

  private compiled(system: DesiredSystem, others: Resolved['others'] = this.observedOthers): CompiledRole[] {
    return this.compiler.compileAll(system, others);
  }

  resolve(_system: DesiredSystem, observed: ObservedResource | undefined, resolved: Resolved): Resolved {
    // A host that holds a record must be diffed even when the manifest lists no roles any more.
    return observed ? { ...resolved, specialiseRecord: true } : resolved;
  }

  desired(system: DesiredSystem, resolved: Resolved): Fields | null {
    if (system.state !== 'present') return null;
    if (system.roles.length === 0 && !resolved.specialiseRecord) return null;
    // Compiled first, so a role whose files or package are missing blocks the plan (RoleError is a refusal).
    const compiled = this.compiled(system, resolved.others ?? this.observedOthers);
    this.lastCompiled.set(system.name, compiled);
    const fields: Fields = {};
    for (const r of compiled) fields[fieldOf(r.name)] = desiredLabel(r);
    return fields;
  }

  diff(system: DesiredSystem, desired: Fields, observed: ObservedResource): FieldChange[] {
    const h = (observed.handle ?? {}) as Handle;
    if (h.error)
      return [
        {
          path: 'host',
          from: h.error,
          to: 'reachable with a trusted host key',
          ...(h.refused ? { refused: h.error, refusal: 'host-key' as const } : {}),
        },
      ];
    const state: HostState = h.state ?? { checks: new Map() };
    if (state.foreign)
      return [
        {
          path: 'record',
          from: state.foreign,
          to: 'shipshape record',
          refused: `${state.foreign}; shipshape does not overwrite it`,
          refusal: 'foreign-record',
        },
      ];
    const changes: FieldChange[] = [];
    const compiled = this.lastCompiled.get(system.name) ?? this.compiled(system);
    compiled.forEach((role, i) => {
      const why = role.pending ? `waits for ${role.pending.join(', ')}` : whyRun(role, state);
      if (why === null) return;
      const src = system.sources[`roles[${i}]`] ?? system.sources.roles;
      // The labels show both digests already: a changed role says only that it changed.
      const reason = why.startsWith('changed (digest') ? 'changed' : why;
      changes.push({
        path: fieldOf(role.name),
        from: why === 'new' ? null : `${observed.fields[fieldOf(role.name)] ?? 'not applied'} (${reason})`,
        to: desired[fieldOf(role.name)],
        ...(src ? { source: `${src.file}:${src.line}:${src.col}` } : {}),
      });
    });
    for (const [name, applied] of Object.entries(state.record?.roles ?? {})) {
      if (compiled.some((r) => r.name === name)) continue;
      const to = applied.remove.length
        ? `removed: runs ${applied.remove.length} remove step${applied.remove.length === 1 ? '' : 's'}`
        : 'removed: cannot be undone (the role has no remove steps); shipshape forgets it, the machine keeps its effects';
      changes.push({ path: fieldOf(name), from: label(applied.version, applied.digest), to });
    }
    return changes;
  }

  async observe(ctx: ProviderContext, earlier?: EarlierSteps): Promise<Observation> {
    const systems = this.deps.systems.filter((s) => s.state === 'present');
    if (earlier) this.observedOthers = (name) => earlier.resolved(name);
    let roundTrips = 0;
    let cached = 0;
    const results = await mapPool(systems, 16, async (system): Promise<ObservedResource | undefined> => {
      const resolved = earlier?.resolved(system.name) ?? {
        ip: system.network.ip === 'auto' ? UNKNOWN : system.network.ip,
        mac: system.network.mac,
      };
      const t = this.target(system, resolved);
      if ('pending' in t) return undefined;
      const base = { kind: this.kind, system: system.name, owned: true };
      // A system without roles is only looked at for a record to undo; no key for it blocks nothing.
      if ('error' in t && system.roles.length === 0) return undefined;
      if ('error' in t)
        return {
          ...base,
          id: system.name,
          fields: { host: t.error },
          handle: { error: t.error, refused: true } satisfies Handle,
        };
      const id = `${t.endpoint.host}:${t.endpoint.port}`;
      // A read-only plan reads the record only: a role's `check:` is a script and runs nothing there.
      const compiled = this.compiled(system);
      const roles = compiled.map((r) => (ctx.readOnly ? { ...r, check: undefined } : r));
      const host = this.cache && this.bootOf(system, resolved, t.endpoint);
      const kept = host && !ctx.refresh ? this.cache!.get(host, compiled, !ctx.readOnly) : undefined;
      if (kept) {
        cached++;
        return this.resource(base, id, kept, compiled);
      }
      let session: SshSession;
      try {
        // One attempt: an unreachable host is what the plan reports (apply connects with retries).
        // Waiting out the backoff only delays every plan of a system whose address is changing.
        session = await this.pool.get(t.endpoint, t.policy, { attempts: 1 });
      } catch (e) {
        if (system.roles.length === 0 && !(e instanceof SshHostKeyError)) return undefined;
        const refused = e instanceof SshHostKeyError || e instanceof UserError;
        return {
          ...base,
          id,
          fields: { host: (e as Error).message },
          handle: { error: (e as Error).message, refused } satisfies Handle,
        };
      }
      roundTrips++;
      const state = await readHostState(
        session,
        this.root(system.name),
        system.name,
        roles,
        this.sp.commandTimeoutSeconds * 1000,
      );
      // A read-only plan changes nothing here either; its read lacks the checks a later plan judges by.
      if (host && !ctx.readOnly) this.cache!.put(host, state, compiled, this.now());
      if (!state.record && !state.foreign) return undefined; // never specialised (or rebuilt): every role is new
      return this.resource(base, id, state, compiled);
    });
    const resources: ObservedResource[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        if (r.value) resources.push(r.value);
      } else {
        const msg = (r.reason as Error).message;
        resources.push({
          kind: this.kind,
          system: systems[i]!.name,
          id: systems[i]!.name,
          owned: true,
          fields: { host: msg },
          handle: { error: msg } satisfies Handle,
        });
      }
    });
    ctx.log.debug({ kind: this.kind, hosts: roundTrips, cached }, 'specialise observed');
    return { resources, roundTrips };
  }

  /**
   * A host's state as a resource. The same fields whether the state was read now or kept from an
   * earlier read of the same boot (record-cache.ts): the applied roles, the failed one, and the checks
   * roles are judged by (those of roles applied at their current digest), so a saved plan's digests
   * do not depend on which of the two it was.
   */
  private resource(
    base: { kind: 'specialise'; system: string; owned: boolean },
    id: string,
    state: HostState,
    roles: CompiledRole[],
  ): ObservedResource {
    const fields: Fields = {};
    for (const [name, a] of Object.entries(state.record?.roles ?? {}))
      fields[fieldOf(name)] = label(a.version, a.digest);
    for (const r of roles) {
      const c = state.checks.get(r.name);
      if (c && state.record?.roles[r.name]?.digest === r.digest)
        fields[`check.${r.name}`] = c.code === 0 ? 'holds' : `failed (exit ${c.code})`;
    }
    if (state.record?.failed) fields.failed = `${state.record.failed.role} ${state.record.failed.label}`;
    return { ...base, id, owned: !state.foreign, fields, handle: { state } satisfies Handle };
  }

  private async apply(system: DesiredSystem, resolved: Resolved, ctx: ProviderContext): Promise<ObservedResource> {
    const t = this.target(system, resolved);
    if ('pending' in t) throw new UserError(`cannot specialise ${system.name}: ${t.pending}`);
    if ('error' in t) throw new Refusal('host-key', t.error);
    const roles = this.compiled(system, resolved.others);
    const pending = roles.flatMap((r) => r.pending ?? []);
    if (pending.length)
      throw new UserError(
        `cannot specialise ${system.name}: ${pending.map((p) => `{{ ${p} }}`).join(', ')} is not known yet (the system it names has not come up); run apply again once it has`,
      );
    const session = await this.pool.get(t.endpoint, t.policy);
    const root = this.root(system.name);
    // The kept read goes before anything changes: a run that stops mid-role leaves none behind.
    const host = this.cache && this.bootOf(system, resolved, t.endpoint);
    if (host) this.cache!.forget(host);
    // Read again right before acting: the record on the host is the truth, not the plan's snapshot.
    // Except on a machine this run's install step made from scratch, the first time this process
    // reaches it: it holds no record, so the read would find none (one command per new system fewer);
    // a retry of the step reads what its first attempt left.
    const fresh = resolved.installedNow === true && !this.reached.has(system.name);
    this.reached.add(system.name);
    const state = fresh
      ? { checks: new Map() }
      : await readHostState(session, root, system.name, roles, this.sp.commandTimeoutSeconds * 1000);
    const out = await runRoles(
      {
        system: system.name,
        root,
        session,
        log: ctx.log,
        ...(ctx.commit ? { commit: ctx.commit } : {}),
        now: this.now,
      },
      roles,
      state,
    );
    if (host) {
      // What a full read would find now: the record as written; a role that just ran all its steps is
      // taken to hold its check, the others' checks were run by the read above.
      const checks = new Map(state.checks);
      for (const name of out.ran) checks.set(name, { code: 0, tail: '' });
      this.cache!.put(host, { record: out.record, checks }, roles, this.now());
    }
    ctx.log.info(
      { system: system.name, ran: out.ran, removed: out.removed },
      out.ran.length + out.removed.length ? 'specialised' : 'roles already hold',
    );
    const fields: Fields = {};
    for (const [name, a] of Object.entries(out.record.roles)) fields[fieldOf(name)] = label(a.version, a.digest);
    return {
      kind: this.kind,
      system: system.name,
      id: `${t.endpoint.host}:${t.endpoint.port}`,
      owned: true,
      fields,
      handle: { state: { record: out.record, checks: new Map() } } satisfies Handle,
    };
  }

  create(system: DesiredSystem, _desired: Fields, resolved: Resolved, ctx: ProviderContext): Promise<ObservedResource> {
    return this.apply(system, resolved, ctx);
  }

  update(
    system: DesiredSystem,
    _desired: Fields,
    _observed: ObservedResource,
    _changes: FieldChange[],
    resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource> {
    return this.apply(system, resolved, ctx);
  }

  /** A deleted system's record goes with its machine; nothing to undo on a machine that is being destroyed. */
  async delete(system: DesiredSystem, _observed: ObservedResource, ctx: ProviderContext): Promise<void> {
    ctx.log.info({ system: system.name }, 'specialisation ends with the machine; its record is not touched');
  }

  async close(): Promise<void> {
    await this.pool.closeAll();
  }
}
