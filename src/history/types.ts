/**
 * Run history and audit: what every plan, apply and drift run did, who caused it and how it ended.
 * A record holds no secret: plans and drift reports never carry credentials (the manifests only hold
 * references), and error messages pass through `redact` before they are stored or sent anywhere.
 */
import type { ApplyReport, SystemOutcome } from '../engine/apply';
import type { Fields, ResourceKind } from '../engine/contract';
import type { DriftReport } from '../plan/drift';
import type { Plan, PlanSummary, PlanWarning } from '../plan/types';

export type RunKind = 'plan' | 'apply' | 'drift';

/**
 * running: not finished (or the process died: see `endedAt`); ok: nothing to do or all done;
 * changed: apply carried out changes; drift: drift found; failed: a system failed a step;
 * error: the run stopped before or outside the steps (invalid repo, unreachable backend, lock held).
 */
export type RunStatus = 'running' | 'ok' | 'changed' | 'drift' | 'failed' | 'error';

export interface RunRecord {
  id: number;
  kind: RunKind;
  /** cli, startup, `schedule <cron>`, `source moved to …`, files changed, or what SHIPSHAPE_TRIGGER says (CI: merge). */
  trigger: string;
  /** The folder or repository URL the manifests came from. */
  source: string;
  commit?: string;
  /** The working tree had uncommitted changes: the run used the files on disk, not `commit`. */
  dirty?: boolean;
  /** Git author of `commit` ("Name <mail>"). */
  author?: string;
  /** The OS user that ran the command. */
  user: string;
  host: string;
  /** The process that runs it (and that process's start, `processStart`): a run whose process is gone never ends. */
  pid?: number;
  procStart?: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  status: RunStatus;
  summary?: PlanSummary;
  applied?: ApplyReport['applied'];
  /** Systems whose plan had changes, or that drifted: what `history --system` filters on. */
  systems: string[];
  error?: string;
  plan?: Plan;
  outcomes?: SystemOutcome[];
  drift?: DriftReport;
}

export type RunSummary = Omit<RunRecord, 'plan' | 'outcomes' | 'drift'>;

/** What the estate looked like at the last run that observed it: the status page renders this. */
export interface EstateSnapshot {
  takenAt: string;
  runId: number;
  commit?: string;
  dirty?: boolean;
  /** Declared systems (from the manifests). */
  systems: {
    name: string;
    state: string;
    os: string;
    cpu: number;
    memoryMiB: number;
    net: string;
    roles: string[];
    labels: Record<string, string>;
    file: string;
  }[];
  /** Observed resources per kind (provider handles left out). */
  observed: Partial<
    Record<ResourceKind, { system: string; id: string; owned: boolean; retired?: boolean; fields: Fields }[]>
  >;
  warnings: PlanWarning[];
  /** The plan for the commit of that run: what apply would do now. */
  pending: Plan;
}

export interface HistoryQuery {
  system?: string;
  kind?: RunKind;
  since?: Date;
  limit?: number;
}
