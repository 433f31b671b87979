/** Where a command writes: injectable so tests run commands in-process and read what they print. */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Io {
  out(text: string): void;
  err(line: string): void;
  isTty: boolean;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (line) => process.stderr.write(line + '\n'),
  isTty: !!process.stdout.isTTY && !process.env.NO_COLOR,
};

export function writeOut(io: Io, text: string, file?: string): void {
  if (!file) return io.out(text);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  io.err(`wrote ${file}`);
}

export function readJsonFile<T>(file: string, fallback: T): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return fallback;
  }
}

export function writeJsonFile(file: string, data: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file + '.tmp', JSON.stringify(data, null, 2));
  renameSync(file + '.tmp', file);
}
