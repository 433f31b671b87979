/**
 * Structured logs (pino) to stderr, for the run log of CI and `serve`. Secrets are redacted by key
 * name as a second line of defence: providers never put them in log objects in the first place.
 */
import pino from 'pino';
import type { Logger } from '../engine/contract';

export const REDACT_KEYS = ['password', 'apiKey', 'apikey', 'secret', 'privateKey', 'token', 'authorization', 'cookie'];

const LABELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };

/**
 * `json`: one pino object per line (CI and `serve` run logs). `text` (default): one human line per
 * entry, `warning: <message> (key=value, …)`, from the same redacted object.
 */
export function createLogger(level: string, format: 'text' | 'json' = 'text'): Logger {
  const options = { level, base: undefined, redact: { paths: [...REDACT_KEYS, ...REDACT_KEYS.map((k) => `*.${k}`)], censor: '[redacted]' } };
  if (format === 'json') return pino(options, pino.destination(2));
  return pino(options, { write: (line: string) => void process.stderr.write(humanLine(line)) });
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
