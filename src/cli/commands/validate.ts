import type { Io } from '../io';
import { loadValid } from '../pipeline';

/** `shipshape validate [DIR]`: every error in the repo, each as file:line:col; exit 1 if any. */
export async function validateCommand(dir: string, io: Io): Promise<number> {
  const loaded = await loadValid(dir, io.err);
  const n = loaded.repo.systems.length;
  const absent = loaded.repo.systems.filter((s) => s.state === 'absent').length;
  io.out(`${loaded.dir}: valid (${n} system${n === 1 ? '' : 's'}${absent ? `, ${absent} declared absent` : ''})\n`);
  return 0;
}
