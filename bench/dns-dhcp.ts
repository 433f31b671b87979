/**
 * Time to render, check and deploy 1,000 and 10,000 records for each backend, against the same real
 * daemons the tests use (named, sshd, kea-dhcp4 on loopback). Run: npm run bench:dns-dhcp
 * "create N" = N new systems (bind-ssh: N A + N PTR; rfc2136: N A + N ownership TXT; DHCP: N reservations)
 * in one commit; "1 change" = one system's address changed where N are already held. Each row shows the
 * observe time and the commit time (render, check, deploy, reload/restart, confirm).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DhcpServerSection, SiteConfig, ZoneSection } from '../src/manifest/site';
import type { IscServer } from '../src/providers/dhcp/isc';
import type { KeaServer } from '../src/providers/dhcp/kea';
import type { BindSshZone } from '../src/providers/dns/bind-ssh';
import type { Rfc2136Zone } from '../src/providers/dns/rfc2136';
import { DhcpProvider } from '../src/providers/dhcp/provider';
import { DnsProvider } from '../src/providers/dns/provider';
import { renderFragment } from '../src/providers/dns/zone-text';
import { checkZoneLocally } from '../src/providers/dns/dns-tools';
import { SshPool } from '../src/transport/ssh';
import { removeDir, tempDir } from '../test/helpers/daemon';
import { startKea } from '../test/helpers/kea';
import { startNamed } from '../test/helpers/named';
import { readFileSecret, startSshd } from '../test/helpers/sshd';
import { context, runStage, site, system } from '../test/helpers/systems';
import type { Fields, Provider } from '../src/engine/contract';
import type { DesiredSystem } from '../src/manifest/types';

const SIZES = [1000, 10000];
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
/** Up to 10,000 systems use 10.20.0-39.x; a changed address moves to 10.20.250.1, which nobody holds. */
const ipOf = (i: number, moved = false) => (moved ? '10.20.250.1' : `10.20.${Math.floor(i / 250)}.${(i % 250) + 1}`);

