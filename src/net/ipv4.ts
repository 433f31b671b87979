/** IPv4 arithmetic on 32-bit unsigned integers: one copy for validation, the IPAM and the i-doit emulator. */

/** Dotted quad → 32-bit unsigned number, or null if it is not a strict dotted quad. */
export function ipToInt(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.trim());
  if (!m) return null;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return null;
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  network: number;
  broadcast: number;
  prefix: number;
  /** The network address had host bits set (`198.51.100.5/24`). */
  hostBitsSet: boolean;
  /** Normalised text form, e.g. `198.51.100.0/24`. */
  text: string;
}

export function parseCidr(cidr: string): Cidr | null {
  const [a, b] = cidr.split('/');
  const addr = ipToInt(a ?? '');
  const prefix = Number(b);
  if (addr === null || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return null;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (addr & mask) >>> 0;
  return {
    network,
    broadcast: (network | (~mask >>> 0)) >>> 0,
    prefix,
    hostBitsSet: network !== addr,
    text: `${intToIp(network)}/${prefix}`,
  };
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ip >= c.network && ip <= c.broadcast;
}
