/**
 * The lab's own credentials, generated once and kept in .lab/ (git-ignored, mode 0600): the site names
 * them only as references, `${env:NAME}` (collected into .lab/credentials.env for `set -a; . FILE`) or
 * `${file:PATH}` (the file is written). Values are never printed.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parseSecretRef } from '../manifest/secrets';
import type { SecretRef } from '../manifest/site';
import { labDir } from './record';
import { LabError } from './process';

export const credentialsFile = (root: string) => join(labDir(root), 'credentials.env');

export function readCredentials(root: string): Record<string, string> {
  const f = credentialsFile(root);
  if (!existsSync(f)) return {};
  return Object.fromEntries(
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/i.test(l))
      .map((l) => {
        const i = l.indexOf('=');
        return [l.slice(0, i), l.slice(i + 1).replace(/^'|'$/g, '')];
      }),
  );
}

export class LabCredentials {
  private readonly env: Record<string, string>;

  constructor(private readonly root: string) {
    this.env = readCredentials(root);
  }

  /** The value behind `ref`: the kept one, else `make()` (or a random token) stored where the reference points. */
  provide(ref: SecretRef, what: string, make: () => string = () => randomBytes(18).toString('base64url')): string {
    const p = parseSecretRef(ref.ref);
    if (!p) throw new LabError(`${what} in shipshape.yaml is not a \${env:NAME} or \${file:PATH} reference`);
    if (p.source === 'env') {
      this.env[p.key] ??= make();
      return this.env[p.key]!;
    }
    const file = isAbsolute(p.key) ? p.key : join(this.root, p.key);
    if (existsSync(file)) return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    const value = make();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, value + '\n', { mode: 0o600 });
    return value;
  }

  save(): void {
    const f = credentialsFile(this.root);
    mkdirSync(dirname(f), { recursive: true });
    const body = Object.entries(this.env)
      .map(([k, v]) => `${k}='${v}'`)
      .join('\n');
    writeFileSync(f, `# the local lab's credentials (generated; load with: set -a; . ${f}; set +a)\n${body}\n`, {
      mode: 0o600,
    });
    chmodSync(f, 0o600);
  }
}
