/**
 * SSH host key verification: a pinned `SHA256:` fingerprint or an OpenSSH known_hosts file.
 * ssh2 accepts any host key unless a verifier is set, so every connection goes through here.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Same string as `ssh-keygen -lf key.pub`: `SHA256:` + unpadded base64 of the key blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The key type written inside a raw SSH public key blob (uint32 length + name). */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** ssh2 algorithm names that make a server present a key of this type. */
export function hostKeyAlgorithms(type: string): string[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

export interface KnownHostKey {
  type: string;
  blob: Buffer;
  revoked: boolean;
}

/** The name known_hosts files use for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')
        .replace(/\[/g, '\\[')
        .replace(/\]/g, '\\]') +
      '$',
    'i',
  );
  return re.test(name);
}

function hostsFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const h = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return h === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (globMatch(pattern.slice(1), name)) return false;
    } else if (globMatch(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/** Keys a known_hosts text lists for host:port (`@cert-authority` lines are not supported and skipped). */
export function parseKnownHosts(text: string, host: string, port: number): KnownHostKey[] {
  const name = knownHostsName(host, port);
  const keys: KnownHostKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    let revoked = false;
    if (parts[0] === '@revoked') {
      revoked = true;
      parts.shift();
    } else if (parts[0]?.startsWith('@')) {
      continue;
    }
    const [hosts, type, b64] = parts;
    if (!hosts || !type || !b64 || !hostsFieldMatches(hosts, name)) continue;
    keys.push({ type, blob: Buffer.from(b64, 'base64'), revoked });
  }
  return keys;
}

export interface HostKeyPolicy {
  /** Returns null when the presented key is accepted, else why it was refused. */
  check(blob: Buffer): string | null;
  /** Host key algorithms to offer, so the server presents the key type we know. */
  algorithms?: string[];
  /** For messages: what the policy expects. */
  describe: string;
}

export function fingerprintPolicy(expected: string): HostKeyPolicy {
  const want = expected.trim().replace(/=+$/, '');
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(want)) {
    throw new Error(
      `hostKeyFingerprint "${expected}" is not a SHA256 fingerprint as printed by \`ssh-keygen -lf key.pub\``,
    );
  }
  return {
    describe: `pinned fingerprint ${want}`,
    check: (blob) => (fingerprint(blob) === want ? null : `it does not match the pinned fingerprint ${want}`),
  };
}

export function knownHostsPolicy(file: string, host: string, port: number): HostKeyPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new Error(
      `cannot read known_hosts file ${file} (${code}): create it with the server's host key, checked out of band ` +
        `(e.g. \`ssh-keyscan -p ${port} ${host}\` on a trusted path, then compare fingerprints), or fix knownHosts in the site file`,
      { cause: e },
    );
  }
  const keys = parseKnownHosts(text, host, port);
  const usable = keys.filter((k) => !k.revoked);
  if (usable.length === 0) {
    throw new Error(
      `known_hosts file ${file} has no key for ${knownHostsName(host, port)}; add the server's key ` +
        `(check it out of band, e.g. \`ssh-keyscan -p ${port} ${host}\` on a trusted path, then compare fingerprints)`,
    );
  }
  const algorithms = [...new Set(usable.flatMap((k) => hostKeyAlgorithms(k.type)))];
  return {
    describe: `known_hosts ${file}`,
    algorithms,
    check: (blob) => {
      if (keys.some((k) => k.revoked && k.blob.equals(blob))) return `the key is marked @revoked in ${file}`;
      return usable.some((k) => k.blob.equals(blob))
        ? null
        : `it is not the key listed for ${knownHostsName(host, port)} in ${file}`;
    },
  };
}

/**
 * Pins one OpenSSH public key line (`ssh-ed25519 AAAA… comment`), e.g. the host key an installer
 * reported: the key type is offered alone, so the server cannot present another of its keys.
 */
export function publicKeyPolicy(line: string): HostKeyPolicy {
  const [type, b64] = line.trim().split(/\s+/);
  const blob = b64 && /^[A-Za-z0-9+/]+={0,2}$/.test(b64) ? Buffer.from(b64, 'base64') : undefined;
  if (!type || !blob || keyType(blob) !== type) {
    throw new Error(
      `"${line.slice(0, 40)}…" is not an OpenSSH public key line (type and base64 key, as in ssh_host_ed25519_key.pub)`,
    );
  }
  return {
    describe: `the host key ${type} ${fingerprint(blob)} reported at install time`,
    algorithms: hostKeyAlgorithms(type),
    check: (presented) =>
      presented.equals(blob) ? null : `it is not the key ${fingerprint(blob)} reported at install time`,
  };
}
