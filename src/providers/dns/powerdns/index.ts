/**
 * The `powerdns` DNS backend: PowerDNS Authoritative, changed through its HTTP API (README.md).
 * Everything it is lives in this folder; the registry (../../backends.ts) lists it by (kind, id).
 */
import { defineBackend } from '../../plugin';
import { PowerDnsBackend } from './backend';
import { powerDnsZone, type PowerDnsZone, type RawPowerDns } from './config';
import schema from './schema.json';

export type { PowerDnsZone } from './config';

export const powerdns = defineBackend({
  kind: 'dns',
  id: 'powerdns',
  schema,
  config: (section): PowerDnsZone => powerDnsZone(section as unknown as RawPowerDns),
  connect: (zone, deps) => new PowerDnsBackend(zone, deps),
});
