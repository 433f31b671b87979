import {
  findSoaSerial,
  handLines,
  moveOutHandLines,
  whyNotMovable,
  includesFragment,
  missingIncludeHint,
  nextSerial,
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

describe('hand-written records of the operator zone file (adoption)', () => {
  const hand = `$TTL 3600
@ IN SOA ns1.x.test. hostmaster.x.test. ( 1 3600 600 86400 300 )
  IN NS ns1
ns1 IN A 127.0.0.1
web-01   IN A 198.51.100.11 ; by the old pipeline
web-02 300 IN A 198.51.100.12
       IN TXT "owner=team-a"
db-01.x.test. IN A 198.51.100.13
shop CNAME web-01
WEB-03 1h30m In a 198.51.100.15
$ORIGIN sub.x.test.
app IN A 198.51.100.14
$INCLUDE "/srv/x.shipshape"
`;

  test('lists A, PTR and CNAME lines with absolute names: $ORIGIN, relative names, TTL and class, not the SOA', () => {
    expect(handLines(hand, 'x.test').map((l) => [l.line + 1, l.name, l.type, l.value, l.ownerExplicit])).toEqual([
      [4, 'ns1.x.test', 'A', '127.0.0.1', true],
      [5, 'web-01.x.test', 'A', '198.51.100.11', true],
      [6, 'web-02.x.test', 'A', '198.51.100.12', true],
      [8, 'db-01.x.test', 'A', '198.51.100.13', true],
      [9, 'shop.x.test', 'CNAME', 'web-01.x.test', true],
      [10, 'web-03.x.test', 'A', '198.51.100.15', true],
      [12, 'app.sub.x.test', 'A', '198.51.100.14', true],
    ]);
  });

  test('moves out exactly the lines of the given records, as comments saying where they went', () => {
    const moved = moveOutHandLines(
      hand,
      'x.test',
      [
        { name: 'web-01.x.test', type: 'A', value: '198.51.100.11' },
        { name: 'shop.x.test', type: 'CNAME', value: 'web-01.x.test' },
        { name: 'web-01.x.test', type: 'A', value: '198.51.100.99' }, // not written: nothing happens
      ],
      '/srv/x.shipshape',
    );
    const before = hand.split('\n');
    const after = moved.split('\n');
    expect(after).toHaveLength(before.length);
    const changed = after.flatMap((l, i) => (l === before[i] ? [] : [[i + 1, l]]));
    expect(changed).toEqual([
      [5, '; moved to /srv/x.shipshape (shipshape adopt): web-01   IN A 198.51.100.11 ; by the old pipeline'],
      [9, '; moved to /srv/x.shipshape (shipshape adopt): shop CNAME web-01'],
    ]);
    expect(handLines(moved, 'x.test').map((l) => l.name)).not.toContain('web-01.x.test');
  });

  test('says why a record cannot be moved: a line that gives its owner to the next, or no line of the file', () => {
    expect(whyNotMovable(hand, 'x.test', { name: 'web-01.x.test', type: 'A', value: '198.51.100.11' }, 'db.x')).toBe(
      undefined,
    );
    expect(whyNotMovable(hand, 'x.test', { name: 'web-02.x.test', type: 'A', value: '198.51.100.12' }, 'db.x')).toMatch(
      /line 6 of db\.x \(web-02\.x\.test A\) gives its owner name to line 7/,
    );
    expect(whyNotMovable(hand, 'x.test', { name: 'gen-1.x.test', type: 'A', value: '198.51.100.50' }, 'db.x')).toMatch(
      /is served but is not a line of db\.x/,
    );
  });
});

test('a zone file that includes the fragment by another path is told which line, and why a relative one does not count', () => {
  const zone = '$TTL 1h\n@ IN SOA ns1 h ( 1 1h 15m 1w 1h )\n$INCLUDE shipshape.frag\n';
  expect(includesFragment(zone, '/etc/bind/shipshape.frag')).toBe(false);
  expect(missingIncludeHint(zone, '/etc/bind/shipshape.frag', '/etc/bind/db.x')).toBe(
    '/etc/bind/db.x:3 includes "shipshape.frag", not fragmentPath "/etc/bind/shipshape.frag" (a relative path, which named resolves against its options { directory }); write `$INCLUDE "/etc/bind/shipshape.frag"` there, or set fragmentPath to the file it names',
  );
  expect(missingIncludeHint('$TTL 1h\n', '/etc/bind/shipshape.frag', '/etc/bind/db.x')).toBe(
    '/etc/bind/db.x does not include shipshape\'s fragment; add the line `$INCLUDE "/etc/bind/shipshape.frag"` to it',
  );
});
