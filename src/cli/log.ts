/**
 * Structured logs (pino) to stderr, for the run log of CI and `serve`. Every line passes the
 * redaction layer (URL userinfo, resolved secret values) on its way out; key-name redaction is a
 * further line: providers never put secrets in log objects in the first place.
 */
import { writeSync } from 'node:fs';
import { redact } from '../redact';
import type { Logger } from '../engine/contract';

export const REDACT_KEYS = ['password', 'apiKey', 'apikey', 'secret', 'privateKey', 'token', 'authorization', 'cookie'];

const LABELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warning',
  50: 'error',
  60: 'fatal',
};

/** pino's levels: an entry below the chosen one is dropped before any work. */
const THRESHOLDS: Record<string, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

/**
 * `json`: one pino object per line (CI and `serve` run logs). `text` (default): one human line per
 * entry, `warning: <message> (key=value, …)`, from the same redacted object. pino is loaded and set
 * up at the first entry at or above the level: most commands (a no-op plan) write none, and loading
 * it was a fiftieth of such a plan's CPU.
 */
export function createLogger(level: string, format: 'text' | 'json' = 'text'): Logger {
  const threshold = THRESHOLDS[level];
  // A level pino does not know: pino's own error, at once, as before.
  if (threshold === undefined) return pinoLogger(level, format);
  let made: Logger | undefined;
  const at =
    (value: number, method: keyof Logger) =>
    (...entry: [obj: object | string, msg?: string]): void => {
      if (value < threshold) return;
      // Passed on as given: pino formats a message with an argument it was given, even an undefined one.
      (made ??= pinoLogger(level, format))[method](...entry);
    };
  return { debug: at(20, 'debug'), info: at(30, 'info'), warn: at(40, 'warn'), error: at(50, 'error') };
}

function pinoLogger(level: string, format: 'text' | 'json'): Logger {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded at the first entry, see above
  const pino = require('pino') as typeof import('pino');
  const options = {
    level,
    base: undefined,
    redact: { paths: [...REDACT_KEYS, ...REDACT_KEYS.map((k) => `*.${k}`)], censor: '[redacted]' },
  };
  // Every line passes the redaction layer on its way out.
  if (format === 'json') return pino(options, { write: (line: string) => void writeSync(2, redact(line)) });
  return pino(options, { write: (line: string) => void process.stderr.write(humanLine(redact(line))) });
}

export function humanLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { level, time, msg, ...rest } = o;
  void time;
  const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${LABELS[level as number] ?? 'log'}: ${typeof msg === 'string' ? msg : ''}${extra.length ? ` (${extra.join(', ')})` : ''}\n`;
}
