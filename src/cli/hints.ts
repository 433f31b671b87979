/**
 * The last line of an error an operator can act on: which key of shipshape.yaml to check, and for
 * credentials, the environment variable or file the key reads them from. The CLI remembers the site
 * config it loaded so the hint can name the exact reference (`${env:SHIPSHAPE_VSPHERE_PASSWORD}`) the section names.
 */
import type { SiteConfig } from '../manifest/site';

let site: SiteConfig | undefined;

export function rememberSite(s: SiteConfig): void {
  site = s;
}

const UNREACHABLE =
  /\b(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|timed out after)\b/;

type Section = 'vms' | 'ipam' | 'cmdb';

/** The site sections a backend serves, e.g. vsphere → [vms], idoit → [ipam, cmdb]. */
function sectionsOf(s: SiteConfig | undefined, backend: string): Section[] {
  return (['vms', 'ipam', 'cmdb'] as const).filter((k) => s?.[k]?.backend === backend);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function hintFor(message: string, s: SiteConfig | undefined = site): string | undefined {
  if (/^vSphere\b/.test(message) && UNREACHABLE.test(message)) {
    const [k] = sectionsOf(s, 'vsphere');
    const key = `${k ?? 'vms'}.url`;
    const url = k ? str(s![k]!.url) : undefined;
    return `hint: shipshape cannot reach vCenter: check ${key} in shipshape.yaml${url ? ` (${url})` : ''}; is vCenter up, and is it reachable from this host (firewall, proxy, DNS)?`;
  }
  if (/\bInvalidLogin\b/.test(message)) {
    const [k = 'vms'] = sectionsOf(s, 'vsphere');
    const sec = s?.[k];
    const from = (f: string) => (str(sec?.[f]) ? ` (read from ${str(sec?.[f])})` : '');
    return `hint: vCenter refused the login: check ${k}.username${from('username')} and ${k}.password${from('password')} in shipshape.yaml; is that set in this environment, and is the password current?`;
  }
  if (/^i-doit at .*refused the credentials/.test(message)) {
    const parts = sectionsOf(s, 'idoit').flatMap((k) =>
      ['apiKey', 'username', 'password']
        .filter((f) => str(s![k]![f]))
        .map((f) => `${k}.${f} is read from ${str(s![k]![f])}`),
    );
    return parts.length ? `hint: ${parts.join('; ')}` : undefined;
  }
  if (/^i-doit\b/.test(message) && UNREACHABLE.test(message)) {
    const ks = sectionsOf(s, 'idoit');
    const urls = [...new Set(ks.map((k) => str(s![k]!.url)).filter(Boolean))];
    return `hint: shipshape cannot reach i-doit: check ${ks.length ? ks.map((k) => `${k}.url`).join(' / ') : 'ipam.url / cmdb.url'} in shipshape.yaml${urls.length ? ` (${urls.join(', ')})` : ''}; is it up and reachable from this host?`;
  }
  return undefined;
}
