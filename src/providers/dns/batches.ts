/**
 * Splitting one deploy into requests a server accepts: the DNS backends that send a zone's changes over
 * the wire (PowerDNS's PATCH body, an RFC 2136 UPDATE message) group the systems so each request stays
 * under a size budget, and never split one system's changes across two requests (each lands whole or not).
 */

/** `systems` in order, grouped so each group's summed `cost` stays under `budget`; a system too large alone forms its own group. */
export function groupUnder(systems: string[], cost: (system: string) => number, budget: number): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const s of systems) {
    const c = cost(s);
    if (current.length > 0 && size + c > budget) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(s);
    size += c;
  }
  if (current.length > 0) out.push(current);
  return out;
}
