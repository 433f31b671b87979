/**
 * `shipshape ownership seal`: the one-time migration when a site adds `ownership:` to
 * shipshape.yaml. Every VM, i-doit object, rfc2136 TXT marker and Kea reservation whose (unsealed) marker names a system
 * of this repo gets the site's seal (src/ownership); from then on only sealed markers count. Run it once, right after adding the key,
 * from the repo whose manifests name exactly the systems this site owns.
 */
import type { Logger } from '../../engine/contract';
import { DhcpProvider } from '../../providers/dhcp/provider';
import { DnsProvider } from '../../providers/dns/provider';
import { IdoitCmdbProvider } from '../../providers/idoit/cmdb';
import { VsphereProvider } from '../../providers/vsphere/provider';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { closeAll, loadValid, providerContext, providersFor, stateDir } from '../pipeline';

export async function ownershipSealCommand(
  opts: { dir: string; stateDir?: string },
  io: Io,
  log: Logger,
): Promise<number> {
  const loaded = await loadValid(opts.dir, io.err);
  if (!loaded.repo.site.ownership)
    throw new ExitError(1, 'shipshape.yaml has no ownership: section (siteId, key): add it first, then seal');
  const providers = providersFor(loaded, log, stateDir(opts.stateDir));
  try {
    const ctx = providerContext(loaded, log);
    const systems = new Set(loaded.repo.systems.map((s) => s.name));
    const sealing = providers.filter(
      (p): p is VsphereProvider | DnsProvider | DhcpProvider | IdoitCmdbProvider =>
        p instanceof VsphereProvider ||
        p instanceof DnsProvider ||
        p instanceof DhcpProvider ||
        p instanceof IdoitCmdbProvider,
    );
    if (!sealing.length)
      throw new ExitError(1, 'shipshape.yaml has no vms, cmdb, dns or dhcp section; there are no markers to seal');
    const sealed: string[] = [];
    const skipped: string[] = [];
    for (const p of sealing) {
      const r = await p.sealMarkers(ctx, systems);
      sealed.push(...r.sealed);
      skipped.push(...r.skipped);
    }
    for (const s of sealed) io.out(`sealed ${s}\n`);
    for (const s of skipped) io.err(`not sealed: ${s}`);
    io.out(
      `${sealed.length} marker${sealed.length === 1 ? '' : 's'} sealed${skipped.length ? `, ${skipped.length} left for you to resolve` : ''}\n`,
    );
    return skipped.length ? 1 : 0;
  } finally {
    await closeAll(providers, log);
  }
}
