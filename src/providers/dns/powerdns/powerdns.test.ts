/**
 * The PowerDNS backend against a real pdns_server (SQLite backend, HTTP API): answers checked with real DNS
 * queries, the operator's records and hand edits made through the API as an operator would.
 */
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { removeDir, freePort } from '../../../../test/helpers/daemon';
import { startPdns, type TestPdns } from '../../../../test/helpers/pdns';
import { readFileSecret } from '../../../../test/helpers/sshd';
import type { DnsRecord } from '../records';
import { PowerDnsBackend } from './backend';
import { POWERDNS_DEFAULTS, type PowerDnsZone } from './config';

let pdns: TestPdns;
let notifySocket: Socket;
const notifies: string[] = [];
const FWD = 'pdns.example.test';
const REV = '100.51.198.in-addr.arpa';
const PRIMARY = 'primary.example.test';
const NOSERIAL = 'static.example.test';
const SIGNED = 'signed.example.test';

beforeAll(async () => {
  // A stand-in secondary: records the zone name of every NOTIFY (opcode 4) it gets.
  const notifyPort = await freePort();
  notifySocket = createSocket('udp4');
  notifySocket.on('message', (m) => {
    if (((m[2]! >> 3) & 0xf) !== 4) return;
    const labels: string[] = [];
    for (let i = 12; m[i]! > 0; i += m[i]! + 1) labels.push(m.subarray(i + 1, i + 1 + m[i]!).toString());
    notifies.push(labels.join('.').toLowerCase());
  });
  await new Promise<void>((r) => notifySocket.bind(notifyPort, '127.0.0.1', r));
  pdns = await startPdns({ alsoNotify: [`127.0.0.1:${notifyPort}`] });
  await pdns.createZone({ name: FWD, rrsets: [{ name: `printer.${FWD}`, type: 'A', content: ['198.51.100.50'] }] });
  await pdns.createZone({ name: REV });
  await pdns.createZone({ name: PRIMARY, kind: 'Master' });
  await pdns.createZone({ name: NOSERIAL, soaEditApi: '' });
  await pdns.createZone({ name: SIGNED, dnssec: { apiRectify: false } });
});
afterAll(async () => {
  await pdns?.stop();
  if (pdns) removeDir(pdns.dir);
  notifySocket?.close();
});

const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const config = (name: string, over: Partial<PowerDnsZone> = {}): PowerDnsZone => ({
  name,
  backend: 'powerdns',
  ...POWERDNS_DEFAULTS,
  url: pdns.url,
  apiKey: { ref: `\${file:${pdns.keyFile}}` },
  ...over,
});
const backend = (zone: string, over: Partial<PowerDnsZone> = {}) =>
  new PowerDnsBackend(config(zone, over), { readSecret: readFileSecret, log: quiet });

const A = (name: string, value: string): DnsRecord => ({ name, type: 'A', value });
const CNAME = (name: string, value: string): DnsRecord => ({ name, type: 'CNAME', value });
const PTR = (name: string, value: string): DnsRecord => ({ name, type: 'PTR', value });

/** What the provider does for one zone: observe, then apply `want` for the systems it names. */
async function converge(b: PowerDnsBackend, want: Record<string, DnsRecord[]>) {
  const seen = await b.observe();
  const after = new Map(seen.owned);
  for (const [s, recs] of Object.entries(want)) {
    if (recs.length) after.set(s, recs);
    else after.delete(s);
  }
  const key = (rs: DnsRecord[] = []) =>
    rs
      .map((r) => `${r.name} ${r.type} ${r.value}`)
      .sort()
      .join('|');
  const changed = new Set(Object.keys(want).filter((s) => key(seen.owned.get(s)) !== key(after.get(s))));
  return { seen, failed: changed.size ? await b.apply(seen.owned, after, changed) : new Map<string, Error>(), changed };
}

const rrset = async (zone: string, name: string, type: string) =>
  (
    (await pdns.api('GET', `zones/${zone}.`)).json.rrsets as {
      name: string;
      type: string;
      comments: { account: string; content: string }[];
      records: { content: string }[];
    }[]
  ).find((r) => r.name === `${name}.` && r.type === type);

