/**
 * Last line of defence before an error message is stored or sent: credentials in URLs, bearer
 * tokens, `password=`/`secret:` pairs and crypt hashes are cut out. Providers never put secrets in
 * messages in the first place; this catches what a backend echoes back.
 */
export function redact(text: string): string {
  return text
    .replace(/(\w+:\/\/)[^/\s:@]+:[^/\s@]+@/g, '$1(credentials removed)@')
    .replace(/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 (removed)')
    .replace(
      /\b(password|passwd|secret|token|api[_-]?key|apikey)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;}&]+)/gi,
      '$1$2(removed)',
    )
    .replace(/\$(1|5|6|y|2[aby])\$[A-Za-z0-9./=$,]{8,}/g, '(password hash removed)');
}
