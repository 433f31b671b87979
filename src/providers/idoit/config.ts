/** The `idoit` backend's config: its keys of the site's `ipam:` / `cmdb:` section (schema.json). */
import type { BackendSection, SecretRef, TlsOptions } from '../../manifest/site';
import { secretRef } from '../plugin';

export type IdoitConfig = {
  backend: 'idoit';
  /** The JSON-RPC endpoint, e.g. `https://cmdb.example.com/src/jsonrpc.php`. */
  url: string;
  apiKey: SecretRef;
  /** When the API requires a login besides the key (i-doit's "force authentication"). */
  username?: SecretRef;
  password?: SecretRef;
  tls: TlsOptions;
  /** Lab sites only: which API add-on generation the lab's emulator plays, and its quick-purge setting. */
  emulator?: { apiVersion?: '1.10' | '1.14' | '2.x'; quickPurge?: boolean };
};

interface Raw {
  url: string;
  apiKey: string;
  username?: string;
  password?: string;
  tls?: TlsOptions;
  emulator?: { apiVersion?: '1.10' | '1.14' | '2.x'; quickPurge?: boolean };
}

export function idoitConfig(section: BackendSection): IdoitConfig {
  const i = section as unknown as Raw;
  const out: IdoitConfig = { backend: 'idoit', url: i.url, apiKey: secretRef(i.apiKey), tls: { ...(i.tls ?? {}) } };
  if (i.username !== undefined) out.username = secretRef(i.username);
  if (i.password !== undefined) out.password = secretRef(i.password);
  if (i.emulator !== undefined) out.emulator = { ...i.emulator };
  return out;
}
