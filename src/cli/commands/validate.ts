import { installProblems } from '../../providers/install/validate';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { loadValid } from '../pipeline';

/** `shipshape validate [DIR]`: every error in the repo, each as file:line:col; exit 1 if any. */
export async function validateCommand(dir: string, io: Io): Promise<number> {
  const loaded = await loadValid(dir, io.err);
  // Installer files must render from the manifests: a value that cannot be written safely is a validation error.
  const install = await installProblems(loaded.repo);
  for (const p of install) io.err(`${p.file}: error: ${p.message}`);
  if (install.length)
    throw new ExitError(
      1,
      `${install.length} error${install.length === 1 ? '' : 's'} rendering installer files in ${loaded.dir}: nothing was planned or changed. Fix them and run again.`,
    );
  const n = loaded.repo.systems.length;
  const absent = loaded.repo.systems.filter((s) => s.state === 'absent').length;
  io.out(`${loaded.dir}: valid (${n} system${n === 1 ? '' : 's'}${absent ? `, ${absent} declared absent` : ''})\n`);
  return 0;
}
