/** What `shipshape import` writes under `dns:` from the operator's records of a host (the e2e is test/e2e/adopt.test.ts). */
import type { ObservedResource } from '../../engine/contract';
import { manifestText } from '../../import/manifest';
import { dnsOf } from './import';

const host = (fqdn: string, aliases: string[]): ObservedResource =>
  ({
    kind: 'dns',
    system: fqdn.split('.')[0]!,
    id: fqdn,
    owned: false,
    fields: { fqdn, a: '198.51.100.7', ptr: null, aliases },
  }) as ObservedResource;

test("CNAMEs in the system's domain become bare aliases, others keep their full name; the net's domain is not written", () => {
  const found = [
    host('app-07.dev.example.com', ['shop.dev.example.com', 'www.shop.dev.example.com', 'app.live.example.com']),
  ];
  expect(dnsOf(found, 'dev.example.com')).toEqual({
    aliases: ['shop', 'www.shop.dev.example.com', 'app.live.example.com'],
  });
});

test("a host in another domain than its net's: the domain is written; of two hosts of the name, the one in the net's domain", () => {
  expect(dnsOf([host('app-07.live.example.com', [])], 'dev.example.com')).toEqual({ domain: 'live.example.com' });
  expect(
    dnsOf(
      [host('app-07.live.example.com', ['x.live.example.com']), host('app-07.dev.example.com', ['y.dev.example.com'])],
      'dev.example.com',
    ),
  ).toEqual({ aliases: ['y'] });
  expect(dnsOf([host('app-07.dev.example.com', [])], 'dev.example.com')).toBeUndefined();
  expect(dnsOf([], 'dev.example.com')).toBeUndefined();
});

test('the manifest carries them under spec.dns', () => {
  const text = manifestText(
    {
      name: 'app-07',
      values: { cpu: 2, memoryMiB: 2048, disks: [{ sizeGiB: 20 }] },
      found: [],
      unmapped: [],
      dns: { domain: 'live.example.com', aliases: ['shop'] },
    },
    [],
    new Date('2026-12-01T00:00:00Z'),
  );
  expect(text).toMatch(/\n {2}dns:\n {4}domain: live\.example\.com\n {4}aliases:\n {6}- shop\n/);
});
