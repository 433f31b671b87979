/**
 * Every value that goes into an answer file or iPXE script passes a whitelist for its role first
 * (hostname, IPv4, URL, SSH key, …), then the target format's escaper. The whitelists are strict
 * enough that an accepted value is safe in every place our templates put it (a preseed line,
 * a kickstart command, a single-quoted shell word, an iPXE argument); anything else is a
 * RenderError naming the field — never silently altered.
 */
import { RenderError } from './errors';

export type ValueKind =
  | 'hostname'
  | 'domain'
  | 'ipv4'
  | 'url'
  | 'urlHost'
  | 'urlPath'
  | 'sshKey'
  | 'passwordHash'
  | 'timezone'
  | 'package'
  | 'disk'
  | 'integer'
  | 'word';

const IPV4 = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

const RULES: Record<ValueKind, { re: RegExp; shape: string }> = {
  hostname: { re: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, shape: 'a host name of lower-case letters, digits and `-`' },
  domain: {
    re: /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    shape: 'a DNS name of lower-case labels',
  },
  ipv4: { re: IPV4, shape: 'a dotted IPv4 address' },
  // No quotes, spaces, `$`, `{`, `}`, `#`, `;`, `&`, `?`, backslash or backtick: safe as a shell word, kickstart argument and iPXE argument.
  url: {
    re: /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%+=,@:-]*)*$/,
    shape: 'an http(s) URL of letters, digits and `._~%+=,@:-/` (no query, quotes or spaces)',
  },
  urlHost: { re: /^[A-Za-z0-9.-]+(:\d{1,5})?$/, shape: 'a host[:port]' },
  urlPath: { re: /^(\/[A-Za-z0-9._~%+=,@:-]*)+$/, shape: 'a URL path' },
  sshKey: {
    re: /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( [A-Za-z0-9@._+-]{1,100})?$/,
    shape: 'one OpenSSH public key line `type base64 [comment]` (comment of letters, digits and `@._+-`)',
  },
  // crypt(3) hashes: $id$[rounds=N$]salt$hash. `$` is safe where we put it (preseed value, kickstart argument).
  passwordHash: {
    re: /^\$(1|5|6|y|2[aby])\$[A-Za-z0-9./=$,]{8,200}$/,
    shape: 'a crypt(3) hash like `$6$salt$hash` or `$y$…` (mkpasswd output)',
  },
  timezone: { re: /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/, shape: 'a time zone like Europe/Berlin' },
  package: { re: /^@?[A-Za-z0-9][A-Za-z0-9.+_-]{0,99}$/, shape: 'a package name' },
  disk: { re: /^[a-z]{2,4}[a-z0-9]{0,8}$/, shape: 'a disk device name like sda' },
  integer: { re: /^\d{1,9}$/, shape: 'a whole number' },
  word: { re: /^[A-Za-z0-9._-]{1,100}$/, shape: 'a word of letters, digits and `._-`' },
};

/** An OpenSSH public key line (`type base64 [comment]`), as the installed system reports its host key. */
export function isOpenSshPublicKey(s: string): boolean {
  return RULES.sshKey.re.test(s.trim());
}

/** Checks one value against its role's whitelist; returns it unchanged or throws RenderError. */
export function checked(system: string, field: string, kind: ValueKind, value: string): string {
  const rule = RULES[kind];
  if (!rule.re.test(value)) {
    // The value itself is shown only for non-secret kinds.
    const shown =
      kind === 'passwordHash'
        ? '(value not shown)'
        : JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
    throw new RenderError(system, field, `${shown} is not ${rule.shape}`);
  }
  return value;
}

export type Format = 'preseed' | 'kickstart' | 'ipxe';

/**
 * The format's own rule, applied to every substituted value as a second line of defence: no line
 * breaks or control characters anywhere; no iPXE setting expansion; no quote that would end the
 * quoted word a template puts a value in.
 */
export function escapeFor(format: Format, system: string, field: string, value: string): string {
  if (/[\x00-\x1f\x7f]/.test(value)) throw new RenderError(system, field, 'contains a line break or control character');
  if (/['"`\\]/.test(value)) throw new RenderError(system, field, 'contains a quote or backslash');
  if (format === 'ipxe' && /[\s${}#]/.test(value))
    throw new RenderError(system, field, 'contains a space, `$`, `{`, `}` or `#`, which iPXE would interpret');
  return value;
}
