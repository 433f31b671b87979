/**
 * The last line of an error an operator can act on: which key of shipshape.yaml to check, and for
 * credentials, the environment variable or file the key reads them from. The CLI remembers the site
 * config it loaded so the hint can name the exact reference (`${env:SHIPSHAPE_VSPHERE_PASSWORD}`).
 */
import type { SiteConfig } from '../manifest/site';

let site: SiteConfig | undefined;

export function rememberSite(s: SiteConfig): void {
  site = s;
}

const UNREACHABLE = /\b(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|timed out after)\b/;

export function hintFor(message: string, s: SiteConfig | undefined = site): string | undefined {
  if (/^vSphere\b/.test(message) && UNREACHABLE.test(message)) {
    const url = s?.vsphere?.url;
    return `hint: shipshape cannot reach vCenter: check vsphere.url in shipshape.yaml${url ? ` (${url})` : ''}; is vCenter up, and is it reachable from this host (firewall, proxy, DNS)?`;
  }
  if (/\bInvalidLogin\b/.test(message)) {
    const v = s?.vsphere;
    return `hint: vCenter refused the login: vsphere.username${v ? ` (read from ${v.username.ref})` : ''} and vsphere.password${v ? ` (read from ${v.password.ref})` : ''} in shipshape.yaml; is that set in this environment, and is the password current?`;
  }
  if (/^i-doit at .*refused the credentials/.test(message)) {
    const i = s?.idoit;
    return i ? `hint: idoit.apiKey is read from ${i.apiKey.ref}${i.username ? `, idoit.username from ${i.username.ref}` : ''}${i.password ? `, idoit.password from ${i.password.ref}` : ''}` : undefined;
  }
  if (/^i-doit\b/.test(message) && UNREACHABLE.test(message)) {
    const url = s?.idoit?.url;
    return `hint: shipshape cannot reach i-doit: check idoit.url in shipshape.yaml${url ? ` (${url})` : ''}; is it up and reachable from this host?`;
  }
  return undefined;
}
