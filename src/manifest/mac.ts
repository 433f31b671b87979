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

/**
 * A MAC as shipshape compares it: lower case, each octet two digits (`0:50:56:A:B:C`, as dhcpd.conf(5)
 * accepts it, is `00:50:56:0a:0b:0c`); anything that is not colon-separated hex octets only lower-cased.
 */
export function normalizeMac(mac: string): string {
  const parts = mac.split(':');
  if (parts.length < 2 || parts.some((p) => !/^[0-9a-f]{1,2}$/i.test(p))) return mac.toLowerCase();
  return parts.map((p) => p.padStart(2, '0').toLowerCase()).join(':');
}

/**
 * VMware's range for MACs set by hand (`addressType: manual`): vCenter refuses a manual MAC outside it, and
 * assigns 00:50:56:80:00:00–00:50:56:bf:ff:ff itself (VMware's vSphere Networking guide, MAC address management). A VM someone else made keeps whatever MAC it has (import, adopt); one shipshape makes, or
 * gives a new MAC, needs one in this range.
 */
export function inManualRange(mac: string): boolean {
  return /^00:50:56:[0-3][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/i.test(mac);
}
