/** Where a command writes: injectable so tests run commands in-process and read what they print. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { corruptMessage, readStateFile, shape, writeJsonAtomic } from '../engine/state-file';
import { dirname } from 'node:path';
import { redact, redactDeep } from '../redact';
import { askOnTerminal } from './confirm';

export interface Io {
  out(text: string): void;
  err(line: string): void;
  isTty: boolean;
  /** Asks a question and returns the answer; only when a person sits at a terminal (interactive apply). */
  ask?: (question: string) => Promise<string>;
}

/** The same Io with everything written passing the redaction layer: every command's output goes through this. */
export function redactingIo(io: Io): Io {
  return {
    out: (text) => io.out(redact(text)),
    err: (line) => io.err(redact(line)),
    isTty: io.isTty,
    ...(io.ask ? { ask: (q: string) => io.ask!(redact(q)) } : {}),
  };
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (line) => process.stderr.write(line + '\n'),
  isTty: !!process.stdout.isTTY && !process.env.NO_COLOR,
  ...(process.stdin.isTTY && process.stderr.isTTY ? { ask: askOnTerminal } : {}),
};

export function writeOut(io: Io, text: string, file?: string): void {
  if (!file) return io.out(text);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, redact(text));
  io.err(`wrote ${file}`);
}

/**
 * A JSON object kept between runs (applied commits, drift history): `fallback` when missing; a
 * corrupt one is moved aside with a warning and starts again from `fallback` (src/engine/state-file.ts).
 */
export function readJsonFile<T>(
  file: string,
  fallback: T,
  warn: (m: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
): T {
  const r = readStateFile<T>(file, (v) => (shape.object(v) ? undefined : 'not a JSON object'));
  if (r.status === 'ok') return r.value;
  if (r.status === 'corrupt') warn(`${corruptMessage(file, r)}; starting it afresh`);
  return fallback;
}

export function writeJsonFile(file: string, data: unknown): void {
  writeJsonAtomic(file, redactDeep(data));
}
