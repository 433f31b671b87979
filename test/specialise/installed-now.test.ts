/**
 * A system this run's install step installed from scratch gets its roles with one command on it (no
 * read of a record it cannot hold yet); a second run of the step in the same process (a retry) reads
 * what the first left, as every later run does.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ProviderContext, Resolved } from '../../src/engine/contract';
import { formatDiagnostic, loadRepo } from '../../src/manifest';
import { SpecialiseProvider } from '../../src/providers/specialise/provider';
import { startSshdHosts, type TestHosts } from '../helpers/sshd-hosts';
import { ADDRESSES, captureLog, SpecialiseLab, stopSpecialiseLab } from './lab';

let net: TestHosts;
let lab: SpecialiseLab;

beforeAll(async () => {
  net = await startSshdHosts([ADDRESSES[0]!], { recordCommands: true });
  lab = new SpecialiseLab(net);
  lab.system(0, '[baseline/internal]');
});
afterAll(async () => {
  await stopSpecialiseLab(lab, net);
});

test('a system installed in this run: its roles in one command; a retry reads the record first', async () => {
  const repo = await loadRepo(lab.repo);
  if (!repo.ok || !repo.site) throw new Error(repo.diagnostics.map(formatDiagnostic).join('\n'));
  const provider = new SpecialiseProvider({ site: repo.site, roles: repo.roles, systems: repo.systems });
  const ctx: ProviderContext = { site: repo.site, log: captureLog([]), lab: true };
  const system = repo.systems[0]!;
  const resolved: Resolved = {
    ip: ADDRESSES[0]!,
    mac: system.network.mac,
    hostKey: net.hosts[0]!.hostPub,
    installedNow: true,
  };
  const desired = provider.desired(system, resolved)!;
  try {
    const first = await provider.create(system, desired, resolved, ctx);
    expect(Object.keys(first.fields)).toEqual(['roles.baseline/internal']);
    expect(existsSync(join(lab.root(0), 'var/lib/shipshape/roles.json'))).toBe(true);
    // The role's batch only, fed to `sh -s`: no read before it.
    expect(net.commands()).toEqual(['/bin/sh -s']);

    await provider.update(system, desired, first, [], resolved, ctx);
    const again = net.commands().slice(1);
    // The retry reads the record (and runs the checks) and finds the role holding: nothing else runs.
    expect(again).toHaveLength(1);
    expect(again[0]).toContain('var/lib/shipshape/roles.json');
  } finally {
    await provider.close();
  }
});
