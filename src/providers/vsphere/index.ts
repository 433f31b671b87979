/**
 * Entry point for the provider registry: `build: (d) => [vsphereProvider({ stateDir: d.stateDir,
 * site: d.site, secret: (r) => resolveSecret(r, d.site.root) })]`.
 */
import type { SecretRef, SiteConfig } from '../../manifest/site';
import { VsphereProvider } from './provider';

export { VsphereProvider } from './provider';
export type { VmFields, VmHandle } from './fields';

// The create journal is the engine's (src/engine/journal.ts); the provider notes its clone task in it.
export function vsphereProvider(o: { stateDir: string; site: SiteConfig; secret: (ref: SecretRef) => Promise<string> }): VsphereProvider {
  return new VsphereProvider({ secret: o.secret });
}
