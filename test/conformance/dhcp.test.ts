/**
 * The DHCP backends through the conformance suite: isc (dhcpd.conf checked by a real `dhcpd -t` over a
 * real sshd; the restart command re-checks, a real dhcpd would bind the LAN) and kea (a real
 * kea-dhcp4 driven through its control socket over SSH). Round trips compared at 10 and 200 systems.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Provider } from '../../src/engine/contract';
import type { SiteConfig } from '../../src/manifest/site';
import type { IscServer } from '../../src/providers/dhcp/isc';
import type { KeaServer } from '../../src/providers/dhcp/kea';
import { DhcpProvider } from '../../src/providers/dhcp/provider';
import type { KeaBackend } from '../../src/providers/dhcp/kea/server';
import { SshPool } from '../../src/transport/ssh';
import { removeDir } from '../helpers/daemon';
import { startKea, type TestKea } from '../helpers/kea';
import { keygen, readFileSecret, startSshd, type TestSshd } from '../helpers/sshd';
import { context, site, system } from '../helpers/systems';
import { conformance, type Harness } from './suite';

const OPERATOR = { mac: '52:54:00:00:00:99', ip: '10.30.255.99' };
const num = (name: string) => Number(name.replace(/\D/g, '')) || 0;
const hex = (n: number) => n.toString(16).padStart(2, '0');

function dhcpHarness(id: 'isc' | 'kea'): Harness {
  let sshd: TestSshd;
  let kea: TestKea | undefined;
  let good: SiteConfig;
  let bad: SiteConfig;
  const pools: SshPool[] = [];
  const provider = (s: SiteConfig): Provider => {
    const pool = new SshPool({ readSecret: readFileSecret, root: s.root });
    pools.push(pool);
    return new DhcpProvider({ readSecret: readFileSecret, pool }) as Provider;
  };
  const siteWith = (server: IscServer | KeaServer) =>
    site({
      root: sshd.dir,
      nets: { 'c-net': { title: 'c-net', cidr: '10.30.0.0/16', dnsServers: [] } },
      dhcp: { servers: [server] },
    });
  return {
    name: `dhcp/${id}`,
    scale: [10, 200],
    async start() {
      sshd = await startSshd();
      const wrongKey = join(sshd.dir, 'not-authorized');
      keygen(wrongKey, 'not authorized');
      const key = (k: string) => sshd.endpoint({ privateKey: { ref: `\${file:${k}}` } });
      if (id === 'isc') {
        const conf = join(sshd.dir, 'dhcpd.conf');
        const include = join(sshd.dir, 'shipshape-hosts.conf');
        writeFileSync(
          conf,
          `authoritative;\nddns-update-style none;\nsubnet 10.30.0.0 netmask 255.255.0.0 {\n  range 10.30.254.1 10.30.254.200;\n}\nhost printer { hardware ethernet ${OPERATOR.mac}; fixed-address ${OPERATOR.ip}; }\ninclude "${include}";\n`,
        );
        const restart = `dhcpd -t -cf ${conf} -lf /dev/null -pf /dev/null 2>/dev/null`;
        const s = (k: string): IscServer => ({
          name: 'c-isc',
          backend: 'isc',
          nets: ['c-net'],
          ssh: key(k),
          includePath: include,
          configPath: conf,
          restartCommand: restart,
        });
        good = siteWith(s(sshd.clientKeyPath));
        bad = siteWith(s(wrongKey));
      } else {
        kea = await startKea(
          [{ 'hw-address': OPERATOR.mac, 'ip-address': OPERATOR.ip, hostname: 'printer' }],
          '10.30.0.0/16',
          '10.30.254.1 - 10.30.254.200',
        );
        const s = (k: string): KeaServer => ({
          name: 'c-kea',
          backend: 'kea',
          nets: ['c-net'],
          ssh: key(k),
          controlSocket: kea!.socket,
          configPath: kea!.configPath,
        });
        // Kea seals its reservation markers (src/ownership): the whole suite runs sealed.
        const ownershipKey = join(sshd.dir, 'ownership.key');
        writeFileSync(ownershipKey, 'the-conformance-site-key-0123456789\n', { mode: 0o600 });
        const ownership = { siteId: 'conformance', key: { ref: `\${file:${ownershipKey}}` } };
        good = { ...siteWith(s(sshd.clientKeyPath)), ownership };
        bad = { ...siteWith(s(wrongKey)), ownership };
      }
    },
    async stop() {
      await Promise.all(pools.map((p) => p.closeAll()));
      await kea?.stop();
      await sshd?.stop();
      for (const d of [kea?.dir, sshd?.dir]) if (d) removeDir(d);
    },
    provider: () => provider(good),
    bad: () => ({ provider: provider(bad), ctx: context(bad) }),
    ctx: () => context(good),
    system: (n, changed) => ({
      ...system(`c-${n}`, {
        net: 'c-net',
        domain: 'conf.example.test',
        mac: `00:50:56:00:${hex(n >> 8)}:${hex(n & 255)}`,
      }),
      labels: changed ? { changed: 'yes' } : ({} as Record<string, string>),
    }),
    // The changed value of a system is its address (the MAC stays: it identifies the reservation).
    resolved: (s) =>
      s.name === 'printer-too'
        ? { ip: '10.30.253.1', mac: OPERATOR.mac }
        : {
            ip: `10.30.${s.labels.changed ? 200 : Math.floor(num(s.name) / 250)}.${(num(s.name) % 250) + 1}`,
            mac: s.network.mac,
          },
    foreignName: 'printer',
    isForeign: (r) => r.system === 'printer' || r.id.endsWith('printer'),
    // What anyone who may edit Kea's config can write: a reservation whose user-context names a
    // system, with no seal or with the seal of another reservation copied from a real one.
    ...(id === 'kea'
      ? {
          async forge(how: 'unsealed' | 'wrongly sealed') {
            const name = `forged-${how === 'unsealed' ? 1 : 2}`;
            const p = provider(good) as DhcpProvider;
            await p.observe(context(good));
            const k = p.backend('c-kea') as KeaBackend;
            const config = (await k.command('config-get')).arguments!;
            const subnet = config.Dhcp4.subnet4[0];
            const copied = subnet.reservations.find(
              (r: { 'user-context'?: { shipshape?: { system?: string } } }) =>
                r['user-context']?.shipshape?.system === 'c-1',
            )['user-context'].shipshape.seal;
            expect(copied).toMatch(/^v1:/);
            const n = how === 'unsealed' ? 1 : 2;
            subnet.reservations.push({
              'hw-address': `52:54:00:00:01:0${n}`,
              'ip-address': `10.30.252.${n}`,
              hostname: name,
              'user-context': { shipshape: { system: name, ...(how === 'unsealed' ? {} : { seal: copied }) } },
            });
            expect((await k.command('config-set', { Dhcp4: config.Dhcp4 })).result).toBe(0);
            await p.close();
            return name;
          },
        }
      : {
          notApplicable: {
            forged:
              'isc dhcpd reservations carry no site seal (only kea seals its user-context marker), so a forged marker cannot be told from a real one by design; whoever can edit dhcpd.conf can already change the reservations',
          },
        }),
    collider: () => system('printer-too', { net: 'c-net', domain: 'conf.example.test', mac: OPERATOR.mac }),
  };
}

conformance(dhcpHarness('isc'));
conformance(dhcpHarness('kea'));
