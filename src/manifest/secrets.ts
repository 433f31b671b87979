/**
 * Secret references: the manifests name where a secret lives (`${env:NAME}`, `${file:PATH}`), never the secret.
 * They are read at the moment a provider connects. Errors name the reference, never a value.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { registerSecret } from '../redact';
import type { Diagnostics } from './diagnostics';
import type { SecretRef } from './site';
import { asList, asMap } from './site-facts';
import { locate, type ParsedFile, type PathSeg } from './yaml-file';

export class SecretError extends Error {
  override readonly name = 'SecretError';
}

const REF = /^\$\{(env|file):([^}]+)\}$/;

export function parseSecretRef(ref: string): { source: 'env' | 'file'; key: string } | undefined {
  const m = REF.exec(ref);
  return m ? { source: m[1] as 'env' | 'file', key: m[2] } : undefined;
}

/** The file a `${file:PATH}` reference names (relative to the repo root unless absolute); undefined for any other reference. */
export function secretFilePath(ref: string, root: string): string | undefined {
  const parsed = parseSecretRef(ref);
  if (parsed?.source !== 'file') return undefined;
  return path.isAbsolute(parsed.key) ? parsed.key : path.join(root, parsed.key);
}

/** Reads the secret a reference points at. File paths are relative to the repo root unless absolute. */
export async function resolveSecret(ref: SecretRef, root: string): Promise<string> {
  const parsed = parseSecretRef(ref.ref);
  // Not a reference: it may be the secret itself, so it is not repeated.
  if (!parsed)
    throw new SecretError('a secret field holds no ${env:NAME} or ${file:PATH} reference (its value is not shown)');
  if (parsed.source === 'env') {
    const v = process.env[parsed.key];
    if (v === undefined || v === '') {
      throw new SecretError(
        `secret ${ref.ref} is not set: export ${parsed.key} in the environment that runs shipshape`,
      );
    }
    registerSecret(v);
    return v;
  }
  const file = secretFilePath(ref.ref, root)!;
  let text: string;
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw new SecretError(`secret ${ref.ref}: ${file} is not a regular file`);
    if (st.size > 1024 * 1024) throw new SecretError(`secret ${ref.ref}: ${file} is larger than 1 MiB, not a secret`);
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof SecretError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new SecretError(
      `secret ${ref.ref} cannot be read (${code}): create ${file} or fix the reference in shipshape.yaml`,
    );
  }
  // One trailing newline is an artefact of editors and `echo`; the secret itself is the rest.
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new SecretError(`secret ${ref.ref} is empty: ${file} holds no secret`);
  // From here on no output of this process carries it (src/redact).
  registerSecret(value);
  return value;
}

/** Secret files live here unless shipshape.yaml `spec.secrets.folders` says otherwise. */
export const DEFAULT_SECRET_FOLDER = 'secrets';
/** `${env:…}` may read variables with this prefix, plus those `spec.secrets.env` lists. */
export const ENV_PREFIX = 'SHIPSHAPE_';

export interface SecretPolicy {
  folders: string[];
  env: string[];
}

export function secretPolicy(raw: { folders?: string[]; env?: string[] } | undefined): SecretPolicy {
  return { folders: [...(raw?.folders ?? [DEFAULT_SECRET_FOLDER])], env: [...(raw?.env ?? [])] };
}

/**
 * Why a reference may not be read, or undefined when it may. A repo (or a branch of it) must not be
 * able to point a secret field at any file or variable of the machine that runs shipshape and have it
 * sent to an endpoint: only the secrets folders and SHIPSHAPE_* variables (or those the site lists).
 */
export function refusedRef(ref: string, policy: SecretPolicy, root: string): string | undefined {
  const p = parseSecretRef(ref);
  if (!p) return undefined; // not a reference: the schema reports it
  if (p.source === 'env') {
    if (p.key.startsWith(ENV_PREFIX) || policy.env.includes(p.key)) return undefined;
    return `secret reference ${ref} reads a variable without the ${ENV_PREFIX} prefix: rename it ${ENV_PREFIX}${p.key}, or list ${p.key} in spec.secrets.env`;
  }
  const file = path.resolve(root, p.key);
  const inside = policy.folders.some((f) => {
    const dir = path.resolve(root, f);
    return file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
  });
  if (inside) return undefined;
  const where = policy.folders.map((f) => `${f}/`).join(', ') || 'no folder';
  return `secret reference ${ref} is outside the secrets folders (${where}): move the file into ${policy.folders[0] ?? DEFAULT_SECRET_FOLDER}/, or add its folder to spec.secrets.folders`;
}

/** Checks every secret reference in shipshape.yaml against the site's own policy (read defensively: the schema may have failed). */
export function checkSecretRefs(pf: ParsedFile, root: string, diags: Diagnostics): void {
  const spec = asMap(asMap(pf.value)?.spec) ?? {};
  const raw = asMap(spec.secrets);
  const strings = (v: unknown) => asList(v).filter((x): x is string => typeof x === 'string');
  const policy = secretPolicy({
    ...(raw?.folders !== undefined ? { folders: strings(raw.folders) } : {}),
    env: strings(raw?.env),
  });
  const visit = (v: unknown, at: PathSeg[]): void => {
    if (typeof v === 'string') {
      const why = refusedRef(v, policy, root);
      if (why) diags.error(locate(pf, at), why);
    } else if (Array.isArray(v)) v.forEach((x, i) => visit(x, [...at, i]));
    else if (asMap(v)) for (const [k, x] of Object.entries(asMap(v)!)) if (k !== 'secrets') visit(x, [...at, k]);
  };
  visit(spec, ['spec']);
}
