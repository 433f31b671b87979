/**
 * bind-ssh against zone files as operators write them after years by hand (a real named loads them,
 * named-checkzone checks them): $ORIGIN changes, TTL units, an SOA over several lines, upper-case
 * names, blank owners, a `;` inside a TXT string, SRV/MX/TXT/wildcard names, the same short name in
 * another domain. What shipshape plans and does must not depend on how the operator spelt the file.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import { DnsProvider } from '../../src/providers/dns/provider';
import type { BindSshZone } from '../../src/providers/dns/bind-ssh';
import { plan } from '../../src/plan/planner';
import { SshPool } from '../../src/transport/ssh';
import { removeDir } from '../helpers/daemon';
import { startNamed, type TestNamed } from '../helpers/named';
import { readFileSecret, startSshd, type TestSshd } from '../helpers/sshd';
import { context, runStage, site, system } from '../helpers/systems';

let named: TestNamed;
let sshd: TestSshd;
let pool: SshPool;
const ZONE = 'corp.example.test';
const REV = '2.0.192.in-addr.arpa';
/** The DMZ's /26, delegated classless (RFC 2317 §4): the /24 zone CNAMEs each of its addresses into it. */
const CLASSLESS = '128/26.2.0.192.in-addr.arpa';
/** Signed by named itself (dnssec-policy, inline-signing): it serves a copy of the file with its own serial. */
const SIGNED = 'signed.example.test';
/** A zone named.conf makes dynamic (update-policy): named owns its file. */
const DYNAMIC = 'ddns.example.test';
const frag = (z: string) => join(sshd.dir, `${z.replace(/\//g, '-')}.shipshape`);

/** An operator's zone file: every line here is something found in real zone files. */
const operatorZone = (include: string) => `; corp zone, maintained by hand since 2014
$TTL 1h
$ORIGIN ${ZONE}.
@\t\tIN\tSOA\tNS1.${ZONE.toUpperCase()}. hostmaster.${ZONE}. (
\t\t\t2024031501 ; serial (YYYYMMDDnn)
\t\t\t1h         ; refresh
\t\t\t15m        ; retry
\t\t\t1w2d       ; expire
\t\t\t1h30m )    ; negative caching
\t\tIN\tNS\tns1
\t\tIN\tMX\t10 mail
ns1\t\tIN\tA\t127.0.0.1
MAIL\t1d\tIN\tA\t192.0.2.25
www\t\t\tA\t192.0.2.80
\t\t\tTXT\t"v=spf1 mx; -all"
; the application server's own records the team put there before shipshape
APP01\t\tIN\tTXT\t"owner=ops; ticket #4711"
\t\tIN\tMX\t20 mail.${ZONE}.
\t300\tIN\tSSHFP\t1 1 0123456789abcdef0123456789abcdef01234567
_ldap._tcp\tIN\tSRV\t0 100 389 dc1
dc1\t\tIN\tA\t192.0.2.5
*\t\tIN\tA\t192.0.2.80
$ORIGIN mgmt.${ZONE}.
; the BMCs: the same short names as the hosts, one level down
app02\t\tIN\tA\t192.0.2.202
$ORIGIN ${ZONE}.
$INCLUDE "${include}"
`;

beforeAll(async () => {
  sshd = await startSshd();
  named = await startNamed([
    { name: ZONE, include: frag(ZONE) },
    {
      name: REV,
      records: `80 IN PTR www.corp.example.test.\n$GENERATE 128-191 $ CNAME $.${CLASSLESS}.\n`,
      include: frag(REV),
    },
    { name: CLASSLESS, include: frag(CLASSLESS) },
    { name: SIGNED, include: frag(SIGNED), inlineSigned: true },
    { name: DYNAMIC, dynamic: true },
  ]);
  // An operator points bind-ssh at a zone named.conf makes dynamic (update-policy).
  appendFileSync(named.zoneFile(DYNAMIC), `$INCLUDE "${frag(DYNAMIC)}"\n`);
  writeFileSync(frag(DYNAMIC), '');
  execFileSync('/bin/sh', ['-c', `${named.rndc} freeze ${DYNAMIC} && ${named.rndc} thaw ${DYNAMIC}`]);
  writeFileSync(named.zoneFile(ZONE), operatorZone(frag(ZONE)));
  execFileSync('/bin/sh', ['-c', `/usr/bin/named-checkzone -k fail ${ZONE} ${named.zoneFile(ZONE)}`]);
  execFileSync('/bin/sh', ['-c', `${named.rndc} reload ${ZONE}`]);
  for (let i = 0; i < 100 && (await named.serial(ZONE)) !== 2024031501; i++)
    await new Promise((r) => setTimeout(r, 30));
  pool = new SshPool({ readSecret: readFileSecret, root: sshd.dir });
});
afterAll(async () => {
  await pool?.closeAll();
  await named?.stop();
  await sshd?.stop();
  for (const d of [named?.dir, sshd?.dir]) if (d) removeDir(d);
});

