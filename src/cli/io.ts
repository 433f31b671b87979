/** Where a command writes: injectable so tests run commands in-process and read what they print. */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { redact } from '../redact';

export interface Io {
  out(text: string): void;
  err(line: string): void;
  isTty: boolean;
}

/** The same Io with everything written passing the redaction layer: every command's output goes through this. */
export function redactingIo(io: Io): Io {
  return { out: (text) => io.out(redact(text)), err: (line) => io.err(redact(line)), isTty: io.isTty };
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (line) => process.stderr.write(line + '\n'),
  isTty: !!process.stdout.isTTY && !process.env.NO_COLOR,
};

export function writeOut(io: Io, text: string, file?: string): void {
  if (!file) return io.out(text);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, redact(text));
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
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file + '.tmp', redact(JSON.stringify(data, null, 2)), { mode: 0o600 });
  renameSync(file + '.tmp', file);
}
