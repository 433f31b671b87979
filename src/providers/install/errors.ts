/** Typed errors of the installation step. Messages name the system and the value's role, never a secret. */
import { UserError } from '../../engine/contract';

/** A value cannot be written into an answer file or iPXE script safely: a validation error, not a bug. */
export class RenderError extends UserError {
  constructor(
    readonly system: string,
    readonly field: string,
    reason: string,
  ) {
    super(`system ${system}: ${field} cannot be rendered into the installer files: ${reason}`);
  }
}

/** The installer reported failure (its log, bounded and with secrets removed, is in the message). */
export class InstallFailedError extends UserError {}

/** No `built` before the deadline. */
export class InstallTimeoutError extends UserError {}
