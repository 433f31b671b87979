/**
 * The isc backend against a dhcpd.conf as operators keep it after years (every shape here passes
 * `dhcpd -t`, checked below): hosts in included files and inside groups, MACs written in upper case
 * or with one-digit octets, `fixed-address` with two addresses, a `#` inside a quoted string.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IscServer } from '../../src/providers/dhcp/isc';
import { DhcpProvider } from '../../src/providers/dhcp/provider';
import { SshPool } from '../../src/transport/ssh';
import { removeDir } from '../helpers/daemon';
import { readFileSecret, startSshd, type TestSshd } from '../helpers/sshd';
import { context, runStage, site, system } from '../helpers/systems';

let sshd: TestSshd;
let pool: SshPool;
let conf: string;
let ours: string;
let hostsFile: string;
let pxeFile: string;

beforeAll(async () => {
  sshd = await startSshd();
  pool = new SshPool({ readSecret: readFileSecret, root: sshd.dir });
  mkdirSync(join(sshd.dir, 'dhcpd.d'));
  conf = join(sshd.dir, 'dhcpd.conf');
  ours = join(sshd.dir, 'shipshape-hosts.conf');
  hostsFile = join(sshd.dir, 'dhcpd.d', 'servers.conf');
  pxeFile = join(sshd.dir, 'dhcpd.d', 'pxe.conf');
  writeFileSync(ours, '');
  writeFileSync(
    conf,
    `# dhcpd.conf -- managed by hand, see the wiki
option domain-name "corp.example.test"; # the "#" in a string below is no comment
option domain-search "corp#1.example.test";
ddns-update-style none;
authoritative;
subnet 192.0.2.0 netmask 255.255.255.0 {
  range 192.0.2.100 192.0.2.199;
  option routers 192.0.2.1;
  group {
    next-server 192.0.2.5;
    include "${pxeFile}";
  }
}
include "${hostsFile}";
include "${ours}";
`,
  );
  writeFileSync(
    hostsFile,
    `# servers, one block each
host db01-old {
  hardware ethernet 0:50:56:A:B:C;      # written short, as dhcpd allows
  fixed-address 192.0.2.21;
}
host files { hardware ethernet 00:50:56:AA:BB:01; fixed-address 192.0.2.30, 192.0.2.31; }
`,
  );
  writeFileSync(pxeFile, `host kiosk { hardware ethernet 52:54:00:12:34:56; fixed-address 192.0.2.40; }\n`);
  // dhcpd itself takes all of it.
  execFileSync('/usr/sbin/dhcpd', ['-t', '-cf', conf, '-lf', '/dev/null', '-pf', '/dev/null'], { stdio: 'pipe' });
});
afterAll(async () => {
  await pool?.closeAll();
  await sshd?.stop();
  if (sshd?.dir) removeDir(sshd.dir);
});

const isc = (over: Partial<IscServer> = {}): IscServer => ({
  name: 'dhcp-isc',
  backend: 'isc',
  nets: ['corp-net'],
  ssh: sshd.endpoint(),
  includePath: ours,
  configPath: conf,
  restartCommand: `dhcpd -t -cf ${conf} -lf /dev/null -pf /dev/null 2>/dev/null`,
  ...over,
});
const corpSite = (over: Partial<IscServer> = {}) =>
  site({
    root: sshd.dir,
    nets: { 'corp-net': { title: 'corp-net', cidr: '192.0.2.0/24', dnsServers: [] } },
    dhcp: { servers: [isc(over)] },
  });
const WANT: Record<string, { ip: string; mac: string }> = {
  web01: { ip: '192.0.2.11', mac: '00:50:56:00:00:11' },
  db01: { ip: '192.0.2.12', mac: '00:50:56:0a:0b:0c' },
  files2: { ip: '192.0.2.31', mac: '00:50:56:00:00:13' },
  kiosk2: { ip: '192.0.2.14', mac: '52:54:00:12:34:56' },
};
const corp = (name: string) => system(name, { net: 'corp-net', domain: 'corp.example.test' });
const provider = () => new DhcpProvider({ readSecret: readFileSecret, pool });

test('the plan sees the hosts of included files: a MAC written short or upper case, a second fixed-address', async () => {
  const p = provider();
  const s = corpSite();
  await p.observe(context(s));
  const refused = Object.fromEntries(
    Object.keys(WANT).map((name) => [
      name,
      p.foreseeCreate(corp(name), p.desired(corp(name), WANT[name]!, s)!).map((c) => c.refused),
    ]),
  );
  await p.close();
  expect(refused).toEqual({
    web01: [],
    db01: [
      `MAC 00:50:56:0a:0b:0c is already reserved on dhcp-isc by host db01-old in ${hostsFile}:2, not a system of this repo; remove or change that reservation, or give db01 another MAC`,
    ],
    files2: [
      `address 192.0.2.31 is already reserved on dhcp-isc by host files in ${hostsFile}:6 (MAC 00:50:56:aa:bb:01), not a system of this repo; remove or change that reservation, or give files2 another address`,
    ],
    kiosk2: [
      `MAC 52:54:00:12:34:56 is already reserved on dhcp-isc by host kiosk in ${pxeFile}:1, not a system of this repo; remove or change that reservation, or give kiosk2 another MAC`,
    ],
  });
});

test('apply refuses those systems, deploys the others, and leaves every operator file as it was', async () => {
  const before = [conf, hostsFile, pxeFile].map((f) => readFileSync(f, 'utf8'));
  const r = await runStage(provider(), Object.keys(WANT).map(corp), (x) => WANT[x.name]!, context(corpSite()));
  expect(r.failed.map((f) => f.system).sort()).toEqual(['db01', 'files2', 'kiosk2']);
  expect(readFileSync(ours, 'utf8')).toContain('host shipshape-web01 {');
  expect(readFileSync(ours, 'utf8')).not.toContain('db01');
  expect([conf, hostsFile, pxeFile].map((f) => readFileSync(f, 'utf8'))).toEqual(before);
});

test('an include that names a missing file, or a relative one, is refused with the file and line', async () => {
  const broken = join(sshd.dir, 'broken.conf');
  writeFileSync(broken, `ddns-update-style none;\n\ninclude "${join(sshd.dir, 'nope.conf')}";\ninclude "${ours}";\n`);
  const p = provider();
  const missing = await p.observe(context(corpSite({ configPath: broken }))).catch((e: Error) => e);
  await p.close();
  expect(String(missing)).toContain(`${broken}:3 includes ${join(sshd.dir, 'nope.conf')}, which does not exist`);
  writeFileSync(broken, `ddns-update-style none;\ninclude "dhcpd.d/servers.conf";\ninclude "${ours}";\n`);
  const q = provider();
  const relative = await q.observe(context(corpSite({ configPath: broken }))).catch((e: Error) => e);
  await q.close();
  expect(String(relative)).toContain(`${broken}:2: \`include "dhcpd.d/servers.conf";\` is a relative path`);
});

test('a failover peer whose partner shipshape.yaml does not list is said at observe; with both listed, nothing', async () => {
  const fo = join(sshd.dir, 'failover.conf');
  writeFileSync(
    fo,
    `ddns-update-style none;
failover peer "dhcp-failover" {
  primary;
  address 127.0.0.1; port 647;
  peer address 127.0.0.2; peer port 847;
  max-response-delay 60; max-unacked-updates 10; mclt 3600; split 128; load balance max seconds 3;
}
subnet 192.0.2.0 netmask 255.255.255.0 {
  pool { failover peer "dhcp-failover"; range 192.0.2.100 192.0.2.199; }
}
include "${ours}";
`,
  );
  execFileSync('/usr/sbin/dhcpd', ['-t', '-cf', fo, '-lf', '/dev/null', '-pf', '/dev/null'], { stdio: 'pipe' });
  const warned: string[] = [];
  const log = {
    info() {},
    error() {},
    debug() {},
    warn: (_o: object | string, m?: string) => void warned.push(m ?? ''),
  };
  const observe = async (servers: IscServer[]) => {
    const p = provider();
    await p.observe({ ...context(corpSite()), site: { ...corpSite(), dhcp: { servers } }, log });
    await p.close();
  };
  await observe([isc({ configPath: fo })]);
  expect(warned).toEqual([
    expect.stringContaining(
      'dhcp server dhcp-isc is in a failover pair (failover peer "dhcp-failover"), but no other server in shipshape.yaml serves corp-net',
    ),
  ]);
  warned.length = 0;
  await observe([isc({ configPath: fo }), isc({ name: 'dhcp-isc-2', configPath: fo })]);
  expect(warned).toEqual([]);
});

test("a hand host WEB02 with web02's MAC and address is web02's own (the plan offers adopt), not someone else's", async () => {
  const conf2 = join(sshd.dir, 'upper.conf');
  writeFileSync(
    conf2,
    `ddns-update-style none;
subnet 192.0.2.0 netmask 255.255.255.0 { }
host WEB02 { hardware ethernet 00:50:56:00:00:22; fixed-address 192.0.2.22; }
include "${ours}";
`,
  );
  execFileSync('/usr/sbin/dhcpd', ['-t', '-cf', conf2, '-lf', '/dev/null', '-pf', '/dev/null'], { stdio: 'pipe' });
  const s = corpSite({ configPath: conf2 });
  const p = provider();
  const obs = await p.observe(context(s));
  const web02 = corp('web02');
  const desired = p.desired(web02, { ip: '192.0.2.22', mac: '00:50:56:00:00:22' }, s)!;
  expect(p.foreseeCreate(web02, desired)).toEqual([]);
  expect(obs.resources.filter((r) => r.system === 'web02').map((r) => [r.owned, r.id])).toEqual([
    [false, `dhcp-isc: host WEB02 in ${conf2}:3`],
  ]);
  await p.close();
});
