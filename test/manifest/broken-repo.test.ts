import * as path from 'path';
import { formatDiagnostic, loadRepo } from '../../src/manifest';
import type { Diagnostic } from '../../src/manifest';
import { readMarkers } from './markers';
import type { Expected } from './markers';

const BROKEN = path.join(__dirname, '..', 'fixtures', 'broken-repo');
const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'lab');

function matches(d: Diagnostic, e: Expected): boolean {
  return (
    d.file === e.file &&
    d.line === e.line &&
    d.col === e.col &&
    d.severity === e.severity &&
    d.message.includes(e.substring)
  );
}

describe('the broken-repo fixture', () => {
  let diagnostics: Diagnostic[];
  let expected: Expected[];
  beforeAll(async () => {
    expected = await readMarkers(BROKEN);
    const result = await loadRepo(BROKEN);
    diagnostics = result.diagnostics;
    expect(result.ok).toBe(false);
  });

  it('has planted errors of every kind (the markers are read, not assumed)', () => {
    expect(expected.length).toBeGreaterThanOrEqual(50);
    const files = new Set(expected.map((e) => e.file.split('/')[0]));
    expect([...files].sort()).toEqual(['os', 'profiles', 'roles', 'shipshape.yaml', 'systems']);
  });

  it('reports every planted error at its file:line:col', () => {
    const missing = expected.filter((e) => !diagnostics.some((d) => matches(d, e)));
    const show = missing.map((e) => `${e.file}:${e.line}:${e.col}: ${e.severity}: …${e.substring}…`);
    expect({ missing: show, reported: diagnostics.map(formatDiagnostic) }).toEqual({
      missing: [],
      reported: expect.anything(),
    });
  });

  it('reports nothing that was not planted', () => {
    const unexpected = diagnostics.filter((d) => !expected.some((e) => matches(d, e)));
    expect(unexpected.map(formatDiagnostic)).toEqual([]);
  });

  it('never echoes a literal secret', () => {
    const text = diagnostics.map(formatDiagnostic).join('\n');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('c2VjcmV0');
  });

  it('still expands the valid systems next to the broken ones', async () => {
    const result = await loadRepo(BROKEN);
    const ok = result.systems.find((s) => s.name === 'ok-01');
    expect(ok).toMatchObject({ cpu: 2, memoryMiB: 2048, os: 'debian12', dns: { domain: 'dev.example.com' } });
  });
});

describe('the lab site in examples/lab', () => {
  it('validates cleanly: no errors, no warnings', async () => {
    const result = await loadRepo(EXAMPLE);
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.site?.lab).toBe(true);
    expect(result.systems.map((s) => `${s.name}:${s.state}`)).toEqual([
      'db-dev-01:present',
      'lb-dev-01:present',
      'old-test-01:absent',
      'shop-live-01:present',
      'shop-live-02:present',
      'web-dev-01:present',
      'web-dev-02:present',
    ]);
    expect(Object.keys(result.os).sort()).toEqual(['centos7', 'debian12', 'debian8', 'rocky9']);
    expect(Object.keys(result.roles).sort()).toEqual([
      'app/shop',
      'app/shop-database',
      'baseline/external',
      'baseline/internal',
      'lb/shop',
    ]);
    // The shop-dev environment: database, then web servers, then the load balancer.
    const dependsOn = Object.fromEntries(result.systems.map((s) => [s.name, s.dependsOn ?? []]));
    expect(dependsOn).toMatchObject({
      'db-dev-01': [],
      'web-dev-01': ['db-dev-01'],
      'web-dev-02': ['db-dev-01'],
      'lb-dev-01': ['web-dev-01', 'web-dev-02'],
    });
    expect(result.os.rocky9).toMatchObject({
      family: 'rhel',
      installer: 'kickstart',
      release: '9',
      file: 'os/rocky9/os.yaml',
    });
  });

  it('points only at the local lab on 127.0.0.1 and uses documentation ranges as data', async () => {
    const { site } = await loadRepo(EXAMPLE);
    expect(site?.vms).toMatchObject({ backend: 'vsphere', url: 'https://127.0.0.1:18989/sdk' });
    expect(site?.ipam).toMatchObject({ backend: 'idoit', url: 'http://127.0.0.1:18080/src/jsonrpc.php' });
    expect(site?.cmdb).toMatchObject({ backend: 'idoit', url: 'http://127.0.0.1:18080/src/jsonrpc.php' });
    expect(site?.provisioning?.listen).toBe('127.0.0.1:18088');
    const endpoints = [
      ...site!.dns.zones.map((z) => (z.server as { host: string }).host),
      ...site!.dhcp.servers.map((d) => (d.ssh as { host: string }).host),
    ];
    expect(new Set(endpoints)).toEqual(new Set(['127.0.0.1']));
    expect(site?.dns.zones.map((z) => z.backend).sort()).toEqual(['bind-ssh', 'bind-ssh', 'rfc2136', 'rfc2136']);
    expect(site?.dhcp.servers.map((d) => d.backend).sort()).toEqual(['isc', 'kea']);
    expect(
      Object.values(site!.nets)
        .map((n) => n.cidr)
        .sort(),
    ).toEqual(['198.51.100.0/24', '203.0.113.0/24']);
  });
});
