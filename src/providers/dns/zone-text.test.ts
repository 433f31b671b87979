import {
  findSoaSerial,
  includesFragment,
  nextSerial,
  parseAxfr,
  parseFragment,
  redirectInclude,
  renderFragment,
  replaceSerial,
} from './zone-text';

const zone = `$TTL 300
@ IN SOA ns1.x.test. hostmaster.x.test. ( ; the serial follows
        2024010101 ; serial
        3600 600 86400 300 )
  IN NS ns1
$INCLUDE "/srv/x.shipshape"
`;

test('finds and bumps the SOA serial across lines and comments, leaving every other byte alone', () => {
  const s = findSoaSerial(zone)!;
  expect(s.serial).toBe(2024010101);
  const bumped = replaceSerial(zone, s, 2026112600);
  expect(bumped).toBe(zone.replace('2024010101', '2026112600'));
});

test('the next serial stays above the file and the served serial; date serials move to today', () => {
  const today = new Date('2026-11-26T10:00:00Z');
  expect(nextSerial(2024010101, 2024010101, today)).toBe(2026112600);
  expect(nextSerial(2026112607, 2026112609, today)).toBe(2026112610);
  expect(nextSerial(17, 5, today)).toBe(18);
  expect(() => nextSerial(0xffffffff, 0, today)).toThrow(/cannot grow/);
});

test('our $INCLUDE is found and can point at a candidate file', () => {
  expect(includesFragment(zone, '/srv/x.shipshape')).toBe(true);
  expect(includesFragment(zone, '/srv/other')).toBe(false);
  expect(redirectInclude(zone, '/srv/x.shipshape', '/srv/.new')).toContain('$INCLUDE "/srv/.new"');
});

test('a rendered fragment parses back to the same records per system', () => {
  const recs = new Map([
    [
      'vm1',
      [
        { name: 'vm1.x.test', type: 'A' as const, value: '192.0.2.1' },
        { name: 'app.x.test', type: 'CNAME' as const, value: 'vm1.x.test' },
      ],
    ],
  ]);
  const text = renderFragment('x.test', recs, 'abc');
  expect(text.split('\n')[0]).toBe('; shipshape-managed fragment for zone x.test (commit abc).');
  expect(parseFragment(text)).toEqual(recs);
});

test('dig AXFR output: records parsed; a failed transfer or TSIG error is an error, not an empty zone', () => {
  const ok =
    'x.test.\t300\tIN\tSOA\tns1.x.test. h.x.test. 1 2 3 4 5\nVM1.x.test.\t300\tIN\tA\t192.0.2.1\nk.\t0\tANY\tTSIG\thmac-sha256. 1795696959 300 32 W1TSerL/1mIHDAtyfse+6WWqd3wnqGQeyAT5hg+J1JY= 37899 NOERROR 0\n';
  expect(parseAxfr(ok, 'x.test')[1]).toEqual({ name: 'vm1.x.test', type: 'A', ttl: 300, value: '192.0.2.1' });
  expect(() => parseAxfr('; Transfer failed.\n', 'x.test')).toThrow(/AXFR of x.test failed: Transfer failed/);
  const badsig =
    ";; Couldn't verify signature: tsig indicates error\nk.\t0\tANY\tTSIG\thmac-sha256. 1 300 0 41616 BADSIG 0\n; Transfer failed.\n";
  expect(() => parseAxfr(badsig, 'x.test')).toThrow(/TSIG key name or secret is wrong.*TSIG BADSIG/);
});
