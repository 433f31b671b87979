/**
 * Ownership markers only this site can produce. A marker names the system a resource belongs to;
 * anyone who may edit a VM's advanced settings (or a DNS record, an i-doit SYSID) can write such a
 * name. The seal is what they cannot write: HMAC-SHA256 over (site id, kind, system, resource id)
 * with a key from the site's secrets (`ownership.key` in shipshape.yaml). The resource id is one the
 * backend assigns and nobody can choose (a VM's managed object id, a DNS record's name), so a seal
 * copied onto another resource does not verify either. A resource whose marker has no valid seal is
 * `not-owned`: reported, never changed or deleted.
 *
 * A site without `ownership:` keeps unsealed markers (forgeable, as before: the lab and old sites);
 * `shipshape ownership seal` seals the resources of an existing site once (README).
 */
import * as crypto from 'node:crypto';
import { timingSafeEqual } from 'node:crypto';
import type { SecretRef, SiteConfig } from '../manifest/site';

export const SEAL_VERSION = 'v1';

export interface SealFor {
  /** The resource kind (`vm`, `dns`, …): a VM's seal is no DNS record's. */
  kind: string;
  system: string;
  /** The backend's own id for the resource (never chosen by whoever edits markers). */
  resourceId: string;
}

export class Sealer {
  private readonly hmac: (message: string) => string;

  constructor(
    private readonly siteId: string,
    key: Buffer,
  ) {
    this.hmac = hmacSha256Hex(key);
  }

  seal(s: SealFor): string {
    const mac = this.hmac(
      ['shipshape-ownership', SEAL_VERSION, this.siteId, s.kind, s.system, s.resourceId].join('\0'),
    );
    return `${SEAL_VERSION}:${mac.slice(0, 40)}`;
  }

  verify(s: SealFor, value: string | undefined): boolean {
    if (!value) return false;
    const want = Buffer.from(this.seal(s));
    const got = Buffer.from(value.trim());
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

type OneShot = (alg: string, data: Buffer, enc: 'buffer' | 'hex') => Buffer | string;
const oneShot = (crypto as { hash?: OneShot }).hash;

/**
 * HMAC-SHA256 (RFC 2104) with one key, as hex. A plan verifies a seal per observed resource: with
 * `crypto.hash` (Node 20.12 and later) the padded keys are made once and each MAC is two one-shot
 * hashes, several times cheaper than an Hmac object per resource; the same bytes either way.
 */
export function hmacSha256Hex(key: Buffer): (message: string) => string {
  if (!oneShot) return (m) => crypto.createHmac('sha256', key).update(m).digest('hex');
  const block = Buffer.alloc(64);
  (key.length > 64 ? (oneShot('sha256', key, 'buffer') as Buffer) : key).copy(block);
  const inner = Buffer.from(block.map((b) => b ^ 0x36));
  const outer = Buffer.from(block.map((b) => b ^ 0x5c));
  return (m) => {
    const h = oneShot('sha256', Buffer.concat([inner, Buffer.from(m, 'utf8')]), 'buffer') as Buffer;
    return oneShot('sha256', Buffer.concat([outer, h]), 'hex') as string;
  };
}

/**
 * What a provider asks: is this marker ours? Without a sealer (a site with no `ownership:`) a marker
 * is taken at its word, as before; with one, only a valid seal makes a resource owned.
 */
export function markerVerified(sealer: Sealer | undefined, s: SealFor, seal: string | undefined): boolean {
  return sealer === undefined || sealer.verify(s, seal);
}

const cache = new Map<string, Promise<Sealer>>();

/** The site's sealer, with its key read through the providers' secret resolver (once per process and key). */
export function siteSealer(
  site: Pick<SiteConfig, 'ownership'>,
  secret: (ref: SecretRef) => Promise<string>,
): Promise<Sealer | undefined> {
  const o = site.ownership;
  if (!o) return Promise.resolve(undefined);
  const k = `${o.siteId}\0${o.key.ref}`;
  let p = cache.get(k);
  if (!p) {
    p = secret(o.key).then((key) => new Sealer(o.siteId, Buffer.from(key, 'utf8')));
    p.catch(() => cache.delete(k));
    cache.set(k, p);
  }
  return p;
}
