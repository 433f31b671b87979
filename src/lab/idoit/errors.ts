/**
 * JSON-RPC errors as i-doit's API add-on reports them: `message` is "<topic>: <detail>",
 * `data` is always present (null or an object). Reference §1.8.
 */

export const TOPICS: Record<number, string> = {
  [-32700]: 'Parse error',
  [-32600]: 'Invalid request',
  [-32601]: 'Method not found',
  [-32602]: 'Invalid parameters',
  [-32603]: 'Internal error',
  [-32604]: 'Authentication error',
  [-32099]: 'i-doit system error',
};

export class RpcError extends Error {
  constructor(
    readonly code: number,
    readonly detail: string,
    readonly data: Record<string, unknown> | null = null,
  ) {
    super(TOPICS[code] ? `${TOPICS[code]}: ${detail}` : detail);
  }

  toJSON(): { code: number; message: string; data: Record<string, unknown> | null } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

export const parseError = (detail: string) => new RpcError(-32700, detail);
export const invalidRequest = (detail: string) => new RpcError(-32600, detail);
export const methodNotFound = (detail: string) => new RpcError(-32601, detail);
export const invalidParams = (detail: string) => new RpcError(-32602, detail);
export const internalError = (detail: string, data: Record<string, unknown> | null = null) =>
  new RpcError(-32603, detail, data);
export const authError = (detail: string) => new RpcError(-32604, detail);
export const systemError = (detail: string) => new RpcError(-32099, detail);

export const mandatory = (name: string) => invalidParams(`Mandatory parameter '${name}' not found in your request.`);

/** One rejected attribute: "There was a validation error: key(type): msg" with data {key: msg}. */
export function validationError(errors: { key: string; type: string; msg: string }[]): RpcError {
  const first = errors[0]!;
  const data: Record<string, unknown> = {};
  for (const e of errors) data[e.key] = e.msg;
  return internalError(`There was a validation error: ${first.key}(${first.type}): ${first.msg}`, data);
}

/** Unknown attribute keys: i-doit's wording has "an" and puts every unknown key into data. */
export function unknownPropertyError(keys: string[]): RpcError {
  const data: Record<string, unknown> = {};
  for (const k of keys) data[k] = `(unknown) Property '${k}' is unknown.`;
  return internalError('There was an validation error', data);
}

export const objectMissing = (id: unknown) => systemError(`Object with id "${String(id)}" does not exist.`);
