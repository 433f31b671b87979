/**
 * bind-ssh against a real named and a real sshd on loopback: the sshd stands in for the DNS server
 * (its "remote" paths are the named's zone dir on this machine), so checks and reloads run over SSH.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { SiteConfig } from '../../src/manifest/site';
import { DnsProvider } from '../../src/providers/dns/provider';
import type { BindSshZone } from '../../src/providers/dns/bind-ssh';
import { BindSshBackend } from '../../src/providers/dns/bind-ssh/zone';
import { SshHostKeyError, SshPool } from '../../src/transport/ssh';
import { removeDir } from '../helpers/daemon';
import { startNamed, type TestNamed } from '../helpers/named';
import { readFileSecret, startSshd, type TestSshd } from '../helpers/sshd';
import { context, runStage, site, system } from '../helpers/systems';

let named: TestNamed;
let sshd: TestSshd;
let pool: SshPool;
let reloadLog: string;
const frag = (z: string) => join(sshd.dir, `${z}.shipshape`);
const ZONES = ['lab.example.test', '2.0.192.in-addr.arpa', 'bulk.example.test', '10.10.in-addr.arpa'];

beforeAll(async () => {
  sshd = await startSshd();
  const includes = (z: string) => join(sshd.dir, `${z}.shipshape`);
  named = await startNamed([
    {
      name: 'lab.example.test',
      records: 'www IN A 192.0.2.80\nmail IN A 192.0.2.25\nshop IN TXT "operator"\n',
      include: includes('lab.example.test'),
    },
    {
      name: '2.0.192.in-addr.arpa',
      records: '80 IN PTR www.lab.example.test.\n',
      include: includes('2.0.192.in-addr.arpa'),
    },
    { name: 'bulk.example.test', include: includes('bulk.example.test') },
    { name: '10.10.in-addr.arpa', include: includes('10.10.in-addr.arpa') },
  ]);
  pool = new SshPool({ readSecret: readFileSecret, root: sshd.dir });
  reloadLog = join(sshd.dir, 'reloads.log');
  writeFileSync(reloadLog, '');
});
afterAll(async () => {
  await pool?.closeAll();
  await named?.stop();
  await sshd?.stop();
  for (const d of [named?.dir, sshd?.dir]) if (d) removeDir(d);
});

function zone(name: string, over: Partial<BindSshZone> = {}): BindSshZone {
  return {
    name,
    backend: 'bind-ssh',
    server: { host: '127.0.0.1', port: named.port },
    ssh: sshd.endpoint(),
    fragmentPath: join(sshd.dir, `${name}.shipshape`),
    zoneFile: named.zoneFile(name),
    reloadCommand: `echo {zone} >> ${reloadLog}; ${named.rndc} reload {zone}`,
    ...over,
  };
}
function labSite(over: Partial<BindSshZone> = {}): SiteConfig {
  return site({
    root: sshd.dir,
    nets: {
      'lab-net': {
        title: 'lab-net',
        cidr: '192.0.2.0/24',
        dnsServers: [],
        domain: 'lab.example.test',
        reverseZone: '2.0.192.in-addr.arpa',
      },
      'bulk-net': {
        title: 'bulk-net',
        cidr: '10.10.0.0/16',
        dnsServers: [],
        domain: 'bulk.example.test',
        reverseZone: '10.10.in-addr.arpa',
      },
    },
    dns: { zones: ZONES.map((z) => zone(z, over)) },
  });
}
const ips: Record<string, string> = { vm1: '192.0.2.11', vm2: '192.0.2.12', vm3: '192.0.2.13', bad: '192.0.2.300' };
const resolved = (s: { name: string }) => ({ ip: ips[s.name] ?? '192.0.2.99', mac: '00:50:56:00:00:01' });
const lab = (name: string, aliases: string[] = [], state: 'present' | 'absent' = 'present') =>
  system(name, { net: 'lab-net', domain: 'lab.example.test', aliases, state });
const provider = () => new DnsProvider({ readSecret: readFileSecret, pool, reloadTimeoutMs: 3000 });
const reloads = () => readFileSync(reloadLog, 'utf8').split('\n').filter(Boolean);
const resolveOr = <T>(p: Promise<T>) => p.catch((e: NodeJS.ErrnoException) => e.code);

test('apply creates A, PTR and CNAME; the operator records survive; a second run changes nothing', async () => {
  const before = await named.serial('lab.example.test');
  const r = await runStage(provider(), [lab('vm1', ['app']), lab('vm2')], resolved, context(labSite()));
  expect(r.failed).toEqual([]);
  expect(r.created.sort()).toEqual(['vm1', 'vm2']);
  const q = named.resolver();
  expect(await q.resolve4('vm1.lab.example.test')).toEqual(['192.0.2.11']);
  expect(await q.reverse('192.0.2.12')).toEqual(['vm2.lab.example.test']);
  expect(await q.resolveCname('app.lab.example.test')).toEqual(['vm1.lab.example.test']);
  expect(await q.resolve4('www.lab.example.test')).toEqual(['192.0.2.80']);
  expect(await q.reverse('192.0.2.80')).toEqual(['www.lab.example.test']);
  expect(await named.serial('lab.example.test')).toBeGreaterThan(before);
  expect(readFileSync(frag('lab.example.test'), 'utf8')).toMatch(
    /^; shipshape-managed fragment for zone lab.example.test/,
  );
  expect(readFileSync(named.zoneFile('lab.example.test'), 'utf8')).toContain(
    'www IN A 192.0.2.80\nmail IN A 192.0.2.25\n',
  );
  expect(reloads().sort()).toEqual(['2.0.192.in-addr.arpa', 'lab.example.test']);

  const again = await runStage(provider(), [lab('vm1', ['app']), lab('vm2')], resolved, context(labSite()));
  expect(again.unchanged.sort()).toEqual(['vm1', 'vm2']);
  expect(reloads()).toHaveLength(2);
});

test("records no manifest names are reported as not ours, except the zone's own name server", async () => {
  const observed = await provider().observe(context(labSite()));
  const theirs = observed.resources.filter((r) => !r.owned).map((r) => r.id);
  expect(theirs).toEqual(expect.arrayContaining(['www.lab.example.test', 'mail.lab.example.test']));
  expect(theirs).not.toContain('ns1.lab.example.test');
});

test('a hand edit of a managed record shows up as drift and is put back', async () => {
  writeFileSync(
    frag('lab.example.test'),
    readFileSync(frag('lab.example.test'), 'utf8').replace('192.0.2.11', '192.0.2.111'),
  );
  execFileSync('/bin/sh', ['-c', `${named.rndc} reload lab.example.test`]);
  const q = named.resolver();
  for (let i = 0; i < 100 && (await q.resolve4('vm1.lab.example.test'))[0] !== '192.0.2.111'; i++)
    await new Promise((r) => setTimeout(r, 30));
  const p = provider();
  const obs = await p.observe(context(labSite()));
  const vm1 = obs.resources.find((o) => o.system === 'vm1' && o.owned)!;
  expect(p.diff(lab('vm1', ['app']), p.desired(lab('vm1', ['app']), resolved(lab('vm1')), labSite())!, vm1)).toEqual([
    { path: 'dns.a', from: '192.0.2.111', to: '192.0.2.11', source: 'systems/vm1.yaml:9:9' },
  ]);
  const r = await runStage(provider(), [lab('vm1', ['app']), lab('vm2')], resolved, context(labSite()));
  expect(r.updated).toEqual(['vm1']);
  expect(await named.resolver().resolve4('vm1.lab.example.test')).toEqual(['192.0.2.11']);
});

test('a hand edit of the fragment that named has not loaded: what named serves, what the file holds, and apply writes it again', async () => {
  const file = readFileSync(frag('lab.example.test'), 'utf8');
  writeFileSync(frag('lab.example.test'), file.replace('192.0.2.11', '192.0.2.111')); // no reload
  const p = provider();
  const obs = await p.observe(context(labSite()));
  const vm1 = obs.resources.find((o) => o.system === 'vm1' && o.owned)!;
  // The address is the one named serves; the served record is not mistaken for a hand-written one.
  expect(vm1.fields.a).toBe('192.0.2.11');
  expect(vm1.fields.handwritten).toBeUndefined();
  expect(obs.resources.filter((o) => o.id === 'vm1.lab.example.test' && !o.owned)).toEqual([]);
  expect(p.diff(lab('vm1', ['app']), p.desired(lab('vm1', ['app']), resolved(lab('vm1')), labSite())!, vm1)).toEqual([
    {
      path: 'dns.serverFile',
      from: `${frag('lab.example.test')} on ${sshd.endpoint().user}@127.0.0.1:${sshd.port} holds vm1.lab.example.test A 192.0.2.111, named serves vm1.lab.example.test A 192.0.2.11 (the file was changed after the zone was last loaded)`,
      to: 'the records of the manifest: apply writes the file again and reloads the zone',
    },
  ]);
  const r = await runStage(provider(), [lab('vm1', ['app']), lab('vm2')], resolved, context(labSite()));
  expect(r.updated).toEqual(['vm1']);
  expect(readFileSync(frag('lab.example.test'), 'utf8')).not.toContain('192.0.2.111');
  const again = await provider().observe(context(labSite()));
  expect(again.resources.find((o) => o.system === 'vm1' && o.owned)!.fields.serverFile).toBeUndefined();
});

test('a name someone else holds is reported and never overwritten', async () => {
  const r = await runStage(provider(), [lab('vm3', ['shop'])], resolved, context(labSite()));
  expect(r.refused.map((x) => x.system)).toEqual(['vm3']);
  expect(r.refused[0]!.error.message).toMatch(
    /shop.lab.example.test already has TXT "operator", not managed by shipshape/,
  );
  expect(await resolveOr(named.resolver().resolve4('vm3.lab.example.test'))).toBe('ENOTFOUND');
  const www = await runStage(provider(), [lab('www')], resolved, context(labSite()));
  expect(www.notOurs).toContain('www.lab.example.test');
  expect(www.refused[0]!.error.message).toMatch(/www.lab.example.test already has A 192.0.2.80/);
});

test('a broken zone is refused before it is deployed: the server keeps serving the old data', async () => {
  const zoneBefore = readFileSync(named.zoneFile('lab.example.test'), 'utf8');
  const serial = await named.serial('lab.example.test');
  const n = reloads().length;
  const r = await runStage(provider(), [lab('vm1', ['app']), lab('vm2'), lab('bad')], resolved, context(labSite()));
  expect(r.failed.map((f) => f.system)).toEqual(['bad']);
  expect(r.failed[0]!.error.message).toMatch(/refused by named-checkzone before deploy[\s\S]*bad dotted quad/);
  expect(readFileSync(named.zoneFile('lab.example.test'), 'utf8')).toBe(zoneBefore);
  expect(await named.serial('lab.example.test')).toBe(serial);
  expect(reloads()).toHaveLength(n);
});

test('a failed reload puts the previous files back and reloads again', async () => {
  const fragBefore = readFileSync(frag('lab.example.test'), 'utf8');
  const zoneBefore = readFileSync(named.zoneFile('lab.example.test'), 'utf8');
  const wrongKey = join(sshd.dir, 'wrong-rndc.key');
  writeFileSync(
    wrongKey,
    readFileSync(named.rndcKeyFile, 'utf8').replace(
      /secret "[^"]+"/,
      `secret "${Buffer.alloc(32, 7).toString('base64')}"`,
    ),
  );
  // The forward zone's reload of the new files fails (rndc is refused); the rollback's reload, with the right key,
  // works. Zones deploy at the same time, so the failure is tied to one zone, not to whichever reloads first.
  const flaky = `if [ -e ${sshd.dir}/failed-once ] || [ {zone} != lab.example.test ]; then ${named.rndc} reload {zone}; else touch ${sshd.dir}/failed-once; /usr/sbin/rndc -s 127.0.0.1 -p ${named.rndcPort} -k ${wrongKey} reload {zone}; fi`;
  const r = await runStage(
    provider(),
    [lab('vm1', ['app']), lab('vm2'), lab('vm3')],
    resolved,
    context(labSite({ reloadCommand: flaky })),
  );
  expect(r.failed.map((f) => f.system)).toEqual(['vm3']);
  expect(r.failed[0]!.error.message).toMatch(/the reload failed[\s\S]*previous zone file and fragment were put back/);
  expect(readFileSync(frag('lab.example.test'), 'utf8')).toBe(fragBefore);
  expect(readFileSync(named.zoneFile('lab.example.test'), 'utf8')).toBe(zoneBefore);
  expect(await resolveOr(named.resolver().resolve4('vm3.lab.example.test'))).toBe('ENOTFOUND');
  // its PTR, which landed in the reverse zone, was reverted too: nothing half-applied
  expect(await resolveOr(named.resolver().reverse('192.0.2.13'))).toBe('ENOTFOUND');
});

test('a tombstone removes the records; the operator records stay', async () => {
  const r = await runStage(provider(), [lab('vm1', ['app'], 'absent'), lab('vm2')], resolved, context(labSite()));
  expect(r.deleted).toEqual(['vm1']);
  const q = named.resolver();
  expect(await resolveOr(q.resolve4('vm1.lab.example.test'))).toBe('ENOTFOUND');
  expect(await resolveOr(q.resolveCname('app.lab.example.test'))).toBe('ENOTFOUND');
  expect(await resolveOr(q.reverse('192.0.2.11'))).toBe('ENOTFOUND');
  expect(await q.resolve4('vm2.lab.example.test')).toEqual(['192.0.2.12']);
  expect(await q.resolve4('mail.lab.example.test')).toEqual(['192.0.2.25']);
  expect(await q.resolveTxt('shop.lab.example.test')).toEqual([['operator']]);
});

test('a server whose host key does not match is refused before anything is read', async () => {
  const wrong = 'SHA256:' + Buffer.alloc(32, 1).toString('base64').replace(/=+$/, '');
  const p = new DnsProvider({ readSecret: readFileSecret });
  const err = await p.observe(context(labSite({ ssh: sshd.endpoint({ hostKeyFingerprint: wrong }) }))).catch((e) => e);
  await p.close();
  expect(err).toBeInstanceOf(SshHostKeyError);
  expect(err.message).toContain(sshd.hostFingerprint);
});

test('a reconcile of 1,000 systems reloads each zone once', async () => {
  const bulkSite = labSite();
  bulkSite.dns.zones = bulkSite.dns.zones.filter((z) => z.name.includes('bulk') || z.name.startsWith('10.10'));
  const systems = Array.from({ length: 1000 }, (_, i) =>
    system(`host${i}`, { net: 'bulk-net', domain: 'bulk.example.test', aliases: i % 10 === 0 ? [`alias${i}`] : [] }),
  );
  const ipOf = (s: { name: string }) => ({
    ip: `10.10.${Math.floor(Number(s.name.slice(4)) / 250)}.${(Number(s.name.slice(4)) % 250) + 1}`,
    mac: '00:50:56:00:00:01',
  });
  const serials = [await named.serial('bulk.example.test'), await named.serial('10.10.in-addr.arpa')];
  const n = reloads().length;
  const p = provider();
  const r = await runStage(p, systems, ipOf, context(bulkSite));
  expect(r.failed).toEqual([]);
  expect(r.created).toHaveLength(1000);
  expect(reloads().slice(n).sort()).toEqual(['10.10.in-addr.arpa', 'bulk.example.test']);
  expect((p.backend('bulk.example.test') as BindSshBackend).reloads).toBe(1);
  expect(await named.serial('bulk.example.test')).toBeGreaterThan(serials[0]!);
  const q = named.resolver();
  expect(await q.resolve4('host999.bulk.example.test')).toEqual(['10.10.3.250']);
  expect(await q.reverse('10.10.0.1')).toEqual(['host0.bulk.example.test']);
  expect(await q.resolveCname('alias990.bulk.example.test')).toEqual(['host990.bulk.example.test']);
  const obs = await provider().observe(context(bulkSite));
  expect(obs.resources.filter((o) => o.owned)).toHaveLength(1000);
  expect(obs.roundTrips).toBe(4);
}, 180_000); // 1,000 systems through real SSH/named; bounded

test('a change in a forward and a reverse zone deploys both zones at once: two reloads take one reload’s time', async () => {
  const log = join(sshd.dir, 'overlap.log');
  writeFileSync(log, '');
  const slow = `echo start {zone} >> ${log}; sleep 1; echo end {zone} >> ${log}; ${named.rndc} reload {zone}`;
  const r = await runStage(provider(), [lab('vm5')], resolved, context(labSite({ reloadCommand: slow })));
  expect(r.failed).toEqual([]);
  expect(r.created).toEqual(['vm5']);
  // Both zones' reloads started before either ended (one after the other: start, end, start, end).
  const seen = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  expect(seen.map((l) => l.split(' ')[0])).toEqual(['start', 'start', 'end', 'end']);
  expect(await named.resolver().reverse('192.0.2.99')).toEqual(['vm5.lab.example.test']);
});