test("creates A, PTR and CNAME records with the ownership comment; the operator's records are reported as not ours and survive", async () => {
  const fwd = backend(FWD);
  const rev = backend(REV);
  const r1 = await converge(fwd, {
    web1: [A(`web1.${FWD}`, '198.51.100.11'), CNAME(`www.${FWD}`, `web1.${FWD}`)],
    web2: [A(`web2.${FWD}`, '198.51.100.12')],
  });
  const r2 = await converge(rev, { web1: [PTR(`11.${REV}`, `web1.${FWD}`)], web2: [PTR(`12.${REV}`, `web2.${FWD}`)] });
  expect([...r1.failed, ...r2.failed]).toEqual([]);
  expect(fwd.patches).toBe(1);
  expect(rev.patches).toBe(1);

  const q = pdns.resolver();
  expect(await q.resolve4(`web1.${FWD}`)).toEqual(['198.51.100.11']);
  expect(await q.resolveCname(`www.${FWD}`)).toEqual([`web1.${FWD}`]);
  expect(await q.reverse('198.51.100.12')).toEqual([`web2.${FWD}`]);
  expect(await q.resolve4(`printer.${FWD}`)).toEqual(['198.51.100.50']);
  expect((await rrset(FWD, `www.${FWD}`, 'CNAME'))!.comments).toEqual([
    expect.objectContaining({ account: 'shipshape', content: 'heritage=shipshape,shipshape/system=web1' }),
  ]);

  const seen = await backend(FWD).observe();
  expect(seen.roundTrips).toBe(1);
  expect(seen.owned.get('web1')).toEqual(
    expect.arrayContaining([A(`web1.${FWD}`, '198.51.100.11'), CNAME(`www.${FWD}`, `web1.${FWD}`)]),
  );
  expect(seen.foreign).toEqual([{ name: `printer.${FWD}`, type: 'A', ttl: 300, value: '198.51.100.50' }]);
});

test('an update replaces only the changed RRset; a hand edit of an owned record shows as drift and is put back', async () => {
  const b = backend(FWD);
  const r = await converge(b, { web2: [A(`web2.${FWD}`, '198.51.100.22')] });
  expect(r.failed.size).toBe(0);
  expect(await pdns.resolver().resolve4(`web2.${FWD}`)).toEqual(['198.51.100.22']);

  // the operator edits our record by hand (records only: PowerDNS keeps the RRset's comments)
  await pdns.api('PATCH', `zones/${FWD}.`, {
    rrsets: [
      {
        name: `web2.${FWD}.`,
        type: 'A',
        ttl: 300,
        changetype: 'REPLACE',
        records: [{ content: '198.51.100.99', disabled: false }],
      },
    ],
  });
  const again = await converge(backend(FWD), { web2: [A(`web2.${FWD}`, '198.51.100.22')] });
  expect(again.seen.owned.get('web2')).toEqual([A(`web2.${FWD}`, '198.51.100.99')]);
  expect(again.changed).toEqual(new Set(['web2']));
  expect(await pdns.resolver().resolve4(`web2.${FWD}`)).toEqual(['198.51.100.22']);
});

test("delete removes the system's RRsets and their comments, nothing else", async () => {
  const r = await converge(backend(FWD), { web1: [] });
  expect(r.failed.size).toBe(0);
  expect(await rrset(FWD, `web1.${FWD}`, 'A')).toBeUndefined();
  expect(await rrset(FWD, `www.${FWD}`, 'CNAME')).toBeUndefined();
  const code = (p: Promise<unknown>) => p.catch((e: NodeJS.ErrnoException) => e.code);
  expect(await code(pdns.resolver().resolve4(`web1.${FWD}`))).toBe('ENOTFOUND');
  expect(await pdns.resolver().resolve4(`printer.${FWD}`)).toEqual(['198.51.100.50']);
  expect(await pdns.resolver().resolve4(`web2.${FWD}`)).toEqual(['198.51.100.22']);
});

