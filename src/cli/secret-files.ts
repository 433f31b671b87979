/**
 * Secret files every user of this host may read: said once per run, with where the site names them. A
 * warning, not a refusal: the secret is already exposed on this host, and refusing would stop the run that
 * an operator needs to mend things (SSH private keys are the exception, refused as OpenSSH refuses them:
 * src/transport/ssh.ts).
 */
import { statSync } from 'node:fs';
import { secretFilePath } from '../manifest/secrets';
import type { SiteConfig } from '../manifest/site';
import { whereWritten } from './hints';

/**
 * Every `${file:…}` reference in the site config (secrets are `{ ref }` objects there), but SSH private keys:
 * the SSH transport refuses an open one with its own error.
 */
function fileRefs(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) fileRefs(x, out);
  else if (v && typeof v === 'object') {
    const ref = (v as { ref?: unknown }).ref;
    if (typeof ref === 'string' && ref.startsWith('${file:')) out.add(ref);
    else for (const [k, x] of Object.entries(v)) if (k !== 'privateKey') fileRefs(x, out);
  }
  return out;
}

export function openSecretFileWarnings(site: SiteConfig): string[] {
  const out: string[] = [];
  for (const ref of fileRefs(site)) {
    const file = secretFilePath(ref, site.root);
    if (file === undefined) continue;
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch {
      continue; // a missing file is an error where the secret is read
    }
    if ((mode & 0o004) === 0) continue;
    const at = whereWritten(site, ref);
    out.push(
      `warning: secret file ${file} (${ref}${at.length ? `, ${at.join(', ')}` : ''}) may be read by every user of this host (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${file}, and change the secret if others could read it`,
    );
  }
  return out;
}
