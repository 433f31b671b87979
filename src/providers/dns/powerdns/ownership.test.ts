/** The pure parts: RRset changes per system, batching under the body budget, the serial bump. */
import type { PdnsRRSet, PdnsZone } from './api';
import { batches } from './backend';
import { bumpSoa, held, markerContent, splitZone, systemChanges, type SystemChanges } from './ownership';

const Z = 'z.test';
const rr = (
  name: string,
  type: string,
  content: string[],
  comments: { account: string; content: string }[] = [],
  disabled = false,
): PdnsRRSet => ({
  name: `${name}.`,
  type,
  ttl: 300,
  records: content.map((c) => ({ content: c, disabled })),
  comments,
});
const mark = (system: string) => ({ account: 'shipshape', content: markerContent(system) });
const zone = (rrsets: PdnsRRSet[]): PdnsZone => ({
  id: `${Z}.`,
  name: `${Z}.`,
  kind: 'Native',
  serial: 1,
  dnssec: false,
  api_rectify: false,
  soa_edit_api: 'DEFAULT',
  rrsets,
});

test('only RRsets with the exact marker are ours; disabled records are not served; the apex is left out', () => {
  const { owned, foreign } = splitZone(
    zone([
      rr(Z, 'SOA', ['ns. h. 1 2 3 4 5']),
      rr(`a.${Z}`, 'A', ['192.0.2.1'], [mark('a')]),
      rr(`b.${Z}`, 'A', ['192.0.2.2'], [{ account: 'someone', content: markerContent('b') }]),
      rr(`c.${Z}`, 'A', ['192.0.2.3'], [], true),
    ]),
  );
  expect([...owned]).toEqual([['a', [{ name: `a.${Z}`, type: 'A', value: '192.0.2.1' }]]]);
  expect(foreign).toEqual([{ name: `b.${Z}`, type: 'A', ttl: 300, value: '192.0.2.2' }]);
});

test('a system may take over a name another system gives up in the same commit, never one the operator holds', () => {
  const now = held(zone([rr(`www.${Z}`, 'CNAME', [`old.${Z}.`], [mark('old')]), rr(`ftp.${Z}`, 'A', ['192.0.2.9'])]));
  const want = [{ name: `www.${Z}`, type: 'A' as const, value: '192.0.2.5' }];
  expect(systemChanges('new', want, [], now, new Set([`www.${Z} CNAME`]))).toEqual({
    deletes: [],
    replaces: [
      {
        name: `www.${Z}.`,
        type: 'A',
        changetype: 'REPLACE',
        ttl: 300,
        records: [{ content: '192.0.2.5', disabled: false }],
        comments: [mark('new')],
      },
    ],
  });
  expect(systemChanges('new', want, [], now, new Set())).toEqual({
    conflict: `www.${Z} is held by CNAME old.${Z}. of system old`,
  });
  expect(systemChanges('new', [{ name: `ftp.${Z}`, type: 'CNAME', value: `new.${Z}` }], [], now, new Set())).toEqual({
    conflict: `ftp.${Z} is held by A 192.0.2.9, not managed by shipshape`,
  });
});

test("a rewrite keeps the operator's own comments on our RRset; a dropped name is deleted; an unchanged RRset is not sent", () => {
  const note = { account: 'ops', content: 'ticket 42' };
  const now = held(
    zone([
      rr(`a.${Z}`, 'A', ['192.0.2.1'], [mark('a'), note]),
      rr(`x.${Z}`, 'CNAME', [`a.${Z}.`], [mark('a')]),
      rr(`y.${Z}`, 'CNAME', [`a.${Z}.`], [mark('a')]),
    ]),
  );
  const before = [
    { name: `a.${Z}`, type: 'A' as const, value: '192.0.2.1' },
    { name: `x.${Z}`, type: 'CNAME' as const, value: `a.${Z}` },
    { name: `y.${Z}`, type: 'CNAME' as const, value: `a.${Z}` },
  ];
  const c = systemChanges(
    'a',
    [{ name: `a.${Z}`, type: 'A', value: '192.0.2.7' }, before[2]!],
    before,
    now,
    new Set(),
  ) as SystemChanges;
  expect(c.deletes).toEqual([{ name: `x.${Z}.`, type: 'CNAME', changetype: 'DELETE' }]);
  expect(c.replaces).toEqual([
    {
      name: `a.${Z}.`,
      type: 'A',
      changetype: 'REPLACE',
      ttl: 300,
      records: [{ content: '192.0.2.7', disabled: false }],
      comments: [mark('a'), note],
    },
  ]);
});

test('batches stay under the body budget and never split a system', () => {
  const changes = new Map<string, SystemChanges>();
  for (let i = 0; i < 6000; i++) {
    const name = `host-${i}.${Z}.`;
    changes.set(`host-${i}`, {
      deletes: [{ name: `old-${i}.${Z}.`, type: 'CNAME', changetype: 'DELETE' }],
      replaces: [
        {
          name,
          type: 'A',
          changetype: 'REPLACE',
          ttl: 300,
          records: [{ content: '192.0.2.1', disabled: false }],
          comments: [mark(`host-${i}`)],
        },
      ],
    });
  }
  const out = batches([...changes.keys()], changes);
  expect(out.length).toBe(2);
  expect(out.flat()).toEqual([...changes.keys()]);
  for (const b of out)
    expect(
      JSON.stringify(b.flatMap((s) => [...changes.get(s)!.deletes, ...changes.get(s)!.replaces])).length,
    ).toBeLessThan(1_000_000);
});

test('the serial goes up by one and wraps at 2^32', () => {
  expect(bumpSoa('ns1.z.test. hostmaster.z.test. 2024010101 10800 3600 604800 3600')).toBe(
    'ns1.z.test. hostmaster.z.test. 2024010102 10800 3600 604800 3600',
  );
  expect(bumpSoa('a. b. 4294967295 1 2 3 4')).toBe('a. b. 0 1 2 3 4');
});
