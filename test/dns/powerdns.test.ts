/**
 * PowerDNS as a plug-in: a site names `backend: powerdns` for its zones, the loader validates the keys with
 * the backend's own schema, and the DNS provider runs it through the registry like bind-ssh and rfc2136
 * (the same behaviours as test/dns/rfc2136.test.ts), against a real pdns_server.
 */
import { writeFileSync } from 'node:fs';
import type { SiteConfig } from '../../src/manifest/site';
import { DnsProvider } from '../../src/providers/dns/provider';
import { powerdns, type PowerDnsZone } from '../../src/providers/dns/powerdns';
import { cleanupRepos, lines, load, SITE } from '../manifest/tmp-repo';
import { removeDir } from '../helpers/daemon';
import { startPdns, type TestPdns } from '../helpers/pdns';
import { readFileSecret } from '../helpers/sshd';
import { context, runStage, site, system } from '../helpers/systems';

let pdns: TestPdns;
const FWD = 'pdns.example.test';
const REV = '100.51.198.in-addr.arpa';

beforeAll(async () => {
  pdns = await startPdns();
  await pdns.createZone({ name: FWD, rrsets: [{ name: `printer.${FWD}`, type: 'A', content: ['198.51.100.50'] }] });
  await pdns.createZone({ name: REV });
});
afterAll(async () => {
  await pdns?.stop();
  if (pdns) removeDir(pdns.dir);
  await cleanupRepos();
});

const zone = (name: string, keyFile = pdns.keyFile): PowerDnsZone =>
  powerdns.config({ name, backend: 'powerdns', url: pdns.url, apiKey: `\${file:${keyFile}}` });
const pdnsSite = (keyFile?: string): SiteConfig =>
  site({
    nets: { 'dyn-net': { title: 'dyn-net', cidr: '198.51.100.0/24', dnsServers: [], domain: FWD, reverseZone: REV } },
    dns: { zones: [zone(FWD, keyFile), zone(REV, keyFile)] },
  });
const ips: Record<string, string> = {
  web1: '198.51.100.11',
  web2: '198.51.100.12',
  race: '198.51.100.13',
  other: '198.51.100.14',
  printer: '198.51.100.60',
};
const resolved = (s: { name: string }) => ({ ip: ips[s.name]!, mac: '00:50:56:00:00:01' });
const dyn = (name: string, aliases: string[] = [], state: 'present' | 'absent' = 'present') =>
  system(name, { net: 'dyn-net', domain: FWD, aliases, state });
const provider = () => new DnsProvider({ readSecret: readFileSecret });
const code = <T>(p: Promise<T>) => p.catch((e: NodeJS.ErrnoException) => e.code);
const operatorAdds = (zoneName: string, name: string, type: string, content: string) =>
  pdns.api('PATCH', `zones/${zoneName}.`, {
    rrsets: [{ name: `${name}.`, type, ttl: 300, changetype: 'REPLACE', records: [{ content, disabled: false }] }],
  });

test('shipshape.yaml: a powerdns zone validates with its own keys and defaults; a wrong key is reported at file:line:col', async () => {
  const zoneYaml = (extra: string) =>
    `${SITE}  dns:\n    zones:\n      - name: dev.example.com\n        backend: powerdns\n        url: https://pdns1.example.com:8081\n${extra}`;
  const good = await load({ 'shipshape.yaml': zoneYaml('        apiKey: ${env:SHIPSHAPE_PDNS_API_KEY}\n') });
  expect(lines(good).filter((l) => !l.includes('warning:'))).toEqual([]);
  expect(good.site!.dns.zones[0]).toEqual({
    name: 'dev.example.com',
    backend: 'powerdns',
    url: 'https://pdns1.example.com:8081',
    apiKey: { ref: '${env:SHIPSHAPE_PDNS_API_KEY}' },
    serverId: 'localhost',
    notify: true,
    timeoutMs: 30000,
  });

  const bad = await load({
    'shipshape.yaml': zoneYaml('        apiKey: plain-text-key\n        zoneFile: /etc/bind/db.dev\n'),
  });
  const errs = lines(bad).join('\n');
  expect(errs).toMatch(/shipshape.yaml:\d+:\d+: .*apiKey.*secret reference/);
  expect(errs).toMatch(/shipshape.yaml:\d+:\d+: .*zoneFile/);
});