test('records shipshape does not own are never touched, also when taken between observe and apply; the other systems still land', async () => {
  const b = backend(FWD);
  const seen = await b.observe();
  // someone else adds two names after our observe: an A where we want an A, an A where we want a CNAME
  await pdns.api('PATCH', `zones/${FWD}.`, {
    rrsets: [
      {
        name: `race.${FWD}.`,
        type: 'A',
        ttl: 300,
        changetype: 'REPLACE',
        records: [{ content: '203.0.113.9', disabled: false }],
      },
      {
        name: `alias.${FWD}.`,
        type: 'A',
        ttl: 300,
        changetype: 'REPLACE',
        records: [{ content: '203.0.113.10', disabled: false }],
      },
    ],
  });
  const after = new Map(seen.owned);
  after.set('printer', [A(`printer.${FWD}`, '198.51.100.60')]);
  after.set('race', [A(`race.${FWD}`, '198.51.100.13')]);
  after.set('web3', [A(`web3.${FWD}`, '198.51.100.14'), CNAME(`alias.${FWD}`, `web3.${FWD}`)]);
  after.set('web4', [A(`web4.${FWD}`, '198.51.100.15')]);
  const failed = await b.apply(seen.owned, after, new Set(['printer', 'race', 'web3', 'web4']));
  expect([...failed.keys()].sort()).toEqual(['printer', 'race', 'web3']);
  expect(failed.get('race')!.message).toMatch(
    /race.pdns.example.test is held by A 203.0.113.9, not managed by shipshape; nothing was changed for it/,
  );
  expect(failed.get('web3')!.message).toMatch(
    /alias.pdns.example.test is held by A 203.0.113.10, not managed by shipshape/,
  );
  const q = pdns.resolver();
  expect(await q.resolve4(`printer.${FWD}`)).toEqual(['198.51.100.50']);
  expect(await q.resolve4(`race.${FWD}`)).toEqual(['203.0.113.9']);
  expect(await q.resolve4(`alias.${FWD}`)).toEqual(['203.0.113.10']);
  expect(await rrset(FWD, `web3.${FWD}`, 'A')).toBeUndefined(); // web3 is refused as a whole
  expect(await q.resolve4(`web4.${FWD}`)).toEqual(['198.51.100.15']);
  expect((await rrset(FWD, `race.${FWD}`, 'A'))!.comments).toEqual([]);
});

test('a refused PATCH of several systems is retried one system at a time, so only the refused one fails', async () => {
  const b = backend(FWD);
  const seen = await b.observe();
  const after = new Map(seen.owned);
  after.set('good1', [A(`good1.${FWD}`, '198.51.100.31')]);
  after.set('bad', [A(`bad.${FWD}`, '198.51.100.300')]); // PowerDNS rejects the content (422)
  after.set('good2', [A(`good2.${FWD}`, '198.51.100.32')]);
  const failed = await b.apply(seen.owned, after, new Set(['good1', 'bad', 'good2']));
  expect([...failed.keys()]).toEqual(['bad']);
  expect(failed.get('bad')!.message).toMatch(
    /zone pdns.example.test: bad: PowerDNS refused the change \(.*198.51.100.300.*\); nothing was changed for it/,
  );
  expect(b.patches).toBe(4);
  expect(await pdns.resolver().resolve4(`good2.${FWD}`)).toEqual(['198.51.100.32']);
});

test('observe costs one request for 10 records as for 1,000; 1,000 systems land in one PATCH', async () => {
  const ZONE = 'big.example.test';
  await pdns.createZone({ name: ZONE });
  const want = (n: number) =>
    Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`h${i}`, [A(`h${i}.${ZONE}`, `10.0.${i >> 8}.${i & 255}`)]]),
    );
  const small = backend(ZONE);
  expect((await converge(small, want(10))).failed.size).toBe(0);
  const obs10 = await backend(ZONE).observe();
  const big = backend(ZONE);
  expect((await converge(big, want(1000))).failed.size).toBe(0);
  expect(big.patches).toBe(1);
  const obs1000 = await backend(ZONE).observe();
  expect(obs10.owned.size).toBe(10);
  expect(obs1000.owned.size).toBe(1000);
  expect(obs10.roundTrips).toBe(1);
  expect(obs1000.roundTrips).toBe(1);
});

