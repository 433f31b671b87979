import { startUi } from '../../ui/server';
import type { Io } from '../io';

/** `shipshape ui`: the status page until SIGINT/SIGTERM. */
export async function uiCommand(o: { listen: string; stateDir: string }, io: Io): Promise<number> {
  const ui = await startUi(o.stateDir, o.listen);
  io.err(`status page of ${o.stateDir} at ${ui.url}/ (read-only; Ctrl-C stops it)`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await ui.close();
  return 0;
}
