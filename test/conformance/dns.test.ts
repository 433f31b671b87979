/**
 * The DNS backends through the conformance suite: bind-ssh (a real named, the zone deployed over a
 * real sshd), rfc2136 (a real named taking TSIG-signed updates) and powerdns (a real pdns_server's API). Round trips are compared at
 * 10 and 200 systems here: each is a real deploy and reload on 2 shared cores (the 1,000-system
 * count is the observe benchmark's, bench/dns-dhcp.ts).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Provider } from '../../src/engine/contract';
import type { SiteConfig } from '../../src/manifest/site';
import type { BindSshZone } from '../../src/providers/dns/bind-ssh';
import { DnsProvider } from '../../src/providers/dns/provider';
import { powerdns, type PowerDnsZone } from '../../src/providers/dns/powerdns';
import type { Rfc2136Zone } from '../../src/providers/dns/rfc2136';
import { SshPool } from '../../src/transport/ssh';
import { removeDir } from '../helpers/daemon';
import { startNamed, type TestNamed } from '../helpers/named';
import { startPdns, type TestPdns } from '../helpers/pdns';
import { keygen, readFileSecret, startSshd, type TestSshd } from '../helpers/sshd';
import { context, site, system } from '../helpers/systems';
import { conformance, type Harness } from './suite';

const ip = (n: number) => `10.20.${Math.floor(n / 250)}.${(n % 250) + 1}`;

function dnsHarness(id: 'bind-ssh' | 'rfc2136'): Harness {
  const zone = `conf-${id}.example.test`;
  let named: TestNamed;
  let sshd: TestSshd | undefined;
  let good: SiteConfig;
  let bad: SiteConfig;
  const pools: SshPool[] = [];
  const provider = (s: SiteConfig): Provider => {
    const pool = new SshPool({ readSecret: readFileSecret, root: s.root });
    pools.push(pool);
    return new DnsProvider({ readSecret: readFileSecret, pool, reloadTimeoutMs: 5000 }) as Provider;
  };
  const siteWith = (z: BindSshZone | Rfc2136Zone, root: string) =>
    site({ root, nets: { 'c-net': { title: 'c-net', cidr: '10.20.0.0/16', dnsServers: [] } }, dns: { zones: [z] } });
  return {
    name: `dns/${id}`,
    foreignName: 'www',
    isForeign: (r) => r.id === `www.${zone}`,
    collider: () => system('www', { net: 'c-net', domain: zone }),
    scale: [10, 200],
    async start() {
      if (id === 'bind-ssh') {
        sshd = await startSshd();
        const fragment = join(sshd.dir, `${zone}.shipshape`);
        named = await startNamed([{ name: zone, records: 'www IN A 10.20.250.250\n', include: fragment }]);
        const z = (key: string): BindSshZone => ({
          name: zone,
          backend: 'bind-ssh',
          server: { host: '127.0.0.1', port: named.port },
          ssh: sshd!.endpoint({ privateKey: { ref: `\${file:${key}}` } }),
          fragmentPath: fragment,
          zoneFile: named.zoneFile(zone),
          reloadCommand: `${named.rndc} reload {zone}`,
        });
        const wrongKey = join(sshd.dir, 'not-authorized');
        keygen(wrongKey, 'not authorized');
        good = siteWith(z(sshd.clientKeyPath), sshd.dir);
        bad = siteWith(z(wrongKey), sshd.dir);
      } else {
        named = await startNamed([{ name: zone, records: 'www IN A 10.20.250.250\n', dynamic: true }]);
        const secret = join(named.dir, 'tsig.secret');
        writeFileSync(secret, named.ddnsSecret + '\n', { mode: 0o600 });
        const wrong = join(named.dir, 'wrong.secret');
        writeFileSync(wrong, Buffer.from('not the key, not the key, not the key').toString('base64') + '\n', {
          mode: 0o600,
        });
        const z = (file: string): Rfc2136Zone => ({
          name: zone,
          backend: 'rfc2136',
          server: { host: '127.0.0.1', port: named.port },
          tsig: { name: 'ddns-key', algorithm: 'hmac-sha256', secret: { ref: `\${file:${file}}` } },
        });
        // The rfc2136 zone seals its TXT markers (src/ownership): the whole suite runs sealed.
        const key = join(named.dir, 'ownership.key');
        writeFileSync(key, 'the-conformance-site-key-0123456789\n', { mode: 0o600 });
        const ownership = { siteId: 'conformance', key: { ref: `\${file:${key}}` } };
        good = { ...siteWith(z(secret), named.dir), ownership };
        bad = { ...siteWith(z(wrong), named.dir), ownership };
      }
    },
    async stop() {
      await Promise.all(pools.map((p) => p.closeAll()));
      await sshd?.stop();
      await named?.stop();
      for (const d of [named?.dir, sshd?.dir]) if (d) removeDir(d);
    },
    provider: () => provider(good),
    bad: () => ({ provider: provider(bad), ctx: context(bad) }),
    ctx: () => context(good),
    system: (n, changed) => ({
      ...system(`c-${n}`, { net: 'c-net', domain: zone, aliases: changed ? [`alt-${n}`] : [] }),
    }),
    // What anyone holding an update key for the zone can write: an A record and the TXT marker, with
    // no seal or with the seal of another name copied from a real marker.
    ...(id === 'rfc2136'
      ? {
          async forge(how: 'unsealed' | 'wrongly sealed') {
            const name = `forged-${how === 'unsealed' ? 1 : 2}`;
            const real = execFileSync(
              'dig',
              [`@127.0.0.1`, '-p', String(named.port), '+short', 'TXT', `_shipshape.c-1.${zone}`],
              {
                encoding: 'utf8',
              },
            );
            const seal = /shipshape\/seal=([A-Za-z0-9:]+)/.exec(real)?.[1];
            expect(seal).toMatch(/^v1:/);
            const marker = `heritage=shipshape,shipshape/system=${name}${how === 'unsealed' ? '' : `,shipshape/seal=${seal}`}`;
            execFileSync('nsupdate', ['-k', named.ddnsKeyFile], {
              input: `server 127.0.0.1 ${named.port}\nzone ${zone}.\nupdate add ${name}.${zone}. 300 A 10.20.250.${how === 'unsealed' ? 1 : 2}\nupdate add _shipshape.${name}.${zone}. 300 TXT "${marker}"\nsend\n`,
            });
            return name;
          },
        }
      : { notApplicable: { forged: `bind-ssh ${UNSEALED}` } }),
    resolved: (s) => ({ ip: ip(Number(s.name.replace(/\D/g, '')) || 0), mac: '00:50:56:00:00:01' }),
  };
}

/** Why the forged-marker case does not apply to a backend whose markers are not sealed. */
const UNSEALED =
  'its markers carry no site seal (only rfc2136 and kea seal theirs), so a forged marker cannot be told from a real one by design; whoever can write them can already change the records';

