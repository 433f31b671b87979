/**
 * DHCP against real checkers and a real Kea: the sshd stands in for the DHCP servers (their "remote" files
 * are in its temp dir). ISC: `dhcpd -t` runs on the server; the restart command re-checks the deployed
 * config and records the restart (a real dhcpd here would bind the machine's real LAN). Kea: a real
 * kea-dhcp4 whose control socket is reached through the SSH connection.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../../src/manifest/site';
import type { IscServer } from '../../src/providers/dhcp/isc';
import type { KeaServer } from '../../src/providers/dhcp/kea';
import { DhcpProvider } from '../../src/providers/dhcp/provider';
import { SshHostKeyError, SshPool } from '../../src/transport/ssh';
import { removeDir } from '../helpers/daemon';
import { startKea, type TestKea } from '../helpers/kea';
import { readFileSecret, startSshd, type TestSshd } from '../helpers/sshd';
import { context, runStage, site, system } from '../helpers/systems';

let sshd: TestSshd;
let kea: TestKea;
let pool: SshPool;
let dhcpdConf: string;
let include: string;
let restarts: string;

beforeAll(async () => {
  sshd = await startSshd();
  kea = await startKea([{ 'hw-address': '52:54:00:00:00:99', 'ip-address': '192.0.2.99', hostname: 'printer' }]);
  pool = new SshPool({ readSecret: readFileSecret, root: sshd.dir });
  dhcpdConf = join(sshd.dir, 'dhcpd.conf');
  include = join(sshd.dir, 'shipshape-hosts.conf');
  restarts = join(sshd.dir, 'restarts.log');
  writeFileSync(restarts, '');
  writeFileSync(
    dhcpdConf,
    `authoritative;
ddns-update-style none;
subnet 192.0.2.0 netmask 255.255.255.0 {
  range 192.0.2.100 192.0.2.199;
  option routers 192.0.2.1;
}
host printer { hardware ethernet 52:54:00:00:00:99; fixed-address 192.0.2.99; }
include "${include}";
`,
  );
});
afterAll(async () => {
  await pool?.closeAll();
  await kea?.stop();
  await sshd?.stop();
  for (const d of [sshd?.dir, kea?.dir]) if (d) removeDir(d);
});

const dhcpdCheck = () => `dhcpd -t -cf ${dhcpdConf} -lf /dev/null -pf /dev/null 2>/dev/null`;
function isc(over: Partial<IscServer> = {}): IscServer {
  return {
    name: 'dhcp-isc',
    backend: 'isc',
    nets: ['lab-net'],
    ssh: sshd.endpoint(),
    includePath: include,
    configPath: dhcpdConf,
    restartCommand: `${dhcpdCheck()} && echo restart >> ${restarts}`,
    ...over,
  };
}
function keaServer(over: Partial<KeaServer> = {}): KeaServer {
  return {
    name: 'dhcp-kea',
    backend: 'kea',
    nets: ['lab-net'],
    ssh: sshd.endpoint(),
    controlSocket: kea.socket,
    configPath: kea.configPath,
    ...over,
  };
}
function labSite(servers: (IscServer | KeaServer)[]): SiteConfig {
  return site({
    root: sshd.dir,
    nets: { 'lab-net': { title: 'lab-net', cidr: '192.0.2.0/24', dnsServers: [] } },
    dhcp: { servers },
  });
}
const hosts: Record<string, [string, string]> = {
  vm1: ['192.0.2.11', '00:50:56:00:00:11'],
  vm2: ['192.0.2.12', '00:50:56:00:00:12'],
  dupmac: ['192.0.2.13', '52:54:00:00:00:99'],
  outside: ['198.51.100.7', '00:50:56:00:00:14'],
  vm5: ['192.0.2.15', '00:50:56:00:00:15'],
  vm6: ['192.0.2.16', '00:50:56:00:00:16'],
};
const resolved = (s: { name: string }) => ({
  ip: hosts[s.name]![0],
  mac: hosts[s.name]![1],
  ...(s.name === 'vm1' ? { boot: { nextServer: '192.0.2.5', filename: 'pxelinux.0' } } : {}),
});
const lab = (name: string, state: 'present' | 'absent' = 'present') =>
  system(name, { net: 'lab-net', domain: 'lab.example.test', state });
const provider = () => new DhcpProvider({ readSecret: readFileSecret, pool });
const restartCount = () => readFileSync(restarts, 'utf8').split('\n').filter(Boolean).length;

describe('ISC dhcpd', () => {
  test('reservations with boot options are deployed, checked by dhcpd -t, and restart once; a second run changes nothing', async () => {
    const r = await runStage(provider(), [lab('vm1'), lab('vm2')], resolved, context(labSite([isc()])));
    expect(r.failed).toEqual([]);
    expect(r.created.sort()).toEqual(['vm1', 'vm2']);
    const text = readFileSync(include, 'utf8');
    expect(text).toMatch(/^# shipshape-managed DHCP reservations for dhcp-isc/);
    expect(text).toContain(
      'host shipshape-vm1 {\n  hardware ethernet 00:50:56:00:00:11;\n  fixed-address 192.0.2.11;\n  option host-name "vm1";\n  next-server 192.0.2.5;\n  filename "pxelinux.0";\n}',
    );
    execFileSync('/bin/sh', ['-c', dhcpdCheck()]);
    expect(restartCount()).toBe(1);
    const again = await runStage(provider(), [lab('vm1'), lab('vm2')], resolved, context(labSite([isc()])));
    expect(again.unchanged.sort()).toEqual(['vm1', 'vm2']);
    expect(restartCount()).toBe(1);
  });

  test('duplicates and addresses outside every subnet (which dhcpd -t passes) are refused; the others go ahead', async () => {
    const r = await runStage(
      provider(),
      [lab('vm1'), lab('vm2'), lab('dupmac'), lab('outside'), lab('vm5')],
      resolved,
      context(labSite([isc()])),
    );
    expect(r.failed.map((f) => f.system).sort()).toEqual(['dupmac', 'outside']);
    expect(r.failed.find((f) => f.system === 'dupmac')!.error.message).toMatch(
      /MAC 52:54:00:00:00:99 is already reserved on dhcp-isc by host printer in .*dhcpd.conf:7, not managed by shipshape/,
    );
    expect(r.failed.find((f) => f.system === 'outside')!.error.message).toMatch(
      /198.51.100.7 is outside every subnet dhcp-isc serves \(192.0.2.0\/24\)/,
    );
    expect(readFileSync(include, 'utf8')).toContain('host shipshape-vm5 {');
    expect(readFileSync(include, 'utf8')).not.toContain('dupmac');
  });

  test('a config dhcpd -t refuses is never deployed', async () => {
    const before = readFileSync(include, 'utf8');
    const n = restartCount();
    const broken = (s: { name: string }) =>
      s.name === 'vm2' ? { ...resolved(s), boot: { filename: 'pxe"linux' } } : resolved(s);
    const r = await runStage(provider(), [lab('vm1'), lab('vm2'), lab('vm5')], broken, context(labSite([isc()])));
    expect(r.failed.map((f) => f.system)).toEqual(['vm2']);
    expect(r.failed[0]!.error.message).toMatch(
      /dhcpd -t refused the new reservations \(nothing deployed\)[\s\S]*line \d+/,
    );
    expect(readFileSync(include, 'utf8')).toBe(before);
    expect(restartCount()).toBe(n);
  });

  test('a failed restart puts the previous include back and restarts again', async () => {
    const before = readFileSync(include, 'utf8');
    const flag = join(sshd.dir, 'restart-failed-once');
    const flaky = `if [ -e ${flag} ]; then echo restart >> ${restarts}; else touch ${flag}; echo "Job for isc-dhcp-server.service failed" >&2; exit 1; fi`;
    const n = restartCount();
    const r = await runStage(
      provider(),
      [lab('vm1'), lab('vm2'), lab('vm5', 'absent')],
      resolved,
      context(labSite([isc({ restartCommand: flaky })])),
    );
    expect(r.failed.map((f) => f.system)).toEqual(['vm5']);
    expect(r.failed[0]!.error.message).toMatch(
      /restart failed[\s\S]*isc-dhcp-server.service failed[\s\S]*previous .* was put back and the server restarted/,
    );
    expect(readFileSync(include, 'utf8')).toBe(before);
    expect(restartCount()).toBe(n + 1);
  });

  test('a tombstone removes the reservation; the operator host stays', async () => {
    const r = await runStage(
      provider(),
      [lab('vm1'), lab('vm2', 'absent'), lab('vm5', 'absent')],
      resolved,
      context(labSite([isc()])),
    );
    expect(r.deleted.sort()).toEqual(['vm2', 'vm5']);
    const text = readFileSync(include, 'utf8');
    expect(text).toContain('shipshape-vm1');
    expect(text).not.toMatch(/shipshape-vm2|shipshape-vm5/);
    expect(readFileSync(dhcpdConf, 'utf8')).toContain('host printer');
  });

  test('a wrong host key is refused', async () => {
    const wrong = 'SHA256:' + Buffer.alloc(32, 2).toString('base64').replace(/=+$/, '');
    const p = new DhcpProvider({ readSecret: readFileSecret });
    const err = await p
      .observe(context(labSite([isc({ ssh: sshd.endpoint({ hostKeyFingerprint: wrong }) })])))
      .catch((e) => e);
    await p.close();
    expect(err).toBeInstanceOf(SshHostKeyError);
  });

  test("the plan refuses a system the address or MAC an operator's host holds, among 200 hand hosts", async () => {
    // hand-1 … hand-200: 192.0.2.<i>… and 52:54:00:00:01:<i>; hand-5 and hand-6 share a MAC (the second is ignored by dhcpd, not by the check).
    const conf = join(sshd.dir, 'hand-hosts.conf');
    const hosts = Array.from({ length: 200 }, (_, k) => {
      const i = k + 1;
      const mac = `52:54:00:00:01:${(i === 6 ? 5 : i).toString(16).padStart(2, '0')}`;
      return `host hand-${i} { hardware ethernet ${mac}; fixed-address 10.1.${i >> 8}.${i & 255}; }`;
    });
    const inc = join(sshd.dir, 'hand-include.conf');
    writeFileSync(inc, '');
    writeFileSync(conf, `subnet 10.1.0.0 netmask 255.255.0.0 { }\n${hosts.join('\n')}\ninclude "${inc}";\n`);
    const s = labSite([isc({ configPath: conf, includePath: inc })]);
    const p = provider();
    await p.observe(context(s));
    const want: Record<string, { ip: string; mac: string }> = {
      free: { ip: '10.1.1.44', mac: '00:50:56:00:02:01' },
      ipHeld: { ip: '10.1.0.7', mac: '00:50:56:00:02:02' },
      macHeld: { ip: '10.1.1.45', mac: '52:54:00:00:01:09' },
      both: { ip: '10.1.0.20', mac: '52:54:00:00:01:05' },
      'hand-30': { ip: '10.1.0.30', mac: '52:54:00:00:01:1e' },
      unknownIp: { ip: '(known after apply)', mac: '52:54:00:00:01:c8' },
    };
    const refused = Object.fromEntries(
      Object.entries(want).map(([name, r]) => {
        const sys = lab(name);
        return [
          name,
          p.foreseeCreate(sys, p.desired(sys, r, s)!).map((c) => `${c.path} ${String(c.to)}: ${c.refused}`),
        ];
      }),
    );
    await p.close();
    const by = (h: number, what: string, tail: string) =>
      `${what} is already reserved on dhcp-isc by host hand-${h} in ${conf}:${h + 1}${tail}`;
    expect(refused).toEqual({
      free: [],
      ipHeld: [
        `dhcp.ip 10.1.0.7: ${by(7, 'address 10.1.0.7', ' (MAC 52:54:00:00:01:07), not a system of this repo; remove or change that reservation, or give ipHeld another address')}`,
      ],
      macHeld: [
        `dhcp.mac 52:54:00:00:01:09: ${by(9, 'MAC 52:54:00:00:01:09', ', not a system of this repo; remove or change that reservation, or give macHeld another MAC')}`,
      ],
      // In the config's order: hand-5 and hand-6 hold the MAC, hand-20 the address.
      both: [
        `dhcp.mac 52:54:00:00:01:05: ${by(5, 'MAC 52:54:00:00:01:05', ', not a system of this repo; remove or change that reservation, or give both another MAC')}`,
        `dhcp.mac 52:54:00:00:01:05: ${by(6, 'MAC 52:54:00:00:01:05', ', not a system of this repo; remove or change that reservation, or give both another MAC')}`,
        `dhcp.ip 10.1.0.20: ${by(20, 'address 10.1.0.20', ' (MAC 52:54:00:00:01:14), not a system of this repo; remove or change that reservation, or give both another address')}`,
      ],
      // Its own host: adoption, not a refusal.
      'hand-30': [],
      unknownIp: [
        `dhcp.mac 52:54:00:00:01:c8: ${by(200, 'MAC 52:54:00:00:01:c8', ', not a system of this repo; remove or change that reservation, or give unknownIp another MAC')}`,
      ],
    });
  });
});

describe('Kea', () => {
  const running = async () => (await kea.command('config-get')).arguments.Dhcp4.subnet4[0].reservations as any[];

  test('reservations are applied through the control socket, marked as ours, and written to the config file', async () => {
    const r = await runStage(provider(), [lab('vm1'), lab('vm2')], resolved, context(labSite([keaServer()])));
    expect(r.failed).toEqual([]);
    const res = await running();
    expect(res.find((x) => x.hostname === 'printer')).toMatchObject({
      'hw-address': '52:54:00:00:00:99',
      'ip-address': '192.0.2.99',
    });
    expect(res.find((x) => x.hostname === 'vm1')).toMatchObject({
      'hw-address': '00:50:56:00:00:11',
      'ip-address': '192.0.2.11',
      'next-server': '192.0.2.5',
      'boot-file-name': 'pxelinux.0',
      'user-context': { shipshape: { system: 'vm1' } },
    });
    const saved = JSON.parse(readFileSync(kea.configPath, 'utf8'));
    expect(saved.Dhcp4.subnet4[0].reservations.map((x: any) => x.hostname).sort()).toEqual(['printer', 'vm1', 'vm2']);
    expect(
      JSON.parse(readFileSync(`${kea.configPath}.shipshape-prev`, 'utf8')).Dhcp4.subnet4[0].reservations,
    ).toHaveLength(1);
    const again = await runStage(provider(), [lab('vm1'), lab('vm2')], resolved, context(labSite([keaServer()])));
    expect(again.unchanged.sort()).toEqual(['vm1', 'vm2']);
  });

  test('a config Kea refuses leaves the old one running', async () => {
    const before = await running();
    const bad = (s: { name: string }) =>
      s.name === 'vm5' ? { ...resolved(s), boot: { nextServer: 'not-an-address' } } : resolved(s);
    const r = await runStage(
      provider(),
      [lab('vm1'), lab('vm2'), lab('vm5'), lab('dupmac')],
      bad,
      context(labSite([keaServer()])),
    );
    expect(r.failed.find((f) => f.system === 'dupmac')!.error.message).toMatch(
      /already reserved on dhcp-kea by reservation printer/,
    );
    expect(r.failed.find((f) => f.system === 'vm5')!.error.message).toMatch(
      /kea-dhcp4 -t of the new config \(nothing applied\) exited 1/,
    );
    expect(await running()).toEqual(before);
  });

  test('a tombstone removes the reservation; the operator reservation stays', async () => {
    const r = await runStage(provider(), [lab('vm1', 'absent'), lab('vm2')], resolved, context(labSite([keaServer()])));
    expect(r.deleted).toEqual(['vm1']);
    expect((await running()).map((x) => x.hostname).sort()).toEqual(['printer', 'vm2']);
  });
});

test('two servers are deployed at once: two restarts take one restart’s time', async () => {
  const log = join(sshd.dir, 'overlap.log');
  writeFileSync(log, '');
  const server = (n: string) => {
    const configPath = join(sshd.dir, `dhcpd-${n}.conf`);
    const includePath = join(sshd.dir, `shipshape-hosts-${n}.conf`);
    writeFileSync(configPath, readFileSync(dhcpdConf, 'utf8').replace(include, includePath));
    const restartCommand = `echo start ${n} >> ${log}; sleep 1; echo end ${n} >> ${log}`;
    return isc({ name: `dhcp-${n}`, configPath, includePath, restartCommand });
  };
  const r = await runStage(provider(), [lab('vm6')], resolved, context(labSite([server('a'), server('b')])));
  expect(r.failed).toEqual([]);
  expect(r.created).toEqual(['vm6']);
  // Both restarts started before either ended (one after the other: start, end, start, end).
  const seen = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  expect(seen.map((l) => l.split(' ')[0])).toEqual(['start', 'start', 'end', 'end']);
  for (const n of ['a', 'b'])
    expect(readFileSync(join(sshd.dir, `shipshape-hosts-${n}.conf`), 'utf8')).toContain('host shipshape-vm6 {');
});
