/** How the CLI ends: an exit code with a message for the user, never a stack trace unless asked for. */
import { UserError } from '../engine/contract';
import { hintFor } from './hints';

export class ExitError extends Error {
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
  }
}

/** Text for an error that reached the top: user errors as they are, others as an internal error. */
export function describeError(e: unknown, debug: boolean): string {
  if (e instanceof ExitError) return e.message;
  const hint = e instanceof Error ? hintFor(e.message) : undefined;
  const withHint = (s: string) => (hint ? `${s}\n${hint}` : s);
  if (e instanceof UserError) return withHint(`error: ${e.message}`);
  const err = e instanceof Error ? e : new Error(String(e));
  // No class names (`TransientError:`) in what the user reads; the stack, with them, is for debugging.
  if (debug) return withHint(`error: ${err.message}`) + `\n${err.stack ?? ''}`;
  return withHint(`error: ${err.message}`) + (hint ? '' : '\n(run with SHIPSHAPE_DEBUG=1 for details)');
}