conformance(dnsHarness('bind-ssh'));
conformance(dnsHarness('rfc2136'));

/** PowerDNS through its HTTP API (a real pdns_server with the SQLite backend). */
function powerdnsHarness(): Harness {
  const zone = 'conf-powerdns.example.test';
  let pdns: TestPdns;
  let good: SiteConfig;
  let bad: SiteConfig;
  const siteWith = (z: PowerDnsZone) =>
    site({
      root: pdns.dir,
      nets: { 'c-net': { title: 'c-net', cidr: '10.20.0.0/16', dnsServers: [] } },
      dns: { zones: [z] },
    });
  return {
    name: 'dns/powerdns',
    foreignName: 'www',
    isForeign: (r) => r.id === `www.${zone}`,
    collider: () => system('www', { net: 'c-net', domain: zone }),
    scale: [10, 200],
    async start() {
      pdns = await startPdns();
      await pdns.createZone({ name: zone, rrsets: [{ name: `www.${zone}`, type: 'A', content: ['10.20.250.250'] }] });
      const wrong = join(pdns.dir, 'wrong.key');
      writeFileSync(wrong, 'not-the-api-key\n', { mode: 0o600 });
      const z = (key: string) =>
        powerdns.config({ name: zone, backend: 'powerdns', url: pdns.url, apiKey: `\${file:${key}}` });
      good = siteWith(z(pdns.keyFile));
      bad = siteWith(z(wrong));
    },
    async stop() {
      await pdns?.stop();
      if (pdns) removeDir(pdns.dir);
    },
    provider: () => new DnsProvider({ readSecret: readFileSecret }) as Provider,
    bad: () => ({ provider: new DnsProvider({ readSecret: readFileSecret }) as Provider, ctx: context(bad) }),
    ctx: () => context(good),
    system: (n, changed) => system(`c-${n}`, { net: 'c-net', domain: zone, aliases: changed ? [`alt-${n}`] : [] }),
    resolved: (s) => ({ ip: ip(Number(s.name.replace(/\D/g, '')) || 0), mac: '00:50:56:00:00:01' }),
    notApplicable: { forged: `powerdns ${UNSEALED}` },
  };
}

conformance(powerdnsHarness());
