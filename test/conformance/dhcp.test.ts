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
        good = siteWith(s(sshd.clientKeyPath));
        bad = siteWith(s(wrongKey));
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
    collider: () => system('printer-too', { net: 'c-net', domain: 'conf.example.test', mac: OPERATOR.mac }),
  };
}

conformance(dhcpHarness('isc'));
conformance(dhcpHarness('kea'));
