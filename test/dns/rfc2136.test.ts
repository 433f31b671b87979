/** RFC 2136 + TSIG against a real named with dynamic zones; answers checked with real DNS queries. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../../src/manifest/site';
import { DnsProvider } from '../../src/providers/dns/provider';
import type { Rfc2136Zone } from '../../src/providers/dns/rfc2136';
import { Rfc2136Backend } from '../../src/providers/dns/rfc2136/zone';
import { AxfrError } from '../../src/providers/dns/zone-text';
import { removeDir } from '../helpers/daemon';
import { startNamed, type TestNamed } from '../helpers/named';
import { readFileSecret } from '../helpers/sshd';
import { context, runStage, site, system } from '../helpers/systems';

let named: TestNamed;
let secretFile: string;
const FWD = 'dyn.example.test';
const REV = '100.51.198.in-addr.arpa';

beforeAll(async () => {
  named = await startNamed([
    { name: FWD, records: 'printer IN A 198.51.100.50\n', dynamic: true },
    { name: REV, dynamic: true },
  ]);
  secretFile = join(named.dir, 'tsig.secret');
  writeFileSync(secretFile, named.ddnsSecret + '\n', { mode: 0o600 });
});
afterAll(async () => {
  await named?.stop();
  if (named) removeDir(named.dir);
});

function zone(name: string, tsig: Partial<Rfc2136Zone['tsig']> = {}): Rfc2136Zone {
  return {
    name,
    backend: 'rfc2136',
    server: { host: '127.0.0.1', port: named.port },
    tsig: { name: 'ddns-key', algorithm: 'hmac-sha256', secret: { ref: `\${file:${secretFile}}` }, ...tsig },
  };
}
const dynSite = (): SiteConfig =>
  site({
    nets: { 'dyn-net': { title: 'dyn-net', cidr: '198.51.100.0/24', dnsServers: [], domain: FWD, reverseZone: REV } },
    dns: { zones: [zone(FWD), zone(REV)] },
  });
const ips: Record<string, string> = {
  web1: '198.51.100.11',
  web2: '198.51.100.12',
  race: '198.51.100.13',
  ptrclash: '198.51.100.14',
  printer: '198.51.100.60',
};
const resolved = (s: { name: string }) => ({ ip: ips[s.name]!, mac: '00:50:56:00:00:01' });
const dyn = (name: string, aliases: string[] = [], state: 'present' | 'absent' = 'present') =>
  system(name, { net: 'dyn-net', domain: FWD, aliases, state });
const provider = () => new DnsProvider({ readSecret: readFileSecret });
const nsupdate = (lines: string) =>
  execFileSync('nsupdate', ['-k', named.ddnsKeyFile], { input: `server 127.0.0.1 ${named.port}\n${lines}\nsend\n` });
const code = <T>(p: Promise<T>) => p.catch((e: NodeJS.ErrnoException) => e.code);

test('apply adds A, PTR and CNAME with an ownership TXT beside each name; records of others survive', async () => {
  const r = await runStage(provider(), [dyn('web1', ['www']), dyn('web2')], resolved, context(dynSite()));
  expect(r.failed).toEqual([]);
  const q = named.resolver();
  expect(await q.resolve4(`web1.${FWD}`)).toEqual(['198.51.100.11']);
  expect(await q.reverse('198.51.100.12')).toEqual([`web2.${FWD}`]);
  expect(await q.resolveCname(`www.${FWD}`)).toEqual([`web1.${FWD}`]);
  expect(await q.resolveTxt(`_shipshape.www.${FWD}`)).toEqual([['heritage=shipshape,shipshape/system=web1']]);
  expect(await q.resolve4(`printer.${FWD}`)).toEqual(['198.51.100.50']);
  const again = await runStage(provider(), [dyn('web1', ['www']), dyn('web2')], resolved, context(dynSite()));
  expect(again.unchanged.sort()).toEqual(['web1', 'web2']);
});

test('an address one system gives up and another takes in the same commit lands for both, whatever their order by name', async () => {
  // aa-taker sorts first, so its update (whose prerequisite says the new PTR name is free) is sent
  // before zz-giver's removes that PTR: refused at first, it is sent again once zz-giver's has landed.
  const at: Record<string, string> = { 'aa-taker': '198.51.100.31', 'zz-giver': '198.51.100.32' };
  const where = (s: { name: string }) => ({ ip: at[s.name]!, mac: '00:50:56:00:00:02' });
  const both = () => [dyn('aa-taker'), dyn('zz-giver')];
  expect((await runStage(provider(), both(), where, context(dynSite()))).failed).toEqual([]);
  at['aa-taker'] = '198.51.100.32';
  at['zz-giver'] = '198.51.100.33';
  const moved = await runStage(provider(), both(), where, context(dynSite()));
  expect(moved.failed).toEqual([]);
  expect(moved.updated.sort()).toEqual(['aa-taker', 'zz-giver']);
  const q = named.resolver();
  expect(await q.reverse('198.51.100.32')).toEqual([`aa-taker.${FWD}`]);
  expect(await q.reverse('198.51.100.33')).toEqual([`zz-giver.${FWD}`]);
  expect(await q.resolve4(`aa-taker.${FWD}`)).toEqual(['198.51.100.32']);
});

test('a hand change of a managed record shows up as drift and is put back', async () => {
  nsupdate(`update delete web2.${FWD} A\nupdate add web2.${FWD} 300 A 198.51.100.222`);
  const r = await runStage(provider(), [dyn('web1', ['www']), dyn('web2')], resolved, context(dynSite()));
  expect(r.updated).toEqual(['web2']);
  expect(await named.resolver().resolve4(`web2.${FWD}`)).toEqual(['198.51.100.12']);
});

test("an alias the operator's record already takes: the plan blocks the create (record-held), and apply refuses it on its own", async () => {
  const p = provider();
  const ctx = context(dynSite());
  await p.observe(ctx);
  const s = dyn('web9', ['printer']);
  const at = { ip: '198.51.100.19', mac: '00:50:56:00:00:01' };
  const d = p.desired(s, at, ctx.site)!;
  const why =
    /^web9: printer\.dyn\.example\.test already has A 198\.51\.100\.50, not managed by shipshape; shipshape never overwrites it: remove it by hand or choose another name/;
  expect(p.foreseeCreate(s, d)).toEqual([
    expect.objectContaining({ refusal: 'record-held', to: `printer.${FWD}`, refused: expect.stringMatching(why) }),
  ]);
  expect(p.foreseeCreate(dyn('web8', ['www8']), p.desired(dyn('web8', ['www8']), at, ctx.site)!)).toEqual([]);
  const err = (await p.create(s, d, at, ctx).catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({ refusal: 'record-held', outcome: 'collides' });
  expect(err.message).toMatch(why);
  expect(await code(named.resolver().resolveCname(`printer.${FWD}`))).toBe('ENODATA');
});

test('a name owned by someone else is reported and refused; one taken between observe and commit fails on its prerequisite only', async () => {
  const taken = await runStage(provider(), [dyn('printer')], resolved, context(dynSite()));
  expect(taken.notOurs).toContain(`printer.${FWD}`);
  expect(taken.refused[0]!.error.message).toMatch(
    /printer.dyn.example.test already has A 198.51.100.50, not managed by shipshape/,
  );

  const p = provider();
  const ctx = context(dynSite());
  await p.observe(ctx);
  nsupdate(`update add race.${FWD} 300 A 203.0.113.9`); // someone else, after our observe
  for (const s of [dyn('race'), dyn('ptrclash')])
    await p.create(s, p.desired(s, resolved(s), ctx.site)!, resolved(s), ctx);
  const { failed } = await p.commit();
  expect(failed.map((f) => f.system)).toEqual(['race']);
  expect(failed[0]!.error.message).toMatch(/in use by records shipshape does not own \(prerequisite YXRRSET\)/);
  const q = named.resolver();
  expect(await q.resolve4(`race.${FWD}`)).toEqual(['203.0.113.9']);
  expect(await q.resolve4(`ptrclash.${FWD}`)).toEqual(['198.51.100.14']);
  // race's PTR would have landed in the reverse zone: it was reverted, nothing is half-applied
  expect(await code(q.reverse('198.51.100.13'))).toBe('ENOTFOUND');
});

test('a failed update in one zone leaves nothing in the other', async () => {
  const p = provider();
  const ctx = context(dynSite());
  await p.observe(ctx);
  nsupdate(`zone ${REV}\nupdate add 15.${REV} 300 PTR someone-else.example.test.`);
  ips.half = '198.51.100.15';
  await p.create(dyn('half'), p.desired(dyn('half'), resolved(dyn('half')), ctx.site)!, resolved(dyn('half')), ctx);
  const { failed } = await p.commit();
  expect(failed.map((f) => f.system)).toEqual(['half']);
  expect(await code(named.resolver().resolve4(`half.${FWD}`))).toBe('ENOTFOUND');
  expect(await code(named.resolver().resolveTxt(`_shipshape.half.${FWD}`))).toBe('ENOTFOUND');
  expect(await named.resolver().reverse('198.51.100.15')).toEqual(['someone-else.example.test']);
});

test('a wrong TSIG secret or an unknown key is refused with BADSIG / BADKEY and changes nothing', async () => {
  const wrongSecret = join(named.dir, 'wrong.secret');
  writeFileSync(wrongSecret, Buffer.alloc(32, 9).toString('base64'));
  const deps = { pool: undefined as never, readSecret: readFileSecret, log: context(dynSite()).log };
  const before = (await new Rfc2136Backend(zone(FWD), deps).observe()).owned;
  const add = new Map([...before, ['evil', [{ name: `evil.${FWD}`, type: 'A' as const, value: '198.51.100.66' }]]]);
  const badSig = await new Rfc2136Backend(zone(FWD, { secret: { ref: `\${file:${wrongSecret}}` } }), deps).apply(
    before,
    add,
    new Set(['evil']),
  );
  expect(badSig.get('evil')!.message).toMatch(
    /TSIG secret of key "ddns-key" is wrong \(NOTAUTH\/BADSIG\); nothing was changed/,
  );
  expect(badSig.get('evil')!.message).not.toContain(named.ddnsSecret);
  const badKey = await new Rfc2136Backend(zone(FWD, { name: 'other-key' }), deps).apply(before, add, new Set(['evil']));
  expect(badKey.get('evil')!.message).toMatch(/does not know the TSIG key "other-key" \(NOTAUTH\/BADKEY\)/);
  expect(await code(named.resolver().resolve4(`evil.${FWD}`))).toBe('ENOTFOUND');
  const axfr = await new Rfc2136Backend(zone(FWD, { secret: { ref: `\${file:${wrongSecret}}` } }), deps)
    .observe()
    .catch((e) => e);
  expect(axfr).toBeInstanceOf(AxfrError);
  expect(axfr.message).toMatch(/TSIG key name or secret is wrong/);
});

test('a tombstone removes A, PTR, CNAME and the ownership records', async () => {
  const r = await runStage(provider(), [dyn('web1', ['www'], 'absent'), dyn('web2')], resolved, context(dynSite()));
  expect(r.deleted).toEqual(['web1']);
  const q = named.resolver();
  expect(await code(q.resolve4(`web1.${FWD}`))).toBe('ENOTFOUND');
  expect(await code(q.resolveCname(`www.${FWD}`))).toBe('ENOTFOUND');
  expect(await code(q.reverse('198.51.100.11'))).toBe('ENOTFOUND');
  expect(await code(q.resolveTxt(`_shipshape.web1.${FWD}`))).toBe('ENOTFOUND');
  expect(await q.resolve4(`web2.${FWD}`)).toEqual(['198.51.100.12']);
  expect(await q.resolve4(`printer.${FWD}`)).toEqual(['198.51.100.50']);
});

test('`ownership seal` migrates unsealed TXT markers of declared systems once; until then they are not owned, and others stay unsealed', async () => {
  const keyFile = join(named.dir, 'ownership.key');
  writeFileSync(keyFile, 'the-rfc2136-site-key-0123456789\n', { mode: 0o600 });
  const sealedSite = (): SiteConfig => ({
    ...dynSite(),
    ownership: { siteId: 'prod', key: { ref: `\${file:${keyFile}}` } },
  });
  const mig = { ...dyn('mig', ['mig-alias']), name: 'mig' };
  ips.mig = '198.51.100.21';
  // Written before the site had ownership: (and one written by hand for a system no manifest declares).
  expect((await runStage(provider(), [mig], resolved, context(dynSite()))).failed).toEqual([]);
  nsupdate(
    `zone ${FWD}.\nupdate add stray.${FWD}. 300 A 198.51.100.22\nupdate add _shipshape.stray.${FWD}. 300 TXT "heritage=shipshape,shipshape/system=stray"`,
  );
  const ownedBy = async (s: SiteConfig) =>
    (await provider().observe(context(s))).resources.filter((r) => r.owned).map((r) => r.system);
  expect(await ownedBy(sealedSite())).toEqual([]);

  const p = provider();
  const { sealed, skipped } = await p.sealMarkers(context(sealedSite()), new Set(['mig']));
  await p.close();
  expect({ sealed: sealed.sort(), skipped }).toEqual({
    sealed: [
      `dns mig: mig-alias.${FWD} (zone ${FWD})`,
      `dns mig: mig.${FWD} (zone ${FWD})`,
      expect.stringMatching(/^dns mig: 21\./),
    ].sort(),
    skipped: [],
  });
  expect(await ownedBy(sealedSite())).toEqual(['mig']);
  const txt = (await named.resolver().resolveTxt(`_shipshape.mig.${FWD}`)).flat();
  expect(txt).toEqual([
    expect.stringMatching(/^heritage=shipshape,shipshape\/system=mig,shipshape\/seal=v1:[0-9a-f]{40}$/),
  ]);
  expect((await named.resolver().resolveTxt(`_shipshape.stray.${FWD}`)).flat()).toEqual([
    'heritage=shipshape,shipshape/system=stray',
  ]);
  // The sealed site converges the migrated system without a change, and removes it on its tombstone.
  expect((await runStage(provider(), [mig], resolved, context(sealedSite()))).unchanged).toEqual(['mig']);
  expect((await runStage(provider(), [{ ...mig, state: 'absent' }], resolved, context(sealedSite()))).deleted).toEqual([
    'mig',
  ]);
  nsupdate(`zone ${FWD}.\nupdate delete stray.${FWD}.\nupdate delete _shipshape.stray.${FWD}.`);
});
