/** The `rfc2136` DNS backend: dynamic updates (RFC 2136) signed with TSIG, read back by AXFR. */
import { defineBackend, tsigKey, type RawTsig } from '../../plugin';
import type { ServedZone, Tsig } from '../dns-tools';
import schema from './schema.json';
import { Rfc2136Backend } from './zone';

export type Rfc2136Zone = ServedZone & {
  backend: 'rfc2136';
  tsig: Tsig;
};

interface Raw {
  name: string;
  server: { host: string; port: number };
  tsig: RawTsig;
}

export const rfc2136 = defineBackend({
  kind: 'dns',
  id: 'rfc2136',
  schema,
  config(section): Rfc2136Zone {
    const r = section as unknown as Raw;
    return { name: r.name, backend: 'rfc2136', server: { ...r.server }, tsig: tsigKey(r.tsig) };
  },
  connect: (zone, deps) => new Rfc2136Backend(zone, deps),
});
