/** Runs the CLI in-process and captures what an operator would see, or gives the command line of its own process. */
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import type { Io } from '../../src/cli/io';

export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (l) => void (err += l + '\n'), isTty: false };
  const code = await main(['node', 'shipshape', ...args], io);
  return { code, out, err };
}

/**
 * The arguments after `process.execPath` that run the CLI as its own process, as an operator, a CI job or
 * a second host runs it (the TypeScript sources, through ts-register): `spawn(process.execPath, cliArgs(…))`.
 */
export function cliArgs(...args: string[]): string[] {
  return ['-r', join(__dirname, 'ts-register.js'), join(__dirname, '..', '..', 'src', 'cli', 'run.ts'), ...args];
}
