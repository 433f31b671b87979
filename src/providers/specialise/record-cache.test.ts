import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostState } from './record';
import { RoleRecordCache, type HostIdentity } from './record-cache';
import type { CompiledRole } from './role-model';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'role-record-cache-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const host: HostIdentity = {
  system: 'web-01',
  instanceUuid: '5029a1b2-0000-4000-8000-00000000abcd',
  bootTime: '2026-12-01T08:00:00.123Z',
  address: '198.51.100.10',
  port: 22,
  user: 'shipshape',
  hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOn',
  installMarker: 'built',
  root: '',
};
const role = (name: string, digest: string, check?: string) =>
  ({ name, digest, steps: [], remove: [], ...(check ? { check } : {}) }) as CompiledRole;
const roles = [role('baseline/internal', 'a'.repeat(64), 'sshd -t'), role('app/shop', 'b'.repeat(64))];
const state: HostState = {
  record: {
    formatVersion: 1,
    managedBy: 'shipshape',
    system: 'web-01',
    roles: {
      'baseline/internal': { digest: 'a'.repeat(64), appliedAt: '2026-12-01T08:01:00Z', remove: [] },
      'app/shop': { digest: 'b'.repeat(64), version: '7.4.1', appliedAt: '2026-12-01T08:01:00Z', remove: [] },
    },
  },
  checks: new Map([['baseline/internal', { code: 1, tail: 'sshd: bad option' }]]),
};
const now = new Date('2026-12-01T09:00:00Z');

test('the same boot of the same machine, reached the same way, gives back what was read, failed check included', () => {
  const cache = new RoleRecordCache(dir);
  cache.put(host, state, roles, now);
  expect(cache.get({ ...host }, roles, true)).toEqual(state);
});

test.each<[string, Partial<HostIdentity>]>([
  ['a power cycle (new boot time)', { bootTime: '2026-12-01T10:00:00Z' }],
  ['the VM made again (new instanceUuid)', { instanceUuid: '5029a1b2-0000-4000-8000-00000000ffff' }],
  ['a reinstall (new host key)', { hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIXx' }],
  ['an adoption (another install marker)', { installMarker: 'adopted' }],
  ['a new address', { address: '198.51.100.11' }],
  ['another login', { user: 'root' }],
])('%s is a miss: the host is read again', (_why, change) => {
  const cache = new RoleRecordCache(dir);
  cache.put(host, state, roles, now);
  expect(cache.get({ ...host, ...change }, roles, true)).toBeUndefined();
});

test('a check is only taken for the role it was run for; without it the host is read (the record alone serves a read-only plan)', () => {
  const cache = new RoleRecordCache(dir);
  cache.put(host, state, roles, now);
  const changedCheck = [
    role('baseline/internal', 'a'.repeat(64), 'sshd -t'),
    role('app/shop', 'b'.repeat(64), 'shop --check'),
  ];
  // app/shop gained a check but kept its digest in this made-up case: no result was kept for it.
  expect(cache.get(host, changedCheck, true)).toBeUndefined();
  expect(cache.get(host, changedCheck, false)).toEqual({ record: state.record, checks: new Map() });
  // A role whose digest moved runs whatever its check says: its check is not needed.
  const moved = [role('baseline/internal', 'c'.repeat(64), 'sshd -t -f x'), roles[1]!];
  expect(cache.get(host, moved, true)).toEqual({ record: state.record, checks: new Map() });
});

test('a torn entry, a foreign state and a forgotten host are misses; nothing is kept for a host without our record', () => {
  const cache = new RoleRecordCache(dir);
  cache.put(host, state, roles, now);
  const [file] = readdirSync(dir);
  writeFileSync(join(dir, file!), '{"version":1,"key":');
  expect(cache.get(host, roles, true)).toBeUndefined();
  cache.put(host, state, roles, now);
  cache.forget(host);
  expect(cache.get(host, roles, true)).toBeUndefined();
  cache.put(host, { foreign: 'not ours', checks: new Map() }, roles, now);
  cache.put(host, { checks: new Map() }, roles, now);
  expect(readdirSync(dir)).toEqual([]);
});
