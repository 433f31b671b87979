/** IPv4 arithmetic for offline checks of explicit addresses against a net's CIDR. */

/** Dotted quad → 32-bit unsigned number, or undefined if not a strict dotted quad. */
export function ipToNumber(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  network: number;
  broadcast: number;
  prefix: number;
  /** The network address had host bits set (`198.51.100.5/24`). */
  hostBitsSet: boolean;
}

export function parseCidr(cidr: string): Cidr | undefined {
  const [ip, len] = cidr.split('/');
  const addr = ipToNumber(ip ?? '');
  const prefix = Number(len);
  if (addr === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (addr & mask) >>> 0;
  return { network, broadcast: (network | (~mask >>> 0)) >>> 0, prefix, hostBitsSet: network !== addr };
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ip >= c.network && ip <= c.broadcast;
}
