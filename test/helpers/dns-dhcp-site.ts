/**
 * The example repo on real DNS and DHCP servers, without VMs: addresses from the i-doit emulator, DNS on a
 * real named (dev zones as bind-ssh files over SSH, live zones by RFC 2136), DHCP on dhcpd (checked with
 * `dhcpd -t` on "the server") and a real Kea. The apply e2e and the shards e2e start their world from it.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, type Document } from 'yaml';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { removeDir } from './daemon';
import { startKea, type TestKea } from './kea';
import { copyLabExamples, LAB_EXAMPLES, provideOwnershipKey, setDnsDhcp } from './lab-site';
import { startNamed, type TestNamed } from './named';
import { startSshd, type TestSshd } from './sshd';

/** The example site cut into two shards by net: dev (BIND over SSH, dhcpd) and live (RFC 2136, Kea). */
export const EXAMPLE_SHARDS = {
  dev: { nets: ['dev-net'], zones: ['dev.example.com', '100.51.198.in-addr.arpa'], dhcpServers: ['dhcp-dev'] },
  live: { nets: ['live-net'], zones: ['live.example.com', '113.0.203.in-addr.arpa'], dhcpServers: ['dhcp-live'] },
};

export interface DnsDhcpSite {
  repo: string;
  sshd: TestSshd;
  named: TestNamed;
  kea: TestKea;
  emu: IdoitEmulator;
  /** The bind-ssh fragment of a zone on "the server". */
  frag(zone: string): string;
  /** dhcpd's include file shipshape writes. */
  dhcpHosts: string;
  stop(): Promise<void>;
}

/** Starts the servers and writes the example repo to `work/repo`; `tweak` edits its shipshape.yaml first. */
export async function startDnsDhcpSite(work: string, tweak?: (doc: Document) => void): Promise<DnsDhcpSite> {
  const sshd = await startSshd();
  const frag = (z: string) => join(sshd.dir, `${z}.shipshape`);
  const named = await startNamed([
    { name: 'dev.example.com', records: 'gw IN A 198.51.100.1\n', include: frag('dev.example.com') },
    { name: '100.51.198.in-addr.arpa', include: frag('100.51.198.in-addr.arpa') },
    { name: 'live.example.com', dynamic: true },
    { name: '113.0.203.in-addr.arpa', dynamic: true },
  ]);
  const kea = await startKea([], '203.0.113.0/24', '203.0.113.200 - 203.0.113.250');
  const emu = await startIdoitEmulator({
    stateFile: join(work, 'idoit.json'),
    apiKey: 'lab-key',
    nets: [
      { title: 'dev-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1' },
      { title: 'live-net', cidr: '203.0.113.0/24', gateway: '203.0.113.1' },
    ],
  } as never);
  process.env.SHIPSHAPE_E2E_IDOIT_KEY = 'lab-key';

  const repo = join(work, 'repo');
  mkdirSync(repo);
  copyLabExamples(repo);
  writeFileSync(join(work, 'tsig.secret'), named.ddnsSecret, { mode: 0o600 }); // as an operator keeps a secret: shipshape warns about one others may read
  const dhcpdConf = join(sshd.dir, 'dhcpd.conf');
  const include = join(sshd.dir, 'shipshape-hosts.conf');
  writeFileSync(
    dhcpdConf,
    `ddns-update-style none;\nsubnet 198.51.100.0 netmask 255.255.255.0 { range 198.51.100.200 198.51.100.250; }\ninclude "${include}";\n`,
  );
  const restart = join(sshd.dir, 'restart-dhcpd');
  writeFileSync(restart, `#!/bin/sh\nexec /usr/sbin/dhcpd -t -cf ${dhcpdConf} -lf /dev/null -pf /dev/null\n`);
  chmodSync(restart, 0o755);

  const doc = parseDocument(readFileSync(join(LAB_EXAMPLES, 'shipshape.yaml'), 'utf8'));
  const spec = doc.get('spec') as any;
  // No VMs and no lab systems here, so nothing to specialise: the roles run over SSH on the lab's systems
  // (test/e2e/lab.test.ts), which this site does not start.
  for (const k of ['vms', 'specialise']) spec.delete(k);
  for (const step of ['ipam', 'cmdb']) spec.setIn([step, 'url'], emu.endpoint);
  for (const step of ['ipam', 'cmdb']) spec.setIn([step, 'apiKey'], '${env:SHIPSHAPE_E2E_IDOIT_KEY}');
  // The site's ownership key (.lab, as in the example), the test's SSH key and TSIG secret.
  spec.set('secrets', doc.createNode({ folders: ['.lab', sshd.dir, work] }));
  const ssh = {
    host: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    privateKey: `\${file:${sshd.clientKeyPath}}`,
    hostKeyFingerprint: sshd.hostFingerprint,
  };
  setDnsDhcp(doc, spec, {
    ssh,
    server: { host: '127.0.0.1', port: named.port },
    tsig: { name: 'ddns-key', algorithm: 'hmac-sha256', secret: `\${file:${join(work, 'tsig.secret')}}` },
    fragmentPath: frag,
    zoneFile: (zone) => named.zoneFile(zone),
    reloadCommand: `/usr/sbin/rndc -s 127.0.0.1 -p ${named.rndcPort} -k ${named.rndcKeyFile} reload {zone}`,
    isc: { includePath: include, configPath: dhcpdConf, restartCommand: restart },
    kea: { controlSocket: kea.socket, configPath: kea.configPath },
  });
  tweak?.(doc);
  writeFileSync(join(repo, 'shipshape.yaml'), doc.toString());
  provideOwnershipKey(repo); // no `lab up` here, which would generate it
  return {
    repo,
    sshd,
    named,
    kea,
    emu,
    frag,
    dhcpHosts: include,
    async stop() {
      await emu.close?.();
      for (const d of [kea, named, sshd]) await d.stop();
      for (const d of [kea.dir, named.dir, sshd.dir]) removeDir(d);
    },
  };
}
