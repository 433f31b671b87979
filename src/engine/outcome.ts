/**
 * Why an action is blocked or a step failed, as a closed set of codes (after Terraform's typed
 * ActionReason): the plan JSON, the apply report, exit codes and the status page read the code;
 * people read the sentence that comes with it. Adding a code is a format change (README: "Outcome codes").
 */
export const OUTCOME_CODES = {
  protected: 'the manifest protects the system (lifecycle.protect); the delete waits until that is lifted',
  'not-owned': "a resource of that name exists without shipshape's marker; only `shipshape adopt` takes it over",
  ambiguous: 'several resources claim the system; shipshape will not guess which one is meant',
  refused: 'the change cannot be made in place (shrinking a disk, reinstalling a built system)',
  collides: 'a name or address the system needs is held by something shipshape does not own',
  invalid: 'the manifests or the site config are wrong; the message says where and what to do',
  unauthorized: 'a backend refused the credentials',
  unreachable: 'a backend did not answer (timeout, connection refused) after the retries',
  failed: 'a backend answered with an error not covered above',
  stale:
    "a saved plan's action no longer holds: what it touches, or what it is to reach, changed since the plan was made; make a new plan and review it",
} as const;

export type OutcomeCode = keyof typeof OUTCOME_CODES;

/** Codes that block an action before apply (nothing was attempted). */
export const BLOCKING_CODES = [
  'protected',
  'not-owned',
  'ambiguous',
  'refused',
  'collides',
] as const satisfies readonly OutcomeCode[];

/**
 * Exit codes of `apply` (and `serve`'s last run): 0 everything converged; 3 nothing failed, but
 * something was blocked (a reviewer must act); 4 a backend refused the credentials; 5 a backend was
 * unreachable; 1 anything else. The most severe code present wins.
 */
export function exitCodeFor(codes: Iterable<OutcomeCode>): number {
  const set = new Set(codes);
  if (set.size === 0) return 0;
  if ([...set].some((c) => c === 'failed' || c === 'invalid' || c === 'stale')) return 1;
  if (set.has('unauthorized')) return 4;
  if (set.has('unreachable')) return 5;
  return 3;
}

/** `apply`'s exit code when some systems failed and the others converged, were unchanged or blocked. */
export const PARTIAL_EXIT = 6;

/**
 * The exit code of a run that got to its systems: 6 (PARTIAL_EXIT) when some failed while others did not,
 * so a pipeline can tell "these systems need attention" from "nothing could run"; otherwise exitCodeFor's.
 */
export function exitCodeForRun(outcomes: { status: string; error?: { code: OutcomeCode } }[]): number {
  const codes = outcomes.flatMap((o) => (o.error ? [o.error.code] : o.status === 'failed' ? ['failed' as const] : []));
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  if (failed > 0 && failed < outcomes.length) return PARTIAL_EXIT;
  return exitCodeFor(codes);
}

/**
 * An apply failed when a system failed a step or a create stayed in the journal. Blocked systems wait for a
 * person (the plan said so, exit 3): the history, the status page, serve's metrics and `run.failed` do not count
 * them as failures.
 */
export function applyFailed(report: { outcomes: { status: string }[]; journalLeft: unknown[] }): boolean {
  return report.outcomes.some((o) => o.status === 'failed') || report.journalLeft.length > 0;
}

/** A UserError or TransientError carries its code (`outcome`); anything else is `failed`. */
export function codeOf(e: unknown): OutcomeCode {
  const c = (e as { outcome?: unknown } | null)?.outcome;
  if (typeof c === 'string' && Object.hasOwn(OUTCOME_CODES, c)) return c as OutcomeCode;
  if ((e as Error | null)?.name === 'TransientError') return 'unreachable';
  return 'failed';
}