test("apply creates A, PTR and CNAME through the registry; a second run changes nothing; the operator's records survive", async () => {
  const r = await runStage(provider(), [dyn('web1', ['www']), dyn('web2')], resolved, context(pdnsSite()));
  expect(r.failed).toEqual([]);
  expect(r.created.sort()).toEqual(['web1', 'web2']);
  const q = pdns.resolver();
  expect(await q.resolve4(`web1.${FWD}`)).toEqual(['198.51.100.11']);
  expect(await q.reverse('198.51.100.12')).toEqual([`web2.${FWD}`]);
  expect(await q.resolveCname(`www.${FWD}`)).toEqual([`web1.${FWD}`]);
  expect(await q.resolve4(`printer.${FWD}`)).toEqual(['198.51.100.50']);
  const again = await runStage(provider(), [dyn('web1', ['www']), dyn('web2')], resolved, context(pdnsSite()));
  expect(again.unchanged.sort()).toEqual(['web1', 'web2']);
});

test('a hand change of a managed record shows up as drift and is put back', async () => {
  await operatorAdds(FWD, `web2.${FWD}`, 'A', '198.51.100.222');
  const r = await runStage(provider(), [dyn('web1', ['www']), dyn('web2')], resolved, context(pdnsSite()));
  expect(r.updated).toEqual(['web2']);
  expect(await pdns.resolver().resolve4(`web2.${FWD}`)).toEqual(['198.51.100.12']);
});

test('a name owned by someone else is reported and refused; one taken between observe and commit fails alone, its other zone reverted', async () => {
  const taken = await runStage(provider(), [dyn('printer')], resolved, context(pdnsSite()));
  expect(taken.notOurs).toContain(`printer.${FWD}`);
  expect(taken.refused[0]!.error.message).toMatch(
    /printer.pdns.example.test already has A 198.51.100.50, not managed by shipshape/,
  );

  const p = provider();
  const ctx = context(pdnsSite());
  await p.observe(ctx);
  await operatorAdds(FWD, `race.${FWD}`, 'A', '203.0.113.9'); // someone else, after our observe
  for (const s of [dyn('race'), dyn('other')])
    await p.create(s, p.desired(s, resolved(s), ctx.site)!, resolved(s), ctx);
  const { failed } = await p.commit();
  expect(failed.map((f) => f.system)).toEqual(['race']);
  expect(failed[0]!.error.message).toMatch(
    /race.pdns.example.test is held by A 203.0.113.9, not managed by shipshape; nothing was changed for it/,
  );
  const q = pdns.resolver();
  expect(await q.resolve4(`race.${FWD}`)).toEqual(['203.0.113.9']);
  expect(await q.resolve4(`other.${FWD}`)).toEqual(['198.51.100.14']);
  // race's PTR is not left behind in the reverse zone: nothing is half-applied
  expect(await code(q.reverse('198.51.100.13'))).toBe('ENOTFOUND');
});

test('a wrong API key is a clear error naming the key setting, and the key never shows', async () => {
  const wrong = `${pdns.dir}/wrong.key`;
  writeFileSync(wrong, 'not-the-key-0815\n');
  const e = await provider()
    .observe(context(pdnsSite(wrong)))
    .catch((x: Error) => x);
  expect((e as Error).message).toMatch(
    /refused the API key \(401 Unauthorized\): the zone's apiKey must match api-key in pdns.conf/,
  );
  expect((e as Error).message).not.toContain('not-the-key-0815');
});

test('a tombstone removes A, PTR and CNAME; the rest stays', async () => {
  const r = await runStage(provider(), [dyn('web1', ['www'], 'absent'), dyn('web2')], resolved, context(pdnsSite()));
  expect(r.deleted).toEqual(['web1']);
  const q = pdns.resolver();
  expect(await code(q.resolve4(`web1.${FWD}`))).toBe('ENOTFOUND');
  expect(await code(q.resolveCname(`www.${FWD}`))).toBe('ENOTFOUND');
  expect(await code(q.reverse('198.51.100.11'))).toBe('ENOTFOUND');
  expect(await q.resolve4(`web2.${FWD}`)).toEqual(['198.51.100.12']);
  expect(await q.resolve4(`printer.${FWD}`)).toEqual(['198.51.100.50']);
});
