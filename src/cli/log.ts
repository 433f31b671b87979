/**
 * Structured logs (pino) to stderr, for the run log of CI and `serve`. Secrets are redacted by key
 * name as a second line of defence: providers never put them in log objects in the first place.
 */
import pino from 'pino';
import type { Logger } from '../engine/contract';

export const REDACT_KEYS = ['password', 'apiKey', 'apikey', 'secret', 'privateKey', 'token', 'authorization', 'cookie'];

export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: [...REDACT_KEYS, ...REDACT_KEYS.map((k) => `*.${k}`)], censor: '[redacted]' },
    },
    pino.destination(2),
  );
}
