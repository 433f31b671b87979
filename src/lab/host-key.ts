/**
 * A lab system's SSH host key, made in this process instead of by `ssh-keygen`: the installer stand-in
 * brings up one system per install, many at once, and every process apply starts forks all of its
 * memory first (a large share of the stand-in's cost on a loaded machine). An installed system makes
 * its own key; this is only the lab's stand-in for that.
 *
 * Formats: the public line is RFC 4253 §6.6 / RFC 8709 wire format (string "ssh-ed25519", string key)
 * in base64; the private file is OpenSSH's `openssh-key-v1` container, unencrypted (cipher and KDF
 * "none"), as openssh-portable's PROTOCOL.key describes: magic, cipher, KDF, KDF options, key count,
 * public key blob, then the private section (two equal check words, key type, public key, the 64-byte
 * private key seed ‖ public key, comment, padding 1, 2, 3 … to the cipher block size of 8).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

const str = (b: Buffer | string): Buffer => {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** A new ed25519 key: the private key file's text (mode 0600 is the caller's) and the public `ssh-ed25519 AAAA… comment` line. */
export function newHostKey(comment: string): { privateKey: string; publicLine: string } {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  const pubBlob = Buffer.concat([str('ssh-ed25519'), str(pub)]);
  const check = randomBytes(4).readUInt32BE();
  let priv = Buffer.concat([
    u32(check),
    u32(check),
    str('ssh-ed25519'),
    str(pub),
    str(Buffer.concat([seed, pub])),
    str(comment),
  ]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    str('none'),
    str('none'),
    str(''),
    u32(1),
    str(pubBlob),
    str(priv),
  ]).toString('base64');
  const lines = body.match(/.{1,70}/g)!.join('\n');
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicLine: `ssh-ed25519 ${pubBlob.toString('base64')} ${comment}`,
  };
}
