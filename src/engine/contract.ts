/**
 * The one contract every backend implements (after Crossplane's managed reconciler):
 * observe everything of its kind in a constant number of round trips, then idempotent
 * create / update / delete per resource. The planner never talks to a backend: it only calls
 * the pure `desired` and `diff` functions, so planning is a pure function of (manifests, observation).
 */
import type { DesiredSystem } from '../manifest/types';
import type { OutcomeCode } from './outcome';
import type { RefusalId } from './refusals';
import type { SiteConfig } from '../manifest/site';

/** The order in which a system's resources are applied (deletes run in reverse). */
export const RESOURCE_KINDS = ['ip', 'dns', 'dhcp', 'vm', 'install', 'specialise', 'cmdb'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** A value the plan cannot know until an earlier step has run (an address `ip: auto` has not taken yet). */
export const UNKNOWN = '(known after apply)';
export type Maybe<T> = T | typeof UNKNOWN;

/** What the manifest itself fixes before any step ran (an explicit address, a pinned MAC). */
export interface ResolvedFromManifest {
  ip: Maybe<string>;
  mac: string;
}

/** What the `ip` step (an IPAM) hands on. */
export interface ResolvedByIp {
  /** Netmask length and gateway of the system's net, when the IPAM knows them. */
  prefixLength?: number;
  gateway?: string;
  /**
   * The explicit address is still held by this other declared system, which this run moves off it
   * before this system's ip step takes it: until then what answers there is that system, not this one.
   */
  heldBy?: string;
}

/** What the `vm` step (a VM platform) hands on; it also sets `mac`. */
export interface ResolvedByVm {
  /** The platform's id of the VM (a vSphere moref). */
  vmId?: string;
  vmInstanceUuid?: string;
  /**
   * When the VM was last powered on, as the platform reports it (vSphere: runtime.bootTime); absent
   * while it is off. With vmInstanceUuid it names one boot of one machine: specialisation keeps the
   * role record it read for exactly that boot. Not part of any action's digest (a reboot is no change).
   */
  vmBootTime?: string;
  /** The host or cluster the VM runs on, as the CMDB should document it. */
  host?: string;
  /**
   * `adopted`: the VM was made and installed by someone else and taken over (`shipshape adopt`);
   * the install step never installs it.
   */
  installed?: 'adopted';
  /**
   * What the VM itself says about its installation (its extraConfig): the install marker, the OS it
   * was cloned for, the host key the guest published. The install step plans from it when the state
   * dir holds no record (a new machine, a merge-request runner).
   */
  vmInstall?: { marker: string; os: string; hostKey?: string };
}

/** What the `install` step hands on. */
export interface ResolvedByInstall {
  /** PXE options the DHCP step puts into the reservation (known before any step ran: see `promises`). */
  boot?: BootOptions;
  /** `[datastore] path` of a boot ISO the VM should boot once. */
  installIso?: string;
  /**
   * The install step will install this system and powers its VM on itself to boot the installer: a VM
   * the vm step clones in this run is left powered off (a power-on only to be reset is a vCenter task
   * per VM for nothing). The executor relies on it: such a create starts before the DNS and DHCP
   * deploys are done, as nothing boots before the install step, which waits for them.
   */
  bootsVm?: boolean;
  /**
   * The system's SSH host key as the install step learned it from the installer's callback: an
   * OpenSSH public key line (`ssh-ed25519 AAAA…`, preferred: it pins the key type too) or a
   * `SHA256:` fingerprint. UNKNOWN until the system is installed. Specialisation never connects
   * without it (or a known_hosts entry for adopted systems).
   */
  hostKey?: Maybe<string>;
  /**
   * This run's install step installed the system from scratch (it booted the VM into the installer):
   * nothing but specialisation writes a role record, so the new machine holds none yet.
   */
  installedNow?: boolean;
}

/** What the `specialise` step hands on (its record of applied roles, for removal). */
export interface ResolvedBySpecialise {
  specialiseRecord?: unknown;
}

/** What the engine hands every step about the other systems (cross-references: `{{ systems.db-01.ip }}`). */
export interface ResolvedByEngine {
  /**
   * What another system's steps have resolved so far: in a plan, from the observations (UNKNOWN for
   * an address not allocated yet); in apply, live, so a system that depends on another sees its
   * values once that system's pipeline has run. Undefined for an undeclared system.
   */
  others?: (system: string) => Resolved | undefined;
}

/**
 * Values one step hands to the next. Typed per producing kind: a step reads only fields some
 * earlier kind declares here, so a new key is a contract change, not a silent string.
 */
export type Resolved = ResolvedFromManifest &
  ResolvedByIp &
  ResolvedByVm &
  ResolvedByInstall &
  ResolvedBySpecialise &
  ResolvedByEngine;

/** Boot options for PXE (DHCP `next-server` and `filename`). */
export interface BootOptions {
  nextServer?: string;
  filename?: string;
}

/** What the installation step needs from a VM platform to boot an ISO (the `bootMedia` capability). */
export interface BootMedia {
  /** Uploads the ISO to the platform's storage, attaches it to the VM's CD-ROM; returns its path there. */
  attachIso(system: DesiredSystem, resolved: Resolved, isoFile: string, ctx: ProviderContext): Promise<string>;
  /** Detaches the ISO once the install is done (the VM then boots from disk). */
  detachIso(system: DesiredSystem, resolved: Resolved, datastorePath: string, ctx: ProviderContext): Promise<void>;
  /** The VM's own install marker (`built` once installed): a lost state dir must never mean a reinstall. */
  installMarker(system: DesiredSystem, resolved: Resolved, ctx: ProviderContext): Promise<string | undefined>;
  setInstallMarker(system: DesiredSystem, resolved: Resolved, value: string, ctx: ProviderContext): Promise<void>;
  /**
   * A `guestinfo.*` value of the VM as the platform reports it (vCenter: config.extraConfig). The guest
   * sets these itself (`vmware-rpctool "info-set guestinfo.x v"`), so a value read here came from
   * inside the VM or from someone with rights on the VM in vCenter, never from the install network.
   */
  guestInfo(system: DesiredSystem, resolved: Resolved, key: string, ctx: ProviderContext): Promise<string | undefined>;
  /** Sets (or with '' removes) a `guestinfo.*` value: cleared before each attempt; the lab's stand-in plays the guest with it. */
  setGuestInfo(
    system: DesiredSystem,
    resolved: Resolved,
    key: string,
    value: string,
    ctx: ProviderContext,
  ): Promise<void>;
  /**
   * Powers the VM on (or resets it) so it boots the installer now; resolves with the platform's time
   * of this boot (vSphere `runtime.bootTime`) when it reports one: specialisation keys what it keeps
   * of a host by its boot (src/providers/specialise/record-cache.ts).
   */
  restart(system: DesiredSystem, resolved: Resolved, ctx: ProviderContext): Promise<string | undefined>;
}

/**
 * What a provider can do for other steps, declared instead of discovered with `instanceof`:
 * the registry links steps through these only.
 */
export interface Capabilities {
  /** A VM platform that can attach boot media (the install step's ISO path). */
  bootMedia?: () => BootMedia;
  /** An IPAM that allocates addresses (`ip: auto`); without it every system needs an explicit address. */
  allocates?: boolean;
  /** A CMDB that documents systems. */
  documents?: boolean;
}

/**
 * The fields of a kind's observed resources the cross-backend consistency check compares. A provider
 * declares them `satisfies IdentityFields<ItsFields>`, so renaming a field breaks its build.
 */
export interface IdentityFields<F extends Fields = Fields> {
  readonly ip?: Extract<keyof F, string>;
  readonly mac?: Extract<keyof F, string>;
}

/** Identity fields as the engine holds them, whatever the provider's field type. */
export interface Identity {
  readonly ip?: string;
  readonly mac?: string;
}

/** What one backend holds for one system, flattened into comparable fields. */
export type Fields = Record<string, unknown>;

export interface ObservedResource<F extends Fields = Fields, H = unknown> {
  kind: ResourceKind;
  /** The system this resource belongs to: from our marker, or the name it was matched by. */
  system: string;
  /** The backend's own id (moref, i-doit object id, record owner name …). */
  id: string;
  /** Carries shipshape's ownership marker. Only owned resources are ever updated or deleted. */
  owned: boolean;
  fields: F;
  /** Backend-specific details the provider needs to act (not compared, not shown). */
  handle?: H;
  /**
   * Already in the state a delete leaves it in (an archived i-doit object, a host-address entry already
   * released): a tombstone plans nothing for it, so deleting converges instead of repeating every run.
   */
  retired?: boolean;
  /**
   * Outside the scope shipshape manages (a VM in another folder of the datacenter): read only so a
   * create never duplicates its name, and so it can be adopted. Says where it is, for messages.
   */
  outOfScope?: string;
}

export interface Observation<F extends Fields = Fields, H = unknown> {
  resources: ObservedResource<F, H>[];
  /** Round trips spent observing: benches and tests assert this does not grow with the system count. */
  roundTrips: number;
  /** Facts about the backend the plan header shows (vSphere: the server and the API version negotiated). */
  about?: Record<string, string>;
}

/** One field that differs, with the source of the desired value. */
export interface FieldChange {
  path: string;
  from: unknown;
  to: unknown;
  /** file:line:col of the manifest value that wants `to`. */
  source?: string;
  /** Changing this field means destroying and recreating the resource. */
  forcesReplace?: boolean;
  needsPowerOff?: boolean;
  needsReboot?: boolean;
  /** Apply cannot do this at all (e.g. shrinking a disk): the action is blocked with this reason. */
  refused?: string;
  /** Which of apply's refusals (src/engine/refusals.ts) `refused` foresees: set with `refused` (or `after`: the refusal if that never happens). */
  refusal?: RefusalId;
  /**
   * The value is held by another declared system whose step of the same kind this plan moves off it
   * (an `ip: auto` holding an address a manifest now declares): the change is made after that step
   * ran. The planner orders the actions (`PlannedAction.waitsFor`) or, when the other system's step
   * is not in the plan, blocks this one with `refusal`.
   */
  after?: string;
}

/** Handed to every I/O call of a provider. */
export interface ProviderContext {
  site: SiteConfig;
  /** The git commit being applied, recorded in markers when known. */
  commit?: string;
  log: Logger;
  signal?: AbortSignal;
  /** Dry-run lab stand-ins may only be used when the site says it is a lab. */
  lab: boolean;
  /** A read-only plan (merge requests): observe only reads; nothing is executed on a managed host (no role checks). */
  readOnly?: boolean;
  /**
   * Read every target in full, never what a provider kept from an earlier read of an unchanged
   * machine (drift, `--refresh`): the specialise step's role records (src/providers/specialise).
   */
  refresh?: boolean;
  /**
   * The systems the manifests declare: a provider reads the details of unmarked resources of these
   * names only (adoption candidates), not of everything it can see.
   */
  declared?: ReadonlySet<string>;
  /** A long step reports how far it got (a clone task at 40 %); apply shows it in its progress lines. */
  progress?: (system: string, kind: ResourceKind, message: string) => void;
}

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
}

