/**
 * Logs to stderr: human lines by default (`warn: message key=value …`), pino JSON lines with
 * `--log-format json` (for a log shipper). Secrets are redacted by key name as a second line of
 * defence: providers never put them in log objects in the first place.
 */
import pino from 'pino';
import type { Logger } from '../engine/contract';

export const REDACT_KEYS = ['password', 'apiKey', 'apikey', 'secret', 'privateKey', 'token', 'authorization', 'cookie'];

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Turns one pino JSON line into `level: msg key=value …`. */
export function humanLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const { level, time: _t, msg, ...rest } = o;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return [`${LEVELS[level as number] ?? level}:`, msg ?? '', ...fields].filter((x) => x !== '').join(' ');
}

export function createLogger(level: string, format: 'text' | 'json' = 'text', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const options = { level, base: undefined, redact: { paths: [...REDACT_KEYS, ...REDACT_KEYS.map((k) => `*.${k}`)], censor: '[redacted]' } };
  if (format === 'json') return pino(options, pino.destination(2));
  return pino({ ...options, timestamp: false }, { write: (s: string) => write(humanLine(s)) });
}
