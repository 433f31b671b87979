import { installProblems } from '../../providers/install/validate';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { loadValid } from '../pipeline';
import { siteNames } from '../sites';

/** `shipshape validate [DIR]`: every error in the repo, each as file:line:col; exit 1 if any. */
export async function validateCommand(dir: string, io: Io): Promise<number> {
  const names = siteNames(dir);
  // A repo with sites/ is validated as a whole once; installer files are rendered per site.
  const loaded = await loadValid(dir, io.err, names?.[0]);
  const all = loaded.repo.sites
    ? loaded.repo.sites.map((sl) => ({ ...loaded.repo, site: sl.site, systems: sl.systems }))
    : [loaded.repo];
  const install = (
    await Promise.all(all.map((repo) => (repo.site ? installProblems({ ...repo, site: repo.site }) : [])))
  ).flat();
  for (const p of install) io.err(`${p.file}: error: ${p.message}`);
  if (install.length)
    throw new ExitError(
      1,
      `${install.length} error${install.length === 1 ? '' : 's'} rendering installer files in ${loaded.dir}: nothing was planned or changed. Fix them and run again.`,
    );
  const systems = all.flatMap((r) => r.systems);
  const n = systems.length;
  const absent = systems.filter((s) => s.state === 'absent').length;
  const sites = names ? `, ${names.length} sites: ${names.join(', ')}` : '';
  io.out(
    `${loaded.dir}: valid (${n} system${n === 1 ? '' : 's'}${absent ? `, ${absent} declared absent` : ''}${sites})\n`,
  );
  return 0;
}
