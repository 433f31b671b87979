/**
 * The backend registry: every backend shipshape knows, by (kind, id). Adding a backend is a folder
 * (schema.json, its config type, its factory: see plugin.ts) and one line here; the site schema,
 * the site config, the registry and the steps pick it up from this list.
 */
import { UserError } from '../engine/contract';
import type { BackendSection } from '../manifest/site';
import { isc } from './dhcp/isc';
import { kea } from './dhcp/kea';
import { bindSsh } from './dns/bind-ssh';
import { powerdns } from './dns/powerdns';
import { rfc2136 } from './dns/rfc2136';
import { idoitCmdb, idoitIpam } from './idoit';
import { SECTION_PATH, type AnyBackend, type Backend, type BackendKind } from './plugin';
import { vsphere } from './vsphere';

export const BACKENDS: readonly AnyBackend[] = [vsphere, idoitIpam, idoitCmdb, bindSsh, rfc2136, powerdns, isc, kea];

export function backendsOf(kind: BackendKind): AnyBackend[] {
  return BACKENDS.filter((b) => b.kind === kind);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function backendFor<K extends BackendKind>(kind: K, id: string): Backend<K, any> {
  const b = BACKENDS.find((x) => x.kind === kind && x.id === id);
  if (!b) {
    const known = backendsOf(kind)
      .map((x) => x.id)
      .join(', ');
    throw new UserError(
      `shipshape.yaml ${SECTION_PATH[kind]} names backend \`${id}\`, which shipshape does not have (known: ${known})`,
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return b as Backend<K, any>;
}

/** A section's config typed as backend `b`'s, when the section names `b` (the lab reads its stand-ins' settings this way). */
export function configOf<K extends BackendKind, C>(
  b: Backend<K, C>,
  section: BackendSection | undefined,
): C | undefined {
  return section?.backend === b.id ? (section as unknown as C) : undefined;
}
