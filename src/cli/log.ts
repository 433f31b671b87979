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

export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: [...REDACT_KEYS, ...REDACT_KEYS.map((k) => `*.${k}`)], censor: '[redacted]' },
    },
    { write: (line: string) => void writeSync(2, redact(line)) },
  );
}
