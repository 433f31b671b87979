/**
 * The last line of an error an operator can act on: which key of shipshape.yaml to check, and for
 * credentials, the environment variable or file the key reads them from. The CLI remembers the site
 * config it loaded so the hint can name the exact reference (`${env:SHIPSHAPE_VSPHERE_PASSWORD}`) the section names.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { filesOf, siteKeyAt as keyAt, type SitePlace } from '../manifest/site-keys';
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

/** A site value as written: a string, or a secret reference's text (the loaded site holds `{ ref }`, never the secret). */
const str = (v: unknown): string | undefined =>
  typeof v === 'string'
    ? v
    : v && typeof v === 'object' && typeof (v as { ref?: unknown }).ref === 'string'
      ? (v as { ref: string }).ref
      : undefined;

/** `secret ${env:X} is not set …`, `secret ${file:P} cannot be read …`: the reference as the site file writes it. */
/** `ssh root@dns1:22: connection refused …`, `… no SSH handshake within 10000 ms`, `… EHOSTUNREACH …`. */
const SSH_UNREACHABLE =
  /^ssh (?:[^@\s]+@)?(\S+):(\d+): (?:connection refused|no SSH handshake|E(?:HOSTUNREACH|NETUNREACH|TIMEDOUT|CONNRESET|NOTFOUND|AI_AGAIN)\b)/;
const AXFR = /^AXFR of (\S+) from (\S+):/;
const SECRET = /^secret (\$\{(?:env|file):[^}]+\})/;

/**
 * Where the site's file (shipshape.yaml, or its sites/<name>.yaml) writes `text`, as file:line:col. Read
 * again here, only for an error's hint: the loaded config keeps values, not positions.
 */
export function whereWritten(site: SitePlace, text: string): string[] {
  const out: string[] = [];
  for (const f of filesOf(site)) {
    let body: string;
    try {
      body = readFileSync(join(site.root, f), 'utf8');
    } catch {
      continue;
    }
    body.split('\n').forEach((line, i) => {
      const col = line.indexOf(text);
      if (col >= 0 && !line.trimStart().startsWith('#')) out.push(`${f}:${i + 1}:${col + 1}`);
    });
  }
  return out;
}