test('a Master zone gets NOTIFY at once after a change; the serial moves with SOA-EDIT-API', async () => {
  const serial = async (z: string) => (await pdns.resolver().resolveSoa(z)).serial;
  const before = await serial(PRIMARY);
  notifies.length = 0;
  const r = await converge(backend(PRIMARY), { db1: [A(`db1.${PRIMARY}`, '198.51.100.41')] });
  expect(r.failed.size).toBe(0);
  expect(await serial(PRIMARY)).toBeGreaterThan(before);
  for (let i = 0; i < 50 && !notifies.includes(PRIMARY); i++) await new Promise((res) => setTimeout(res, 100));
  expect(notifies).toContain(PRIMARY);
});

test('a zone without SOA-EDIT-API gets its serial raised by one, since PowerDNS leaves it alone', async () => {
  const soa = async () => (await pdns.resolver().resolveSoa(NOSERIAL)).serial;
  const before = await soa();
  const b = backend(NOSERIAL);
  expect((await converge(b, { app1: [A(`app1.${NOSERIAL}`, '198.51.100.51')] })).failed.size).toBe(0);
  expect(await soa()).toBe(before + 1);
});

test('a DNSSEC-signed zone without API-RECTIFY is rectified after the change', async () => {
  const b = backend(SIGNED);
  expect((await converge(b, { sec1: [A(`sec1.${SIGNED}`, '198.51.100.61')] })).failed.size).toBe(0);
  expect(pdns.ordername(`sec1.${SIGNED}`)).toEqual(['sec1']);
  expect(b.api.roundTrips).toBe(4); // observe, read before apply, PATCH, rectify
});

test('a secondary zone is refused as a whole: its next transfer would undo the change', async () => {
  const res = await pdns.api('POST', 'zones', { name: 'copy.example.test.', kind: 'Slave', masters: ['127.0.0.1:1'] });
  expect(res.status).toBe(201);
  const failed = await backend('copy.example.test').apply(
    new Map(),
    new Map([['c1', [A('c1.copy.example.test', '198.51.100.71')]]]),
    new Set(['c1']),
  );
  expect(failed.get('c1')!.message).toMatch(
    /zone copy.example.test is a secondary \(Slave\) on http:.*point the zone at its primary's API; nothing was changed/,
  );
  expect(await rrset('copy.example.test', 'c1.copy.example.test', 'A')).toBeUndefined();
});

test('a wrong API key or a missing zone is a clear error that never shows the key', async () => {
  const wrong = `${pdns.dir}/wrong.key`;
  writeFileSync(wrong, 'not-the-key-4711\n');
  const bad = backend(FWD, { apiKey: { ref: `\${file:${wrong}}` } });
  const e = await bad.observe().catch((x: Error) => x);
  expect(e).toBeInstanceOf(Error);
  expect((e as Error).message).toMatch(
    /PowerDNS API at http:\/\/127.0.0.1:\d+ \(server localhost\) refused the API key \(401 Unauthorized\)/,
  );
  expect((e as Error).message).not.toContain('not-the-key-4711');
  const failed = await bad.apply(new Map(), new Map([['x', [A(`x.${FWD}`, '198.51.100.70')]]]), new Set(['x']));
  expect(failed.get('x')!.message).toMatch(/refused the API key/);

  await expect(backend('absent.example.test').observe()).rejects.toThrow(
    /zone absent.example.test does not exist on the PowerDNS API at .* \(404\): create it there first/,
  );
  await expect(backend(FWD, { url: `http://127.0.0.1:${await freePort()}` }).observe()).rejects.toThrow(
    /cannot reach the PowerDNS API .*ECONNREFUSED.*is pdns_server running/,
  );
});

test('a classless reverse zone (RFC 2317, a `/` in its name) is read and written through the API', async () => {
  const CLASSLESS = '128/26.100.51.198.in-addr.arpa';
  await pdns.createZone({ name: CLASSLESS });
  const r = await converge(backend(CLASSLESS), { web9: [PTR(`130.${CLASSLESS}`, `web9.${FWD}`)] });
  expect([...r.failed]).toEqual([]);
  const seen = await backend(CLASSLESS).observe();
  expect(seen.owned.get('web9')).toEqual([PTR(`130.${CLASSLESS}`, `web9.${FWD}`)]);
});
