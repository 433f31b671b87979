/**
 * Typed i-doit errors. Messages name the method and carry i-doit's own message and `error.data`;
 * they never carry the API key, user name, password or session id.
 */
import { TransientError, UserError } from '../../engine/contract';

export class IdoitError extends Error {
  override name = 'IdoitError';
  constructor(
    readonly method: string,
    readonly code: number,
    /** i-doit's `error.message`, e.g. "Invalid parameters: Category \"X\" not found. …". */
    readonly idoitMessage: string,
    /** i-doit's `error.data` (null or an object such as {"ipv4_address": "…"}). */
    readonly data: unknown,
  ) {
    super(`i-doit ${method} failed (${code}): ${idoitMessage}${describeData(data)}`);
  }

  /** A validation error on one attribute, e.g. a duplicate IP (`ipv4_address`). */
  fieldError(key: string): string | undefined {
    const d = this.data as Record<string, unknown> | null;
    return d && typeof d === 'object' && typeof d[key] === 'string' ? (d[key] as string) : undefined;
  }
}

/** The API key or the user credentials were refused: not retried, says what to check. */
export class IdoitAuthError extends UserError {
  constructor(
    readonly endpoint: string,
    readonly idoitMessage: string,
  ) {
    super(
      `i-doit at ${endpoint} refused the credentials: ${idoitMessage} ` +
        (/authenticated-users-only/.test(idoitMessage)
          ? 'This i-doit accepts only users (the tenant setting api.authenticated-users-only, on by default in API add-on 1.10): set username and password in the ipam / cmdb sections (backend: idoit) of shipshape.yaml.'
          : 'Check apiKey (and username / password) of the ipam / cmdb sections (backend: idoit) in shipshape.yaml and the secrets they point to.'),
      'unauthorized',
    );
  }
}

/** i-doit answered, but not with JSON-RPC (an HTML error page, an empty body, a proxy's answer). */
export class IdoitProtocolError extends Error {
  override name = 'IdoitProtocolError';
}

export { TransientError };

function describeData(data: unknown): string {
  if (data === null || data === undefined) return '';
  try {
    const s = JSON.stringify(data);
    return ` ${s.length > 500 ? `${s.slice(0, 500)}…` : s}`;
  } catch {
    return '';
  }
}