async function main(): Promise<void> {
  const sshd = await startSshd();
  const zones = SIZES.flatMap((n) => [`bind${n}.example.test`, `dyn${n}.example.test`]);
  const named = await startNamed([
    ...SIZES.map((n) => ({ name: `bind${n}.example.test`, include: join(sshd.dir, `bind${n}.frag`) })),
    ...SIZES.map((n) => ({ name: `dyn${n}.example.test`, dynamic: true })),
    { name: '20.10.in-addr.arpa', include: join(sshd.dir, 'rev.frag') },
  ]);
  const kea = await startKea([], '10.20.0.0/16', '10.20.200.1 - 10.20.200.100');
  const secret = join(named.dir, 'tsig.secret');
  writeFileSync(secret, named.ddnsSecret);
  const pool = new SshPool({ readSecret: readFileSecret, root: sshd.dir });
  const rows: string[][] = [];
  try {
    const s = await pool.get(sshd.endpoint());
    let t = process.hrtime.bigint();
    for (let i = 0; i < 5; i++) await s.exec('true');
    const execMs = ms(t) / 5;

    for (const n of SIZES) {
      const systems = (domain: string) =>
        Array.from({ length: n }, (_, i) => system(`h${i}`, { net: `net-${domain}`, domain }));
      const dnsSite = (zone: ZoneSection, domain: string, withReverse: boolean): SiteConfig =>
        site({
          root: sshd.dir,
          nets: {
            [`net-${domain}`]: {
              title: 'n',
              cidr: '10.20.0.0/16',
              dnsServers: [],
              domain,
              ...(withReverse ? { reverseZone: '20.10.in-addr.arpa' } : {}),
            },
          },
          dns: {
            zones: [
              zone,
              ...(withReverse
                ? [
                    {
                      name: '20.10.in-addr.arpa',
                      backend: 'bind-ssh' as const,
                      server: zone.server,
                      ssh: sshd.endpoint(),
                      fragmentPath: join(sshd.dir, 'rev.frag'),
                      zoneFile: named.zoneFile('20.10.in-addr.arpa'),
                      reloadCommand: `${named.rndc} reload {zone}`,
                    },
                  ]
                : []),
            ],
          },
        });
      const bindDomain = `bind${n}.example.test`;
      const bindZone: BindSshZone = {
        name: bindDomain,
        backend: 'bind-ssh',
        server: { host: '127.0.0.1', port: named.port },
        ssh: sshd.endpoint(),
        fragmentPath: join(sshd.dir, `bind${n}.frag`),
        zoneFile: named.zoneFile(bindDomain),
        reloadCommand: `${named.rndc} reload {zone}`,
      };
      const dynDomain = `dyn${n}.example.test`;
      const dynZone: Rfc2136Zone = {
        name: dynDomain,
        backend: 'rfc2136',
        server: { host: '127.0.0.1', port: named.port },
        tsig: { name: 'ddns-key', algorithm: 'hmac-sha256', secret: { ref: `\${file:${secret}}` } },
      };

      // render and local check alone (bind)
      const recs = new Map(
        Array.from({ length: n }, (_, i) => [
          `h${i}`,
          [{ name: `h${i}.${bindDomain}`, type: 'A' as const, value: ipOf(i) }],
        ]),
      );
      t = process.hrtime.bigint();
      const text = renderFragment(bindDomain, recs);
      const renderMs = ms(t);
      const dir = tempDir('bench');
      writeFileSync(
        join(dir, 'z'),
        `$ORIGIN ${bindDomain}.\n$TTL 300\n@ IN SOA ns.invalid. h.invalid. 1 1 1 1 1\n@ IN NS ns.invalid.\n${text}`,
      );
      t = process.hrtime.bigint();
      await checkZoneLocally(bindDomain, join(dir, 'z'));
      const checkMs = ms(t);
      removeDir(dir);
      rows.push([`bind-ssh render fragment (${n} A)`, n.toString(), '', renderMs.toFixed(0)]);
      rows.push([`bind-ssh named-checkzone locally (${n} A)`, n.toString(), '', checkMs.toFixed(0)]);

      const measure = async <F extends Fields>(
        label: string,
        mk: () => Provider<F>,
        sys: DesiredSystem[],
        ctxSite: SiteConfig,
        extra = '',
      ) => {
        const resolved = (move: boolean) => (s: DesiredSystem) => ({
          ip: ipOf(Number(s.name.slice(1)), move && s.name === 'h0'),
          mac: `00:50:56:${[Math.floor(Number(s.name.slice(1)) / 65536), Math.floor(Number(s.name.slice(1)) / 256) % 256, Number(s.name.slice(1)) % 256].map((x) => x.toString(16).padStart(2, '0')).join(':')}`,
        });
        let p = mk();
        let r = await runStage(p, sys, resolved(false), context(ctxSite));
        const create = r.ms;
        if (r.failed.length || r.refused.length)
          throw new Error(`${label}: ${(r.failed[0] ?? r.refused[0])!.error.message}`);
        await p.close?.();
        p = mk();
        r = await runStage(p, sys, resolved(true), context(ctxSite));
        const change = r.ms;
        if (r.updated.length !== 1 || r.failed.length)
          throw new Error(
            `${label}: expected 1 update to land, got ${r.updated.length}: ${r.failed[0]?.error.message ?? ''}`,
          );
        await p.close?.();
        rows.push([`${label} create ${extra}`.trim(), n.toString(), String(create.observe), String(create.commit)]);
        rows.push([`${label} 1 change`, n.toString(), String(change.observe), String(change.commit)]);
      };
      await measure(
        'bind-ssh (A+PTR, 2 zones)',
        () => new DnsProvider({ readSecret: readFileSecret, pool }),
        systems(bindDomain),
        dnsSite(bindZone, bindDomain, true),
      );
      // clean the shared reverse zone for the next size
      await runStage(
        new DnsProvider({ readSecret: readFileSecret, pool }),
        systems(bindDomain).map((s) => ({ ...s, state: 'absent' as const })),
        () => ({ ip: '10.20.0.1', mac: '00:50:56:00:00:00' }),
        context(dnsSite(bindZone, bindDomain, true)),
      );
      await measure(
        'rfc2136 (A + TXT)',
        () => new DnsProvider({ readSecret: readFileSecret, pool }),
        systems(dynDomain),
        dnsSite(dynZone, dynDomain, false),
      );

      const dhcpSite = (server: DhcpServerSection): SiteConfig =>
        site({
          root: sshd.dir,
          nets: { [`net-d${n}`]: { title: 'n', cidr: '10.20.0.0/16', dnsServers: [] } },
          dhcp: { servers: [server] },
        });
      const conf = join(sshd.dir, `dhcpd-${n}.conf`);
      const inc = join(sshd.dir, `hosts-${n}.conf`);
      writeFileSync(
        conf,
        `ddns-update-style none;\nsubnet 10.20.0.0 netmask 255.255.0.0 { range 10.20.200.1 10.20.200.100; }\ninclude "${inc}";\n`,
      );
      writeFileSync(inc, '');
      const iscServer: IscServer = {
        name: 'isc',
        backend: 'isc',
        nets: [`net-d${n}`],
        ssh: sshd.endpoint(),
        includePath: inc,
        configPath: conf,
        restartCommand: `dhcpd -t -cf ${conf} -lf /dev/null -pf /dev/null 2>/dev/null`,
      };
      const dsys = Array.from({ length: n }, (_, i) => system(`h${i}`, { net: `net-d${n}`, domain: 'd.test' }));
      await measure(
        'isc dhcpd',
        () => new DhcpProvider({ readSecret: readFileSecret, pool }),
        dsys,
        dhcpSite(iscServer),
      );
      const keaServer: KeaServer = {
        name: 'kea',
        backend: 'kea',
        nets: [`net-d${n}`],
        ssh: sshd.endpoint(),
        controlSocket: kea.socket,
        configPath: kea.configPath,
      };
      await measure('kea', () => new DhcpProvider({ readSecret: readFileSecret, pool }), dsys, dhcpSite(keaServer));
      // empty Kea again for the next size
      await runStage(
        new DhcpProvider({ readSecret: readFileSecret, pool }),
        dsys.map((s) => ({ ...s, state: 'absent' as const })),
        () => ({ ip: '10.20.0.1', mac: '00:50:56:00:00:00' }),
        context(dhcpSite(keaServer)),
      );
    }
    console.log(`SSH exec round trip on this machine: ${execMs.toFixed(0)} ms (every deploy runs a few)`);
    console.log(`zones: ${zones.join(', ')}\n`);
    console.log('| step | systems | observe ms | render+check+deploy+reload ms |\n| --- | ---: | ---: | ---: |');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } finally {
    await pool.closeAll();
    await kea.stop();
    await named.stop();
    await sshd.stop();
    for (const d of [kea.dir, named.dir, sshd.dir]) removeDir(d);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
