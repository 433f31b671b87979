/**
 * The lab's systems sit in documentation ranges, which are data and never a target: in a lab
 * site, specialisation plans nothing for them and opens no connection at all.
 */
import { silentLog } from '../helpers/log';
import { UNKNOWN, type ProviderContext } from '../../src/engine/contract';
import { SpecialiseProvider } from '../../src/providers/specialise/provider';
import { site as baseSite, system } from '../support/fixtures';

const site = {
  ...baseSite,
  lab: true,
  nets: { 'dev-net': { title: 'dev-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1', dnsServers: [] } },
  specialise: {
    user: 'root',
    port: 22,
    privateKey: { ref: '${env:NOPE}' },
    knownHosts: '/dev/null',
    connectTimeoutSeconds: 1,
    commandTimeoutSeconds: 1,
  },
};
const web = system('web-01', { roles: [{ name: 'baseline/internal', params: {} }] });
const silent = silentLog;

describe('specialisation in the lab', () => {
  it('plans nothing for a simulated machine, whether its address is known or not', () => {
    const p = new SpecialiseProvider({ site, roles: {}, systems: [web] });
    expect(p.desired(web, { ip: UNKNOWN, mac: web.network.mac })).toBeNull();
    expect(p.desired(web, { ip: '198.51.100.11', mac: web.network.mac, hostKey: 'SHA256:x' })).toBeNull();
  });

  it('observes without connecting anywhere', async () => {
    const p = new SpecialiseProvider({ site, roles: {}, systems: [web] });
    // 0.0.0.0 is not loopback for the guard, yet a regression would only reach this machine.
    const obs = await p.observe({ site, log: silent, lab: true } as ProviderContext, {
      resolved: () => ({ ip: '0.0.0.0', mac: web.network.mac, hostKey: 'SHA256:x' }),
    });
    expect(obs).toEqual({ resources: [], roundTrips: 0 });
    await p.close();
  });
});
