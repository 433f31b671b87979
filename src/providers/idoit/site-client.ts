/** Builds the i-doit client the `ip` and `cmdb` steps share within a run (one session). */
import { UserError } from '../../engine/contract';
import { siteSealer } from '../../ownership';
import type { SecretRef, SiteConfig } from '../../manifest/site';
import { IdoitClient, type IdoitClientOptions } from './client';
import type { IdoitConfig } from './config';

/** Reads a secret at the moment it is needed (`${env:…}` / `${file:…}`), never stored in plans or logs. */
export type SecretResolver = (ref: SecretRef) => Promise<string>;

export function idoitClient(
  i: IdoitConfig,
  root: string,
  secret: SecretResolver,
  extra: Partial<IdoitClientOptions> = {},
  lab = false,
): IdoitClient {
  if (new URL(i.url).protocol !== 'https:' && !lab) {
    throw new UserError(
      `i-doit url must be https:// (got ${new URL(i.url).protocol}//${new URL(i.url).host}); shipshape never sends the i-doit API key in clear text. Only a lab site may use http`,
    );
  }
  return new IdoitClient({
    url: i.url,
    apiKey: () => secret(i.apiKey),
    ...(i.username ? { username: () => secret(i.username!) } : {}),
    ...(i.password ? { password: () => secret(i.password!) } : {}),
    tls: i.tls,
    root,
    ...extra,
  });
}

/** The i-doit a site's `ipam` (or else `cmdb`) section names: for the lab, tests and benches. */
export function idoitOf(site: SiteConfig): IdoitConfig {
  const s = site.ipam?.backend === 'idoit' ? site.ipam : site.cmdb?.backend === 'idoit' ? site.cmdb : undefined;
  if (!s) throw new UserError('shipshape.yaml names no i-doit (ipam.backend or cmdb.backend `idoit`)');
  return s as unknown as IdoitConfig;
}

/** A client for the site's i-doit (lab, tests, benches; a run gets its client from the backend's factory). */
export function createIdoitClient(
  site: SiteConfig,
  secret: SecretResolver,
  extra: Partial<IdoitClientOptions> = {},
): IdoitClient {
  return idoitClient(idoitOf(site), site.root, secret, { sealer: () => siteSealer(site, secret), ...extra }, site.lab);
}
