/**
 * The `idoit` backend, for two steps: `ipam` (layer-3 nets and host addresses) and `cmdb` (the
 * system's object and its categories). Both sections may name the same i-doit: one session is
 * shared between them for the run.
 */
import { siteSealer } from '../../ownership';
import { defineBackend, type ConnectDeps } from '../plugin';
import type { IdoitClient } from './client';
import { IdoitCmdbProvider } from './cmdb';
import { idoitConfig, type IdoitConfig } from './config';
import { IdoitIpamProvider } from './ipam';
import schema from './schema.json';
import { idoitClient } from './site-client';

export type { IdoitConfig } from './config';

function client(config: IdoitConfig, d: ConnectDeps): IdoitClient {
  return d.shared(`idoit ${config.url} ${config.apiKey.ref} ${config.username?.ref ?? ''}`, () =>
    idoitClient(config, d.site.root, d.secret, { sealer: () => siteSealer(d.site, d.secret) }, d.site.lab),
  );
}

const labOnlyKeys = {
  emulator: "chooses which i-doit API add-on the lab's emulator plays; a real site talks to its i-doit",
};

export const idoitIpam = defineBackend({
  kind: 'ipam',
  id: 'idoit',
  schema,
  labOnlyKeys,
  config: idoitConfig,
  // The IPAM knows every address the repo declares, so `ip: auto` never takes one.
  connect: (config, d) =>
    new IdoitIpamProvider({
      client: client(config, d),
      site: d.site,
      systems: d.repo.systems,
      ...(d.repo.shard ? { shard: { name: d.repo.shard.name, of: d.repo.shard.shardOf } } : {}),
    }),
});

export const idoitCmdb = defineBackend({
  kind: 'cmdb',
  id: 'idoit',
  schema,
  labOnlyKeys,
  config: idoitConfig,
  connect: (config, d) => new IdoitCmdbProvider({ client: client(config, d), site: d.site }),
});
