import { resolve } from 'node:path';
import { formatDiagnostic, loadRepo, reportedOnce } from '../../manifest';
import { installProblems } from '../../providers/install/validate';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { siteNames } from '../sites';

/**
 * `shipshape validate [DIR]`: every error in the repo, each as file:line:col; exit 1 if any. The
 * installer files are rendered for every system whose own files have no error, also when other files
 * have some: one run shows both kinds.
 */
export async function validateCommand(dir: string, io: Io): Promise<number> {
  const names = siteNames(dir);
  const abs = resolve(dir);
  // A repo with sites/ is validated as a whole once; installer files are rendered per site.
  const repo = await loadRepo(abs, names?.[0] === undefined ? {} : { site: names[0] });
  const shown = reportedOnce(repo.diagnostics);
  for (const d of shown) io.err(formatDiagnostic(d));
  // Which files have errors: every system's, also those a shared cause's one line names.
  const dirty = new Set(repo.diagnostics.filter((d) => d.severity === 'error').map((d) => d.file));
  const errors = shown.filter((d) => d.severity === 'error');
  const clean = (s: (typeof repo.systems)[number]) =>
    !dirty.has(s.file) && !Object.values(s.sources).some((at) => dirty.has(at.file));
  const all = repo.sites ? repo.sites.map((sl) => ({ site: sl.site, systems: sl.systems })) : [repo];
  const install = (
    await Promise.all(
      all.map((sl) => (sl.site ? installProblems({ ...repo, site: sl.site, systems: sl.systems.filter(clean) }) : [])),
    )
  ).flat();
  for (const p of install) io.err(`${p.file}: error: ${p.message}`);
  const n = errors.length + install.length;
  if (n || !repo.ok)
    throw new ExitError(
      1,
      `${n} error${n === 1 ? '' : 's'} in ${abs}${install.length ? ` (${install.length} rendering installer files)` : ''}: nothing was planned or changed. Fix them and run again.`,
    );
  const systems = all.flatMap((r) => r.systems);
  const count = systems.length;
  const absent = systems.filter((s) => s.state === 'absent').length;
  const sites = names ? `, ${names.length} sites: ${names.join(', ')}` : '';
  io.out(
    `${abs}: valid (${count} system${count === 1 ? '' : 's'}${absent ? `, ${absent} declared absent` : ''}${sites})\n`,
  );
  return 0;
}
