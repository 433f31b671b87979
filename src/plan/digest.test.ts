import { actionDigests, digest, digestTexts } from './digest';

// A plan saved before the digests were built from memoised texts must still apply: same digests.
test('the desired digest is the digest of { system without sources, desired, site without root }, texts memoised or not', () => {
  const site = { root: '/repo', nets: { 'dev-net': { cidr: '198.51.100.0/24' } }, lab: true, zones: [{ b: 1, a: 2 }] };
  const system = {
    name: 'web-01',
    cpu: 2,
    sources: { cpu: { file: 'x', line: 1, col: 1 } },
    labels: { z: '1', a: '2' },
  };
  const texts = digestTexts();
  for (const desired of [{ cpu: 2, mac: '00:50:56:00:00:01' }, null, undefined, 'x']) {
    const want = digest({
      system: { name: 'web-01', cpu: 2, labels: { z: '1', a: '2' } },
      desired,
      site: { ...site, root: undefined },
    });
    expect(actionDigests({ found: [], resolved: {}, desired, system, site, texts }).desiredDigest).toBe(want);
    expect(actionDigests({ found: [], resolved: {}, desired, system, site }).desiredDigest).toBe(want);
  }
});

test('the observed digest leaves out handles and the VM boot time, and nothing else', () => {
  const found = [{ kind: 'vm', system: 'web-01', id: 'vm-1', fields: { cpu: 2 }, handle: { ref: 'vm-1' } }];
  const base = { found, desired: null, system: { name: 'web-01', sources: {} }, site: {} };
  const at = (resolved: unknown) => actionDigests({ ...base, resolved }).observedDigest;
  expect(at({ ip: '198.51.100.10', vmBootTime: '2026-12-01T08:00:00Z' })).toBe(at({ ip: '198.51.100.10' }));
  expect(at({ ip: '198.51.100.10' })).not.toBe(at({ ip: '198.51.100.11' }));
  expect(at(undefined)).toBe(digest({ resources: [{ kind: 'vm', system: 'web-01', id: 'vm-1', fields: { cpu: 2 } }] }));
});
