/**
 * A plan is plain data (after Terraform): every change with its action, field, old and new value,
 * where the desired value came from, and why. Renderers turn it into text, Markdown or JSON;
 * apply executes it. The JSON form is the documented, stable interface (README: "Plan JSON").
 */
import type { FieldChange, ResourceKind } from '../engine/contract';
import type { BLOCKING_CODES } from '../engine/outcome';
import type { RefusalId } from '../engine/refusals';

export type BlockingCode = (typeof BLOCKING_CODES)[number];

export const ACTIONS = ['create', 'update', 'replace', 'delete', 'adopt', 'noop'] as const;
export type Action = (typeof ACTIONS)[number];

export interface PlannedAction {
  system: string;
  kind: ResourceKind;
  action: Action;
  /** The backend id of the observed resource, when there is one. */
  resourceId?: string;
  changes: FieldChange[];
  needsPowerOff: boolean;
  needsReboot: boolean;
  /** One sentence: why this action. */
  reason: string;
  /** Set when apply will not carry the action out (protected, not ours, refused change); says what to do. */
  blocked?: string;
  /** Why it is blocked, from the closed set (protected, not-owned, ambiguous, refused, collides): set with `blocked`. */
  blockedCode?: BlockingCode;
  /**
   * What the action touches, as observed: its system's resources of its kind and the values earlier steps
   * hand it. Apply refuses a saved plan's action when this changed (set by the planner, src/plan/digest.ts,
   * on every action but a noop, which apply never carries out).
   */
  observedDigest?: string;
  /** What the action is to reach: the expanded manifest, the provider's desired fields, the site config. */
  desiredDigest?: string;
  /** Which of apply's refusals (src/engine/refusals.ts) the plan foresees here: set with `blocked`. */
  refusal?: RefusalId;
  /**
   * Steps of other systems this action runs after (set from its changes' `after`): the system that
   * frees the address it takes. Apply starts this action once those finished and fails it when one
   * of them failed (one not in the run: the step's own checks decide); the rest of either pipeline does not wait.
   */
  waitsFor?: { system: string; kind: ResourceKind }[];
  /** A delete of what a system left in this shard when its manifest moved it to another shard's net (shard-move.ts). */
  movedTo?: { shard: string; net: string };
}

/** Something a reviewer must know that is not an action: resources we see but will not touch. */
export interface PlanWarning {
  system: string;
  kind: ResourceKind;
  resourceId: string;
  /**
   * `unmanaged`: in the managed scope (folder, net, zone, DHCP server) without a marker, and no manifest names it.
   * `readdress`: an installed system's address changes; what its guest does about it (plan/readdress.ts).
   */
  code: 'not-owned' | 'orphan' | 'ambiguous' | 'unmanaged' | 'readdress';
  message: string;
}

export interface PlanSummary {
  create: number;
  update: number;
  replace: number;
  delete: number;
  /** Existing resources taken over (`shipshape adopt`); the changes of an adoption count here too. */
  adopt?: number;
  noop: number;
  blocked: number;
}

export interface Plan {
  /** Version of this JSON format; bumped only on incompatible changes. */
  formatVersion: 1;
  createdAt: string;
  /** The git commit of the manifests, when the repo is a git checkout. */
  commit?: string;
  /** The checkout had uncommitted changes: the plan is of the files on disk, not of `commit` alone. */
  dirty?: boolean;
  /** Digest of all expanded manifests and the site (informational: apply checks each action's own digests). */
  desiredDigest: string;
  /** Digest of everything observed (informational: apply checks each action's own digests). */
  observedDigest: string;
  summary: PlanSummary;
  actions: PlannedAction[];
  warnings: PlanWarning[];
  /** The deletion guard: apply refuses a plan that deletes (resources of) more systems than this. */
  maxDeletes: number;
  /** Round trips spent observing, per kind. */
  roundTrips: Partial<Record<ResourceKind, number>>;
  /** A review plan (`--read-only`, implied by `--base`): observing read only, nothing ran on a managed host. Apply refuses it. */
  readOnly?: boolean;
  /** `--base`: the site config, roles, OS catalog and every other tracked file came from this commit; systems/ and profiles/ from the branch. */
  trusted?: { base: string; commit: string; notUsed: TrustedChange[] };
  /** Set when the plan was narrowed (`--system`, `--selector`, `--kind`, `--changed-since`): the flags, as given. A scoped plan applied from its file stays scoped. */
  scope?: string;
  /** What each backend said about itself while observed (vSphere: `server`, `apiVersion` negotiated). */
  backends?: Partial<Record<ResourceKind, Record<string, string>>>;
}

/** A change the branch makes to a trusted file: not used for this plan; applied only after merge. */
export interface TrustedChange {
  file: string;
  status: 'added' | 'modified' | 'deleted';
  added?: number;
  removed?: number;
}

/**
 * The systems a plan deletes resources of (blocked deletes do not count). The deletion guard counts
 * systems, not resources: retiring one system deletes up to five resources (VM, records, reservation,
 * CMDB object, address), and an operator thinks "one system".
 */
export function deletedSystems(plan: Pick<Plan, 'actions'>): string[] {
  // Records a moved system left in its old shard are not the system: it lives on in its new shard.
  const gone = plan.actions.filter((a) => a.action === 'delete' && !a.blocked && !a.movedTo);
  return [...new Set(gone.map((a) => a.system))].sort();
}

export function isChange(a: PlannedAction): boolean {
  return a.action !== 'noop';
}