/**
 * What earlier steps hold for each system, for a provider that can only observe once it knows them
 * (specialisation reaches a system at the address the ip step holds, verified by the host key the
 * install step learned).
 */
export interface EarlierSteps {
  /** The values earlier steps resolved from their observations, or undefined for an undeclared system. */
  resolved(system: string): Resolved | undefined;
}

export interface Provider<F extends Fields = Fields, H = unknown> {
  readonly kind: ResourceKind;
  /** What this provider offers other steps (boot media, allocation, documentation). */
  readonly capabilities?: Capabilities;
  /** Which of its fields hold the system's address and MAC, for the consistency check across backends. */
  readonly identity?: Identity;
  /**
   * Pure: values this step promises to later AND earlier steps before any step ran (the install
   * step's PXE boot options, which the DHCP step puts into the reservation it creates first).
   */
  promises?(system: DesiredSystem, site: SiteConfig): Partial<Resolved>;
  /**
   * Pure, optional: this step's resource as the earlier steps' values show it, when its own observation
   * has none (the install state from the VM's marker when the state dir is empty). Planning and
   * apply treat it as observed, so a plan needs no local state for it.
   */
  recovered?(system: DesiredSystem, resolved: Resolved): ObservedResource<F, H> | undefined;
  /** Observe after every other kind, with `earlier` set (default: all kinds observe in parallel). */
  readonly observeAfterEarlier?: boolean;
  /** Pure: the fields this backend should hold for a present system, or null if the kind does not apply to it. */
  desired(system: DesiredSystem, resolved: Resolved, site: SiteConfig): F | null;
  /**
   * Pure: owned fields that differ. Fields owned by others (placement, guest-reported values)
   * must never appear here.
   */
  diff(system: DesiredSystem, desired: F, observed: ObservedResource<F, H>): FieldChange[];
  /**
   * Optional: what apply would refuse when creating this resource (an explicit address another object
   * holds, a template or net that is not there), as changes with `refused` and `refusal` set; the plan
   * blocks the create with them. From this provider's last observation only, never a call to the
   * backend (observe reads what it needs once per run); a refusal's sentence may read where the site
   * file sets a key (src/manifest/site-keys.ts). Asked twice for one system, it answers the same: a
   * provider that hands out something scarce (a net's last addresses) keeps who got it in plan order.
   */
  foreseeCreate?(system: DesiredSystem, desired: F): FieldChange[];
  /**
   * Optional, with a `foreseeCreate` that hands out something scarce: `systems` are blocked by another
   * step's refusal or outside the run's target (PlanInput.only), so apply takes nothing for them. Returns true when that frees something another
   * system was refused; the planner then plans again, asking it without them.
   */
  leaveOut?(systems: ReadonlySet<string>): boolean;
  /** Everything of this kind in scope, marked or not, in a constant number of round trips. */
  observe(ctx: ProviderContext, earlier?: EarlierSteps): Promise<Observation<F, H>>;
  /**
   * `intent` is the engine's create journal entry for this resource (see src/engine/journal.ts):
   * what an interrupted earlier create recorded, and `note` to record provider details (a task id)
   * before waiting on them.
   */
  create(
    system: DesiredSystem,
    desired: F,
    resolved: Resolved,
    ctx: ProviderContext,
    intent?: CreateIntent,
  ): Promise<ObservedResource<F, H>>;
  /**
   * Optional: after a create failed or was interrupted, find what it left (from the details it
   * noted in the journal, or by name) and make sure the next observe sees it as owned (mark it),
   * so the next plan shows it. Returns it, or undefined when the create left nothing. Throws when
   * the backend cannot tell (unreachable): the engine then keeps the journal entry for the next run.
   */
  adoptCreated?(
    system: DesiredSystem,
    detail: Record<string, string>,
    ctx: ProviderContext,
  ): Promise<ObservedResource<F, H> | undefined>;
  /**
   * Optional: takes an existing resource without shipshape's marker over for `system` (`shipshape
   * adopt`): writes the marker and nothing else, and returns it as owned. Only called for a resource
   * the planner matched by name; a later `update` makes the changes an operator accepted.
   */
  adopt?(
    system: DesiredSystem,
    observed: ObservedResource<F, H>,
    resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource<F, H>>;
  update(
    system: DesiredSystem,
    desired: F,
    observed: ObservedResource<F, H>,
    changes: FieldChange[],
    resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<ObservedResource<F, H>>;
  delete(system: DesiredSystem, observed: ObservedResource<F, H>, ctx: ProviderContext): Promise<void>;
  /**
   * Optional: called once after a stage's create/update/delete calls, so batching backends
   * (a zone file, a DHCP config) render, check, deploy and reload once per run, not once per system.
   * Returns the systems whose changes failed to land.
   */
  commit?(ctx: ProviderContext): Promise<CommitResult>;
  /**
   * Resolved values this step produces for later steps (the IPAM provider sets `ip`). Called with
   * the owned observed resource BEFORE `desired` (so an existing allocation is not a change) and
   * again after create/update with the result. Must keep an explicit manifest value as it is.
   */
  resolve?(system: DesiredSystem, observed: ObservedResource<F, H> | undefined, resolved: Resolved): Resolved;
  /** Release sessions (Logout) at the end of every run; in `serve`, of a reusable provider, at shutdown. */
  close?(): Promise<void>;
  /** `serve` keeps it from run to run (its session reused); each observe starts a run afresh. */
  readonly reusable?: boolean;
  /**
   * Optional (`serve`): the backend's change feed. `onChange` gets the resources that changed since,
   * read again (a cost in the number of changes, not of resources), and the ids of those gone.
   */
  watch?(ctx: ProviderContext, onChange: (changes: WatchedChanges<F, H>) => void): Promise<ProviderWatch>;
}

export interface WatchedChanges<F extends Fields = Fields, H = unknown> {
  changed: ObservedResource<F, H>[];
  /** Ids of resources deleted or moved out of what the provider observes. */
  gone: string[];
  /** Found by a full resync (the feed lost its place), not reported one by one. */
  resync: boolean;
}

export interface ProviderWatch {
  /** Ends the feed: the wait in progress is abandoned, server-side state removed. Never throws. */
  stop(): Promise<void>;
  /** Reads these resources again now and reports them through `onChange` (what a feed reported may have moved on since). */
  reread(ids: string[]): Promise<void>;
  readonly stats: Record<string, number>;
}

/** The engine's record of one create in flight, handed to `Provider.create`. */
export interface CreateIntent {
  /** The journal file, for messages. */
  readonly path: string;
  /** What an interrupted earlier create of this resource recorded, when there was one. */
  readonly interrupted?: { startedAt: string; detail: Record<string, string> };
  /** Everything noted so far (including an interrupted create's details). */
  readonly detail: Record<string, string>;
  /** Records provider details durably (fsynced) before it returns. */
  note(detail: Record<string, string>): void;
}

export interface CommitResult {
  failed: { system: string; error: Error }[];
}

/** Errors a provider throws for transient failures (timeouts, 5xx, connection resets); the engine retries only these. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
  readonly outcome: OutcomeCode = 'unreachable';
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/**
 * A user-facing error: the message says what is wrong and what to do. Never printed with a stack.
 * `outcome` says why, from the closed set in outcome.ts (default `failed`).
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    message: string,
    readonly outcome: OutcomeCode = 'failed',
  ) {
    super(message);
  }
}
