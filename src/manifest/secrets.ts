/**
 * Secret references: the manifests name where a secret lives (`${env:NAME}`, `${file:PATH}`), never the secret.
 * They are read at the moment a provider connects. Errors name the reference, never a value.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { registerSecret } from '../redact';
import type { SecretRef } from './site';

export class SecretError extends Error {
  override readonly name = 'SecretError';
}

const REF = /^\$\{(env|file):([^}]+)\}$/;

export function parseSecretRef(ref: string): { source: 'env' | 'file'; key: string } | undefined {
  const m = REF.exec(ref);
  return m ? { source: m[1] as 'env' | 'file', key: m[2] } : undefined;
}

/** Reads the secret a reference points at. File paths are relative to the repo root unless absolute. */
export async function resolveSecret(ref: SecretRef, root: string): Promise<string> {
  const parsed = parseSecretRef(ref.ref);
  // Not a reference: it may be the secret itself, so it is not repeated.
  if (!parsed) throw new SecretError('a secret field holds no ${env:NAME} or ${file:PATH} reference (its value is not shown)');
  if (parsed.source === 'env') {
    const v = process.env[parsed.key];
    if (v === undefined || v === '') {
      throw new SecretError(`secret ${ref.ref} is not set: export ${parsed.key} in the environment that runs shipshape`);
    }
    registerSecret(v);
    return v;
  }
  const file = path.isAbsolute(parsed.key) ? parsed.key : path.join(root, parsed.key);
  let text: string;
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw new SecretError(`secret ${ref.ref}: ${file} is not a regular file`);
    if (st.size > 1024 * 1024) throw new SecretError(`secret ${ref.ref}: ${file} is larger than 1 MiB, not a secret`);
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof SecretError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new SecretError(`secret ${ref.ref} cannot be read (${code}): create ${file} or fix the reference in shipshape.yaml`);
  }
  // One trailing newline is an artefact of editors and `echo`; the secret itself is the rest.
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new SecretError(`secret ${ref.ref} is empty: ${file} holds no secret`);
  // From here on no output of this process carries it (src/redact).
  registerSecret(value);
  return value;
}
