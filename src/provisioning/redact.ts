import { redact } from '../redact';

/** Installer logs may echo the answer file: password hashes, the token and anything the redaction layer knows are cut out before a log is kept or shown. */
export function redactLog(log: string, token: string): string {
  return redact(log)
    .replace(/\$(1|5|6|y|2[aby])\$[A-Za-z0-9./=$,]{8,}/g, '(password hash removed)')
    .split(token)
    .join('(token removed)');
}