function zone(name: string): BindSshZone {
  return {
    name,
    backend: 'bind-ssh',
    server: { host: '127.0.0.1', port: named.port },
    ssh: sshd.endpoint(),
    fragmentPath: frag(name),
    zoneFile: named.zoneFile(name),
    reloadCommand: `${named.rndc} reload {zone}`,
  };
}
const corpSite = (): SiteConfig =>
  site({
    root: sshd.dir,
    nets: {
      'corp-net': { title: 'corp-net', cidr: '192.0.2.0/24', dnsServers: [], domain: ZONE, reverseZone: REV },
      dmz: { title: 'dmz', cidr: '192.0.2.128/26', dnsServers: [], domain: ZONE, reverseZone: CLASSLESS },
      vault: { title: 'vault', cidr: '198.51.100.0/24', dnsServers: [], domain: SIGNED },
      ddns: { title: 'ddns', cidr: '203.0.113.0/24', dnsServers: [], domain: DYNAMIC },
    },
    dns: { zones: [zone(ZONE), zone(REV), zone(CLASSLESS), zone(SIGNED), zone(DYNAMIC)] },
  });
const IPS: Record<string, string> = {
  app01: '192.0.2.11',
  app02: '192.0.2.12',
  proxy01: '192.0.2.130',
  vault01: '198.51.100.10',
  dyn01: '203.0.113.10',
};
const corp = (name: string, net = 'corp-net', domain = ZONE): DesiredSystem => ({
  ...system(name, { net, domain }),
  network: { net, ip: IPS[name]!, mac: '00:50:56:00:00:01' },
});
const provider = (systems: DesiredSystem[]) =>
  new DnsProvider({ readSecret: readFileSecret, pool, reloadTimeoutMs: 5000, systems });

async function planOf(systems: DesiredSystem[]) {
  const p = provider(systems);
  const obs = await p.observe(context(corpSite()));
  return plan({
    systems,
    site: corpSite(),
    providers: [p],
    observations: new Map([['dns', obs]]),
    maxDeletes: 3,
    now: new Date(),
  });
}

test("a system's name with the operator's TXT, MX and SSHFP (no A) is created beside them; they stay", async () => {
  const systems = [corp('app01')];
  const before = await planOf(systems);
  expect(before.actions.find((a) => a.system === 'app01')).toMatchObject({ action: 'create' });
  expect(before.actions.find((a) => a.system === 'app01')!.blocked).toBeUndefined();
  const r = await runStage(provider(systems), systems, (s) => ({ ip: IPS[s.name]!, mac: '' }), context(corpSite()));
  expect(r.failed).toEqual([]);
  const q = named.resolver();
  expect(await q.resolve4('app01.corp.example.test')).toEqual(['192.0.2.11']);
  expect(await q.resolveTxt('app01.corp.example.test')).toEqual([['owner=ops; ticket #4711']]);
  expect(await q.resolveMx('app01.corp.example.test')).toEqual([{ exchange: 'mail.corp.example.test', priority: 20 }]);
  // The operator's file is as it was, but for its serial.
  expect(readFileSync(named.zoneFile(ZONE), 'utf8').replace(/\d{10} ; serial/, 'S ; serial')).toBe(
    operatorZone(frag(ZONE)).replace(/\d{10} ; serial/, 'S ; serial'),
  );
  const after = await planOf(systems);
  expect(after.actions.filter((a) => a.action !== 'noop')).toEqual([]);
});

test('a host of the same short name in another domain (app02.mgmt) neither blocks app02 nor makes it ambiguous', async () => {
  const systems = [corp('app01'), corp('app02')];
  const first = await planOf(systems);
  const app02 = first.actions.find((a) => a.system === 'app02')!;
  expect(app02).toMatchObject({ action: 'create' });
  expect(app02.blocked).toBeUndefined();
  const r = await runStage(provider(systems), systems, (s) => ({ ip: IPS[s.name]!, mac: '' }), context(corpSite()));
  expect(r.failed).toEqual([]);
  expect(await named.resolver().resolve4('app02.mgmt.corp.example.test')).toEqual(['192.0.2.202']);
  const again = await planOf(systems);
  expect(again.actions.filter((a) => a.action !== 'noop')).toEqual([]);
  // Still reported, as the host it is, not as app02's.
  expect(again.warnings).toContainEqual(
    expect.objectContaining({ code: 'unmanaged', resourceId: 'app02.mgmt.corp.example.test' }),
  );
});