export function hintFor(message: string, s: SiteConfig | undefined = site): string | undefined {
  const axfr = AXFR.exec(message);
  if (axfr && /connection refused|timed out|no servers could be reached/i.test(message)) {
    const at = s?.root ? whereWritten(s, `name: ${axfr[1]}`) : [];
    return `hint: shipshape cannot reach the DNS server of zone ${axfr[1]} (${axfr[2]}): check that zone's server in the site file${at.length ? ` (${at.join(', ')})` : ''}; is the server up, reachable from this host, and does it allow zone transfers (AXFR) from it?`;
  }
  const secret = SECRET.exec(message);
  if (secret && s?.root) {
    const at = whereWritten(s, secret[1]!);
    return at.length ? `hint: ${secret[1]} is named at ${at.join(', ')}` : undefined;
  }
  if (/^vSphere\b/.test(message) && UNREACHABLE.test(message)) {
    const [k] = sectionsOf(s, 'vsphere');
    const key = `${k ?? 'vms'}.url`;
    const url = k ? str(s![k]!.url) : undefined;
    return `hint: shipshape cannot reach vCenter: check ${key} in shipshape.yaml${url ? ` (${url})` : ''}; is vCenter up, and is it reachable from this host (firewall, proxy, DNS)?`;
  }
  const ssh = SSH_UNREACHABLE.exec(message);
  if (ssh) {
    const at = s?.root ? whereWritten(s, `port: ${ssh[2]}`) : [];
    return `hint: shipshape cannot reach the SSH server ${ssh[1]} port ${ssh[2]}: check the ssh host and port in the site file${at.length ? ` (${at.join(', ')})` : ''}; is sshd up there, and is it reachable from this host (firewall)?`;
  }
  if (/^vSphere (TLS verification of|server certificate does not match)/.test(message) && s?.root) {
    const [k = 'vms'] = sectionsOf(s, 'vsphere');
    const at = keyAt(s, `${k}.tls`);
    if (at) return `hint: ${at.key} is ${at.key === `${k}.tls` ? 'set' : 'written'} at ${at.at.join(', ')}`;
  }
  if (/^i-doit (TLS verification of|server certificate does not match)/.test(message) && s?.root) {
    const at = sectionsOf(s, 'idoit').flatMap((k) => {
      const found = keyAt(s, `${k}.tls`);
      return found ? [`${found.key} at ${found.at.join(', ')}`] : [];
    });
    if (at.length) return `hint: ${at.join('; ')}`;
  }
  if (/\bInvalidLogin\b/.test(message)) {
    const [k = 'vms'] = sectionsOf(s, 'vsphere');
    const sec = s?.[k];
    const from = (f: string) => (str(sec?.[f]) ? ` (read from ${str(sec?.[f])})` : '');
    return `hint: vCenter refused the login: check ${k}.username${from('username')} and ${k}.password${from('password')} in shipshape.yaml; is that set in this environment, and is the password current?`;
  }
  if (/^i-doit at .*refused the credentials/.test(message)) {
    // ipam and cmdb usually read the same secrets: one clause for the sections that read the same ones.
    const bySecrets = new Map<string, string[]>();
    for (const k of sectionsOf(s, 'idoit')) {
      const from = ['apiKey', 'username', 'password']
        .filter((f) => str(s![k]![f]))
        .map((f) => `${f} from ${str(s![k]![f])}`)
        .join(', ');
      if (from) bySecrets.set(from, [...(bySecrets.get(from) ?? []), k]);
    }
    const parts = [...bySecrets].map(([from, ks]) => `${ks.join(' and ')} read${ks.length === 1 ? 's' : ''} ${from}`);
    return parts.length ? `hint: ${parts.join('; ')}` : undefined;
  }
  if (/^i-doit\b/.test(message) && UNREACHABLE.test(message)) {
    const ks = sectionsOf(s, 'idoit');
    const urls = [...new Set(ks.map((k) => str(s![k]!.url)).filter(Boolean))];
    return `hint: shipshape cannot reach i-doit: check ${ks.length ? ks.map((k) => `${k}.url`).join(' / ') : 'ipam.url / cmdb.url'} in shipshape.yaml${urls.length ? ` (${urls.join(', ')})` : ''}; is it up and reachable from this host?`;
  }
  const full = /^net "([^"]+)" .* has no free address left/.exec(message);
  // A refusal that names the declaration itself (`, nets.dev-net at shipshape.yaml:4:7`) needs no hint for it.
  if (full && s?.root && !/, nets\.\S+ at /.test(message)) {
    const net = keyAt(s, `nets.${full[1]}`);
    // The message names the net by its i-doit title, which `title:` may set apart from its key.
    const at = net?.key === `nets.${full[1]}` ? net.at : whereWritten(s, `title: ${full[1]}`);
    if (at.length)
      return `hint: net ${full[1]} is declared at ${at.join(', ')}; the systems that failed on it get an address on the next run once there is one`;
  }
  const key = SITE_KEY.exec(message);
  if (key && s?.root) {
    const at = keyAt(s, key[1]!);
    if (at) return `hint: ${at.key} is ${at.key === key[1] ? 'set' : 'written'} at ${at.at.join(', ')}`;
  }
  const file = s?.root ? namedFile(message, s) : undefined;
  if (file) return `hint: ${file.written} is named at ${file.at.join(', ')}`;
  return undefined;
}

/** `check vms.templates.debian12 in shipshape.yaml`, `add vms.templates.rocky9 to shipshape.yaml`. */
const SITE_KEY =
  /\b(?:check|add) ((?:vms|ipam|cmdb|dns|dhcp|specialise|provisioning)(?:\.[\w-]+)+)(?: or [\w.]+)? (?:in|to) shipshape\.yaml/;

/**
 * A file the message names that the site file names too (a CA file, a known_hosts file, a secret
 * file): where it is written, so the operator fixes the right key. Paths below the repo are looked
 * up as the site writes them, relative to it.
 */
function namedFile(message: string, site: SitePlace): { written: string; at: string[] } | undefined {
  // A path starts after a space, a quote or a bracket (not inside a URL).
  for (const m of message.matchAll(/(?:^|[\s'"`(])(\/[^\s'"`,;:()]+)/g)) {
    const path = m[1]!;
    const rel = relative(site.root, path);
    const written = rel && !rel.startsWith('..') ? rel : path;
    const at = whereWritten(site, written);
    if (at.length) return { written, at };
  }
  return undefined;
}
