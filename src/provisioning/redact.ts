/** Installer logs may echo the answer file: password hashes and the token are cut out before a log is kept or shown. */
export function redactLog(log: string, token: string): string {
  return log
    .replace(/\$(1|5|6|y|2[aby])\$[A-Za-z0-9./=$,]{8,}/g, '(password hash removed)')
    .split(token)
    .join('(token removed)');
}