test('SRV, wildcard and other names that are no host are not reported as unmanaged systems', async () => {
  const p = await planOf([corp('app01')]);
  const unmanaged = p.warnings.filter((w) => w.code === 'unmanaged').map((w) => w.resourceId);
  expect(unmanaged).toEqual(expect.arrayContaining(['www.corp.example.test', 'mail.corp.example.test']));
  expect(unmanaged).not.toContain('_ldap._tcp.corp.example.test');
  expect(unmanaged).not.toContain('*.corp.example.test');
});

test('in a classless reverse zone (RFC 2317) the PTR goes under the /26, where the /24 points; named answers it', async () => {
  const systems = [corp('app01'), corp('app02'), corp('proxy01', 'dmz')];
  const p = await planOf(systems);
  const proxy = p.actions.find((a) => a.system === 'proxy01')!;
  expect(proxy).toMatchObject({ action: 'create' });
  expect(proxy.changes).toContainEqual(expect.objectContaining({ path: 'ptr', to: `130.${CLASSLESS}` }));
  // The operator's 64 CNAMEs ($GENERATE) are reverse names, not hosts: no "unmanaged" noise for them.
  expect(p.warnings.filter((w) => w.resourceId.includes('in-addr.arpa'))).toEqual([]);
  const r = await runStage(provider(systems), systems, (s) => ({ ip: IPS[s.name]!, mac: '' }), context(corpSite()));
  expect(r.failed).toEqual([]);
  const dig = (...q: string[]) =>
    execFileSync('dig', ['+short', '-p', String(named.port), '@127.0.0.1', ...q], { encoding: 'utf8' }).trim();
  // A resolver asks the /24 for 130.2.0.192.in-addr.arpa, follows the operator's CNAME, and finds our PTR.
  expect(dig('-x', '192.0.2.130')).toBe(`130.${CLASSLESS}.`);
  expect(dig('PTR', `130.${CLASSLESS}`)).toBe('proxy01.corp.example.test.');
});

test('an inline-signed zone: the record is written to the file, named signs and serves it; the next plan is a no-op', async () => {
  const dig = (...q: string[]) =>
    execFileSync('dig', ['+short', '-p', String(named.port), '@127.0.0.1', ...q], { encoding: 'utf8' }).trim();
  for (let i = 0; i < 200 && !dig(SIGNED, 'DNSKEY'); i++) await new Promise((r) => setTimeout(r, 50));
  const fileSerial = 2024010101;
  expect(await named.serial(SIGNED)).toBeGreaterThan(fileSerial); // the signer's own serial, not the file's
  const systems = [corp('vault01', 'vault', SIGNED)];
  const first = await planOf(systems);
  expect(first.actions).toEqual([expect.objectContaining({ system: 'vault01', action: 'create' })]);
  expect(first.actions[0]!.blocked).toBeUndefined();
  // RRSIG, NSEC, DNSKEY and the signer's private records are no one's hosts.
  expect(first.warnings.filter((w) => w.resourceId.endsWith(SIGNED))).toEqual([]);
  const r = await runStage(provider(systems), systems, (s) => ({ ip: IPS[s.name]!, mac: '' }), context(corpSite()));
  expect(r.failed).toEqual([]);
  expect(dig(`vault01.${SIGNED}`, 'A')).toBe('198.51.100.10');
  expect(dig('+dnssec', `vault01.${SIGNED}`, 'A')).toMatch(/^A 13 4 300 /m); // signed by named
  expect(readFileSync(named.zoneFile(SIGNED), 'utf8')).not.toContain('RRSIG');
  const again = await planOf(systems);
  expect(again.actions.filter((a) => a.action !== 'noop')).toEqual([]);
});

test('a dynamic zone (update-policy) is refused saying so, and its file is left as it was', async () => {
  const before = readFileSync(named.zoneFile(DYNAMIC), 'utf8');
  const systems = [corp('dyn01', 'ddns', DYNAMIC)];
  const r = await runStage(provider(systems), systems, (s) => ({ ip: IPS[s.name]!, mac: '' }), context(corpSite()));
  expect(r.failed.map((f) => f.system)).toEqual(['dyn01']);
  expect(r.failed[0]!.error.message).toMatch(
    /the zone is dynamic \(allow-update or update-policy in named.conf\).*the previous files were put back, nothing changed\. Use backend rfc2136/,
  );
  expect(readFileSync(named.zoneFile(DYNAMIC), 'utf8')).toBe(before);
  expect(readFileSync(frag(DYNAMIC), 'utf8')).toBe('');
});
