import { createHash } from 'crypto';

/**
 * The MAC a system gets when the manifest gives none: `00:50:56:` + the first three bytes of sha256(name),
 * top byte masked to 0x3f so it stays in VMware's manual range 00:50:56:00:00:00–00:50:56:3f:ff:ff.
 * Stable across runs; collisions are caught by validation.
 */
export function derivedMac(name: string): string {
  const h = createHash('sha256').update(name, 'utf8').digest();
  const bytes = [h[0] & 0x3f, h[1], h[2]];
  return ['00', '50', '56', ...bytes.map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function normalizeMac(mac: string): string {
  return mac.toLowerCase();
}
