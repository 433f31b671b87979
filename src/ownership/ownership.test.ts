import { createHmac } from 'node:crypto';
import { hmacSha256Hex, markerVerified, Sealer } from '.';

const site = new Sealer('prod', Buffer.from('k'.repeat(32)));
const vm = { kind: 'vm', system: 'web-01', resourceId: 'vm-71' };

it('a seal verifies for its own site, kind, system and resource only', () => {
  const s = site.seal(vm);
  expect(site.verify(vm, s)).toBe(true);
  expect(site.verify({ ...vm, resourceId: 'vm-72' }, s)).toBe(false); // copied onto another VM
  expect(site.verify({ ...vm, system: 'db-01' }, s)).toBe(false);
  expect(site.verify({ ...vm, kind: 'dns' }, s)).toBe(false);
  expect(new Sealer('lab', Buffer.from('k'.repeat(32))).verify(vm, s)).toBe(false);
  expect(new Sealer('prod', Buffer.from('other-key-other-key')).verify(vm, s)).toBe(false);
  expect(site.verify(vm, undefined)).toBe(false);
  expect(site.verify(vm, 'v1:forged')).toBe(false);
});

it('a site without a key takes markers at their word; with one, only a seal counts', () => {
  expect(markerVerified(undefined, vm, undefined)).toBe(true);
  expect(markerVerified(site, vm, undefined)).toBe(false);
  expect(markerVerified(site, vm, site.seal(vm))).toBe(true);
});

// Seals already written on VMs, records and CMDB objects must still verify: the same HMAC-SHA256 as Node's.
it('the seal MAC is HMAC-SHA256 as node:crypto computes it, for short, block-sized and long keys', () => {
  for (const key of ['k', 'x'.repeat(64), 'a longer key than one SHA-256 block, '.repeat(4), 'ümlaut-schlüssel'])
    for (const m of ['', 'shipshape-ownership\0v1\0site\0vm\0web-01\0vm-42', '✓ \u2028'])
      expect(hmacSha256Hex(Buffer.from(key))(m)).toBe(createHmac('sha256', Buffer.from(key)).update(m).digest('hex'));
});
