/**
 * For merge requests: which systems a change touches. A system is affected when its own manifest,
 * any profile in its chain, its OS entry, a role it uses, or the site config changed between
 * the base and HEAD.
 */
import { execFile } from 'node:child_process';
import type { DesiredSystem } from '../manifest/types';
import { UserError } from '../engine/contract';

export function changedFiles(dir: string, base: string): Promise<string[]> {
  return new Promise((resolve, reject) =>
    execFile(
      'git',
      ['diff', '--name-only', '--relative', '--no-renames', `${base}...HEAD`, '--'],
      { cwd: dir, timeout: 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err)
          return reject(
            new UserError(
              `cannot compare with ${base} in ${dir}: ${stderr.trim().split('\n')[0] || err.message}; fetch the base ref first (e.g. git fetch origin ${base})`,
            ),
          );
        resolve(stdout.split('\n').filter(Boolean));
      },
    ),
  );
}

/** The files a system's expanded form depends on. */
export function filesOf(system: DesiredSystem): Set<string> {
  const files = new Set<string>([system.file]);
  for (const s of Object.values(system.sources)) files.add(s.file);
  for (const r of system.roles) files.add(`roles/${r.name}/`);
  files.add(`os/${system.os}/`);
  return files;
}

export function affectedSystems(systems: DesiredSystem[], changed: string[]): Set<string> {
  if (changed.includes('shipshape.yaml')) return new Set(systems.map((s) => s.name));
  // A changed profile may reach a system through its chain without contributing a value it still
  // uses: count every system with a profile (a wider scope costs nothing: unchanged ones plan as noop).
  const profileChanged = changed.some((c) => c.startsWith('profiles/'));
  const out = new Set<string>();
  for (const s of systems) {
    const deps = [...filesOf(s)];
    if (profileChanged && s.profile) out.add(s.name);
    else if (changed.some((c) => deps.some((d) => (d.endsWith('/') ? c.startsWith(d) : c === d)))) out.add(s.name);
    else if (s.environment && changed.some((c) => c.startsWith('environments/'))) out.add(s.name);
  }
  // A system whose roles use values of an affected system (cross-references, dependsOn) is affected too.
  for (let grew = true; grew;) {
    grew = false;
    for (const s of systems)
      if (!out.has(s.name) && (s.dependsOn ?? []).some((d) => out.has(d))) grew = !!out.add(s.name);
  }
  return out;
}
