/**
 * Structured logs (pino) to stderr, for the run log of CI and `serve`. Every line passes the
 * redaction layer (URL userinfo, resolved secret values) on its way out; key-name redaction is a
 * further line: providers never put secrets in log objects in the first place.
 */
import { writeSync } from 'node:fs';
import pino from 'pino';
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

/**
 * `json`: one pino object per line (CI and `serve` run logs). `text` (default): one human line per
 * entry, `warning: <message> (key=value, …)`, from the same redacted object.
 */
export function createLogger(level: string, format: 'text' | 'json' = 'text'): Logger {
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
