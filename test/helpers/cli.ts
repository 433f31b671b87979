/** Runs the CLI in-process and captures what an operator would see. */
import { main } from '../../src/cli/main';
import type { Io } from '../../src/cli/io';

export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (l) => void (err += l + '\n'), isTty: false };
  const code = await main(['node', 'shipshape', ...args], io);
  return { code, out, err };
}
