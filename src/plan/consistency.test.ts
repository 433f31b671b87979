import type { Observation, ObservedResource, ResourceKind } from '../engine/contract';
import { disagreements, type Identities } from './consistency';

/** The identity fields the real providers declare (checked against them in the providers' own types). */
const ID: Identities = new Map([
  ['ip', { ip: 'ip' }],
  ['dns', { ip: 'a' }],
  ['dhcp', { ip: 'ip', mac: 'mac' }],
  ['cmdb', { ip: 'portIp', mac: 'mac' }],
  ['vm', { mac: 'mac' }],
]);

const r = (kind: ResourceKind, system: string, fields: Record<string, unknown>, owned = true): ObservedResource => ({
  kind,
  system,
  id: `${kind}-${system}`,
  owned,
  fields,
});
const obs = (...rs: ObservedResource[]) => {
  const m = new Map<ResourceKind, Observation>();
  for (const x of rs) m.set(x.kind, { resources: [...(m.get(x.kind)?.resources ?? []), x], roundTrips: 1 });
  return m;
};

describe('cross-backend consistency', () => {
  it('finds a DNS record that points elsewhere than the IPAM address, and a VM MAC DHCP does not know', () => {
    const d = disagreements(
      obs(
        r('ip', 'web-01', { ip: '198.51.100.11' }),
        r('dns', 'web-01', { a: '198.51.100.99' }),
        r('dhcp', 'web-01', { ip: '198.51.100.11', mac: '00:50:56:00:00:01' }),
        r('cmdb', 'web-01', { portIp: '198.51.100.11', mac: '00:50:56:00:00:01' }),
        r('vm', 'web-01', { mac: '00:50:56:00:00:02' }),
      ),
      ID,
    );
    expect(d).toEqual([
      {
        system: 'web-01',
        what: 'ip',
        values: { ip: '198.51.100.11', dns: '198.51.100.99', dhcp: '198.51.100.11', cmdb: '198.51.100.11' },
      },
      {
        system: 'web-01',
        what: 'mac',
        values: { vm: '00:50:56:00:00:02', dhcp: '00:50:56:00:00:01', cmdb: '00:50:56:00:00:01' },
      },
    ]);
  });

  it('agreeing backends, missing ones, case differences and resources not ours are no disagreement', () => {
    expect(
      disagreements(
        obs(
          r('ip', 'a', { ip: '10.0.0.5' }),
          r('dns', 'a', { a: '10.0.0.5' }),
          r('vm', 'a', { mac: '00:50:56:AA:00:01' }),
          r('dhcp', 'a', { ip: '10.0.0.5', mac: '00:50:56:aa:00:01' }),
          r('dns', 'b', { a: '10.0.0.9' }, false),
          r('ip', 'b', { ip: '10.0.0.8' }),
        ),
        ID,
      ),
    ).toEqual([]);
  });
});
