/**
 * Entry point for the provider registry: `build: (d) => [vsphereProvider({ stateDir: d.stateDir,
 * site: d.site, secret: (r) => resolveSecret(r, d.site.root) })]`.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { SecretRef, SiteConfig } from '../../manifest/site';
import { VsphereProvider } from './provider';

export { VsphereProvider } from './provider';
export type { VmFields, VmHandle } from './fields';

export function vsphereProvider(o: { stateDir: string; site: SiteConfig; secret: (ref: SecretRef) => Promise<string> }): VsphereProvider {
  const v = o.site.vsphere;
  // One journal folder per vCenter + folder, so two repos sharing a state dir never read each other's journal.
  const scope = createHash('sha256').update(`${v?.url}|${v?.datacenter}|${v?.folder}`).digest('hex').slice(0, 16);
  return new VsphereProvider({ secret: o.secret, journalDir: path.join(o.stateDir, 'journal', 'vsphere', scope) });
}
