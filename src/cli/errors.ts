/** How the CLI ends: an exit code with a message for the user, never a stack trace unless asked for. */
import { UserError } from '../engine/contract';

export class ExitError extends Error {
  constructor(readonly code: number, message = '') {
    super(message);
  }
}

/** Text for an error that reached the top: user errors as they are, others as an internal error. */
export function describeError(e: unknown, debug: boolean): string {
  if (e instanceof ExitError) return e.message;
  if (e instanceof UserError) return `error: ${e.message}`;
  const err = e instanceof Error ? e : new Error(String(e));
  const named = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
  if (debug) return `error: ${named}${err.message}\n${err.stack ?? ''}`;
  return `error: ${named}${err.message}\n(run with SHIPSHAPE_DEBUG=1 for details)`;
}
