/** Builds the one i-doit client a run shares between the `ip` and `cmdb` providers. */
import { UserError } from '../../engine/contract';
import type { SecretRef, SiteConfig } from '../../manifest/site';
import { IdoitClient, type IdoitClientOptions } from './client';

/** Reads a secret at the moment it is needed (`${env:…}` / `${file:…}`), never stored in plans or logs. */
export type SecretResolver = (ref: SecretRef) => Promise<string>;

export function createIdoitClient(site: SiteConfig, secret: SecretResolver, extra: Partial<IdoitClientOptions> = {}): IdoitClient {
  const i = site.idoit;
  if (!i) throw new UserError('shipshape.yaml has no `idoit` section, but the ip and cmdb steps need i-doit: add idoit.url and idoit.apiKey.');
  if (new URL(i.url).protocol !== 'https:' && !site.lab) {
    throw new UserError(`idoit.url must be https:// (got ${new URL(i.url).protocol}//${new URL(i.url).host}); shipshape never sends the i-doit API key in clear text. Only a lab site may use http`);
  }
  return new IdoitClient({
    url: i.url,
    apiKey: () => secret(i.apiKey),
    ...(i.username ? { username: () => secret(i.username!) } : {}),
    ...(i.password ? { password: () => secret(i.password!) } : {}),
    tls: i.tls,
    root: site.root,
    ...extra,
  });
}
