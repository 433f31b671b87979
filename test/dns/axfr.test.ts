/**
 * The in-process zone transfer against a real named: the records it returns are the ones `dig AXFR
 * +onesoa` prints (parsed as the provider parsed dig's output before), with and without TSIG, for a
 * zone of many record types and one large enough to span many TCP messages (each signed: RFC 8945
 * §5.3.1); a wrong secret, an unknown key and a closed port are clear errors.
 */
import { execFileSync } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import { TransientError } from '../../src/engine/contract';
import { transferZone, type TsigKey } from '../../src/providers/dns/axfr';
import { normalName, type ServedRecord } from '../../src/providers/dns/records';
import { AxfrError } from '../../src/providers/dns/zone-text';
import { freePort, removeDir } from '../helpers/daemon';
import { startNamed, type TestNamed } from '../helpers/named';

const MIXED = 'mixed.example.test';
const BIG = 'big.example.test';
let named: TestNamed;
let key: TsigKey;

beforeAll(async () => {
  const many = Array.from({ length: 3000 }, (_, i) => `host-${i} IN A 198.51.${(i >> 8) & 255}.${i & 255}\n`).join('');
  named = await startNamed([
    {
      name: MIXED,
      records: [
        'Web IN A 198.51.100.10',
        'v6 IN AAAA 2001:db8:0:0:1:0:0:1',
        'v6 IN AAAA ::1',
        'v6 IN AAAA 2001:db8:0:1:0:0:0:1',
        '@ IN MX 10 Mail.mixed.example.test.',
        'mail IN A 198.51.100.20',
        'alias IN CNAME web',
        'txt IN TXT "plain text" "second string"',
        'txt IN TXT "quote \\" and backslash \\\\ and tab\\009 and é"',
        '_ldap._tcp IN SRV 0 5 389 web',
        '@ IN CAA 0 issue "ca.example.net"',
        '10.100 IN PTR web.mixed.example.test.',
        'sub IN NS ns1.mixed.example.test.',
        '',
      ].join('\n'),
    },
    { name: BIG, records: many, dynamic: true },
  ]);
  key = { name: 'ddns-key', algorithm: 'hmac-sha256', secret: Buffer.from(named.ddnsSecret, 'base64') };
});
afterAll(async () => {
  await named?.stop();
  if (named) removeDir(named.dir);
});

/** What `dig AXFR +onesoa` prints, parsed as the provider parsed it when it ran dig. */
function dig(zone: string, withKey: boolean): ServedRecord[] {
  const out = execFileSync(
    'dig',
    [`@127.0.0.1`, '-p', String(named.port), zone, 'AXFR', '+onesoa', '+nocmd', '+nostats', '+nocomments'].concat(
      withKey ? ['-k', named.ddnsKeyFile] : [],
    ),
    { encoding: 'utf8' },
  );
  const records: ServedRecord[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s+(?:IN|ANY|CH)\s+(\S+)\s+(.*)$/.exec(line);
    if (!m || m[3] === 'TSIG') continue;
    const [, name, ttl, type, value] = m;
    records.push({
      name: normalName(name!),
      type: type!,
      ttl: Number(ttl),
      value: type === 'A' || type === 'TXT' ? value!.trim() : normalName(value!.trim()),
    });
  }
  return records;
}

const server = () => ({ host: '127.0.0.1', port: named.port });

test('the records are the ones dig transfers, every type in its text, with and without TSIG', async () => {
  const mine = await transferZone(MIXED, server());
  expect(mine).toEqual(dig(MIXED, false));
  expect(await transferZone(MIXED, server(), key)).toEqual(dig(MIXED, true));
  // The values the providers read: a TXT as dig quotes it, names absolute and lower case, the SOA once.
  expect(mine.filter((r) => r.type === 'SOA')).toHaveLength(1);
  expect(mine).toContainEqual({ name: `web.${MIXED}`, type: 'A', ttl: 300, value: '198.51.100.10' });
  expect(mine).toContainEqual({ name: MIXED, type: 'MX', ttl: 300, value: `10 mail.${MIXED}` });
  expect(
    mine
      .filter((r) => r.type === 'AAAA')
      .map((r) => r.value)
      .sort(),
  ).toEqual(['2001:db8:0:1::1', '2001:db8::1:0:0:1', '::1']);
  expect(mine.filter((r) => r.type === 'TXT').map((r) => r.value)).toContain('"plain text" "second string"');
});

test('a zone of 3,000 records spans many signed messages and arrives whole', async () => {
  const signed = await transferZone(BIG, server(), key);
  expect(signed.filter((r) => r.name.startsWith('host-'))).toHaveLength(3000);
  expect(signed).toEqual(dig(BIG, true));
});

test('a wrong secret, an unknown key and a closed port are clear errors, not an empty zone', async () => {
  const wrong = { ...key, secret: Buffer.from('not the secret') };
  const bad = await transferZone(BIG, server(), wrong).catch((e: Error) => e);
  expect(bad).toBeInstanceOf(AxfrError);
  expect((bad as Error).message).toMatch(
    /AXFR of big.example.test .* failed \(the TSIG key name or secret is wrong.*BADSIG/,
  );
  const unknown = await transferZone(BIG, server(), { ...key, name: 'other-key' }).catch((e: Error) => e);
  expect((unknown as Error).message).toMatch(/TSIG BADKEY/);
  const closed = await transferZone(BIG, { host: '127.0.0.1', port: await freePort() }).catch((e: Error) => e);
  expect(closed).toBeInstanceOf(TransientError);
  expect((closed as Error).message).toMatch(/connection refused/);
});

test('an answer changed on the way is refused by its TSIG signature; without a key it would pass unnoticed', async () => {
  // A proxy that changes one name in the server's answers (same length, so the framing stays intact).
  const proxy = createServer((client) => {
    const up = connect(named.port, '127.0.0.1');
    client.pipe(up);
    let changed = false;
    up.on('data', (d: Buffer) => {
      const at = changed ? -1 : d.indexOf('host-1');
      if (at >= 0) {
        d.write('hosx-1', at);
        changed = true;
      }
      client.write(d);
    });
    up.on('end', () => client.end());
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const via = { host: '127.0.0.1', port: (proxy.address() as AddressInfo).port };
  try {
    const err = await transferZone(BIG, via, key).catch((e: Error) => e);
    expect(err).toBeInstanceOf(AxfrError);
    expect((err as Error).message).toMatch(/does not verify with the key/);
    expect((await transferZone(BIG, via)).some((r) => r.name.startsWith('hosx-1'))).toBe(true);
  } finally {
    await new Promise((r) => proxy.close(r));
  }
});
