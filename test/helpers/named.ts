/**
 * A throw-away BIND `named` on a free 127.0.0.1 port (reference 2.1–2.4): own temp dir, rndc on a second
 * port with its own key, a TSIG key for RFC 2136 updates and AXFR. Zones are declared by the test.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { namedConf, soaHeader } from '../../src/lab/configs';
import { freePort, requireBinary, run, startDaemon, tempDir, type Daemon } from './daemon';

export { soaHeader };

export interface TestZone {
  name: string;
  /** Main zone file body after the SOA/NS lines (the operator's own records). */
  records?: string;
  /** Include this absolute fragment path from the zone file (bind-ssh zones). */
  include?: string;
  /** A dynamic zone that takes RFC 2136 updates signed with the ddns key. */
  dynamic?: boolean;
  /** DNSSEC with inline-signing: named serves a signed copy of the file (its own serials, RRSIG/NSEC…). */
  inlineSigned?: boolean;
}

export interface TestNamed extends Daemon {
  dir: string;
  zonesDir: string;
  port: number;
  rndcPort: number;
  rndcKeyFile: string;
  ddnsKeyFile: string;
  ddnsSecret: string;
  rndc: string;
  zoneFile(zone: string): string;
  serial(zone: string): Promise<number>;
  resolver(): Resolver;
}

export async function startNamed(zones: TestZone[]): Promise<TestNamed> {
  const named = requireBinary('/usr/sbin/named', 'bind9');
  const keygen = requireBinary('/usr/sbin/tsig-keygen', 'bind9');
  const dir = tempDir('named');
  const [conf, work, zonesDir] = ['conf', 'work', 'zones'].map((d) => join(dir, d)) as [string, string, string];
  for (const d of [conf, work, zonesDir]) mkdirSync(d);
  const rndcKeyFile = join(conf, 'rndc.key');
  const ddnsKeyFile = join(conf, 'ddns.key');
  writeFileSync(rndcKeyFile, run(keygen, ['-a', 'hmac-sha256', 'rndc-key']));
  writeFileSync(ddnsKeyFile, run(keygen, ['-a', 'hmac-sha256', 'ddns-key']));
  const ddnsSecret = /secret "([^"]+)"/.exec(readFileSync(ddnsKeyFile, 'utf8'))![1]!;
  const port = await freePort();
  const rndcPort = await freePort();
  // A classless reverse zone (RFC 2317: `64/26.2.0.192.in-addr.arpa`) has a `/` in its name, not in its file name.
  const zoneFile = (z: string) => join(zonesDir, `db.${z.replace(/\//g, '-')}`);
  const zoneDecls = zones.map((z) => {
    const ns = z.name.endsWith('.arpa') ? `ns1.${zones[0]!.name}.` : `ns1.${z.name}.`;
    const body =
      soaHeader(z.name)
        .replace(`ns1.${z.name}.`, ns)
        .replace(`IN NS ns1.${z.name}.`, `IN NS ${ns}`)
        // The SOA's mailbox in the forward domain, as operators write it (a `/` in it fails check-names).
        .replace(
          `hostmaster.${z.name}.`,
          z.name.endsWith('.arpa') ? `hostmaster.${zones[0]!.name}.` : `hostmaster.${z.name}.`,
        ) +
      (z.name.endsWith('.arpa') ? '' : 'ns1 IN A 127.0.0.1\n') +
      (z.records ?? '') +
      (z.include ? `$INCLUDE ${z.include}\n` : '');
    writeFileSync(zoneFile(z.name), body);
    if (z.include) writeFileSync(z.include, '; empty until shipshape deploys\n', { flag: 'a' });
    return { name: z.name, file: zoneFile(z.name), ...(z.dynamic ? { updateKey: 'ddns-key' } : {}) };
  });
  const confFile = join(conf, 'named.conf');
  let confText = namedConf({
    workDir: work,
    port,
    rndcPort,
    includes: [rndcKeyFile, ddnsKeyFile],
    rndcKeyName: 'rndc-key',
    zones: zoneDecls,
  });
  for (const z of zones.filter((x) => x.inlineSigned)) {
    const decl = `zone "${z.name}" { type primary; file "${zoneFile(z.name)}"; `;
    confText = confText.replace(decl, `${decl}dnssec-policy default; inline-signing yes; `);
  }
  writeFileSync(confFile, confText);
  run(requireBinary('/usr/bin/named-checkconf', 'bind9-utils'), ['-z', confFile]);
  const resolver = () => {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    return r;
  };
  const first = zones[0]!.name;
  const d = await startDaemon(
    'named',
    named,
    ['-g', '-c', confFile],
    join(work, 'named.log'),
    async () => (await resolver().resolveSoa(first)).serial > 0,
  );
  return {
    ...d,
    dir,
    zonesDir,
    port,
    rndcPort,
    rndcKeyFile,
    ddnsKeyFile,
    ddnsSecret,
    zoneFile,
    resolver,
    rndc: `/usr/sbin/rndc -s 127.0.0.1 -p ${rndcPort} -k ${rndcKeyFile}`,
    serial: async (z) => (await resolver().resolveSoa(z)).serial,
  };
}
