/**
 * Text formats: the zone fragment shipshape owns (render + parse), the SOA serial of the operator's zone
 * file (find + bump), and `dig AXFR` output (parse).
 */
import { DEFAULT_TTL, normalName, type DnsRecord, type RecordType } from './records';

export const FRAGMENT_HEADER = '; shipshape-managed fragment';

/** One block per system, sorted, absolute names: the fragment reads the same whatever $ORIGIN includes it. */
export function renderFragment(zone: string, bySystem: Map<string, DnsRecord[]>, commit?: string): string {
  const lines = [
    `${FRAGMENT_HEADER} for zone ${zone}${commit ? ` (commit ${commit})` : ''}.`,
    '; Owned by shipshape: rewritten wholesale on every apply; hand edits here are undone as drift.',
    '; Put your own records in the main zone file, which $INCLUDEs this one.',
  ];
  for (const system of [...bySystem.keys()].sort()) {
    const recs = bySystem.get(system)!;
    if (recs.length === 0) continue;
    lines.push(`; system ${system}`);
    for (const r of recs) {
      const value = r.type === 'A' ? r.value : `${r.value}.`;
      lines.push(`${r.name}.\t${DEFAULT_TTL}\tIN\t${r.type}\t${value}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** The systems whose blocks hold the given 1-based line numbers of a rendered fragment. */
export function systemsOnLines(fragment: string, lines: number[]): Set<string> {
  const owner: (string | undefined)[] = [];
  let system: string | undefined;
  for (const l of fragment.split('\n')) {
    const m = /^; system (\S+)/.exec(l);
    if (m) system = m[1];
    owner.push(system);
  }
  return new Set(lines.map((n) => owner[n - 1]).filter((s): s is string => !!s));
}

/** Records of a fragment we rendered, by system (lines without a `; system` block go to the name's first label). */
export function parseFragment(text: string): Map<string, DnsRecord[]> {
  const out = new Map<string, DnsRecord[]>();
  let system: string | undefined;
  for (const raw of text.split('\n')) {
    const sys = /^;\s*system\s+(\S+)/.exec(raw);
    if (sys) {
      system = sys[1]!;
      continue;
    }
    const line = raw.replace(/;.*$/, '').trim();
    if (!line || line.startsWith('$')) continue;
    const t = line.split(/\s+/);
    const typeAt = t.findIndex((x, i) => i > 0 && ['A', 'PTR', 'CNAME'].includes(x.toUpperCase()));
    if (typeAt < 0 || !t[typeAt + 1]) continue;
    const r: DnsRecord = {
      name: normalName(t[0]!),
      type: t[typeAt]!.toUpperCase() as RecordType,
      value: normalName(t[typeAt + 1]!),
    };
    const owner = system ?? (r.type === 'A' ? r.name : r.value).split('.')[0]!;
    out.set(owner, [...(out.get(owner) ?? []), r]);
  }
  return out;
}

export interface SoaSerial {
  serial: number;
  /** Offset and length of the serial's digits in the text. */
  at: number;
  length: number;
}

/** The SOA serial of a zone file (comments skipped; the SOA may span lines in parentheses). */
export function findSoaSerial(text: string): SoaSerial | undefined {
  // Tokens with their offsets, comments and parentheses dropped.
  const tokens: { t: string; at: number }[] = [];
  const re = /;[^\n]*|"(?:[^"\\]|\\.)*"|[()]|[^\s;()"]+/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].startsWith(';') || m[0] === '(' || m[0] === ')') continue;
    tokens.push({ t: m[0], at: m.index });
  }
  const i = tokens.findIndex((x) => x.t.toUpperCase() === 'SOA');
  const tok = i >= 0 ? tokens[i + 3] : undefined;
  if (!tok || !/^\d+$/.test(tok.t)) return undefined;
  return { serial: Number(tok.t), at: tok.at, length: tok.t.length };
}

/** The next serial: above both the file's and the served one; YYYYMMDDnn serials move to today's date. */
export function nextSerial(fileSerial: number, servedSerial: number, now = new Date()): number {
  const base = Math.max(fileSerial, servedSerial);
  const today = Number(now.toISOString().slice(0, 10).replace(/-/g, '')) * 100;
  const dateLike = fileSerial >= 1990010100 && fileSerial <= 2199123199;
  const next = dateLike ? Math.max(base + 1, today) : base + 1;
  if (next > 0xffffffff) throw new Error(`SOA serial ${base} cannot grow any further; reset it by hand (RFC 1982)`);
  return next;
}

export function replaceSerial(text: string, s: SoaSerial, serial: number): string {
  return text.slice(0, s.at) + String(serial) + text.slice(s.at + s.length);
}

/** True when the zone file $INCLUDEs exactly this path (quoted or not). */
export function includesFragment(zoneText: string, fragmentPath: string): boolean {
  return zoneText.split('\n').some((l) => {
    const m = /^\$INCLUDE\s+("([^"]+)"|(\S+))/i.exec(l.trim());
    return !!m && (m[2] ?? m[3]) === fragmentPath;
  });
}

/**
 * What to tell an operator whose zone file does not `$INCLUDE` the fragment by its absolute path: an
 * `$INCLUDE` of a file of the same name by another path (a relative one is resolved by named against
 * `options { directory }`, which shipshape does not read) is named with its line; else the line to add.
 */
export function missingIncludeHint(zoneText: string, fragmentPath: string, zoneFile: string): string {
  const base = fragmentPath.slice(fragmentPath.lastIndexOf('/') + 1);
  const lines = zoneText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\$INCLUDE\s+("([^"]+)"|(\S+))/i.exec(lines[i]!.trim());
    const path = m ? (m[2] ?? m[3])! : undefined;
    if (path && path !== fragmentPath && path.slice(path.lastIndexOf('/') + 1) === base)
      return `${zoneFile}:${i + 1} includes "${path}", not fragmentPath "${fragmentPath}"${path.startsWith('/') ? '' : ' (a relative path, which named resolves against its options { directory })'}; write \`$INCLUDE "${fragmentPath}"\` there, or set fragmentPath to the file it names`;
  }
  return `${zoneFile} does not include shipshape's fragment; add the line \`$INCLUDE "${fragmentPath}"\` to it`;
}

/** The same zone text with its $INCLUDE of our fragment pointed somewhere else (for checking a candidate). */
export function redirectInclude(zoneText: string, fragmentPath: string, to: string): string {
  return zoneText
    .split('\n')
    .map((l) => {
      const m = /^(\s*\$INCLUDE\s+)("([^"]+)"|(\S+))(.*)$/i.exec(l);
      return m && (m[3] ?? m[4]) === fragmentPath ? `${m[1]}"${to}"${m[5]}` : l;
    })
    .join('\n');
}

export class AxfrError extends Error {
  override readonly name = 'AxfrError';
}

/** One A, PTR or CNAME record written as a line of the operator's zone file (names absolute, lower case). */
export interface HandLine {
  /** 0-based line number in the zone file's text. */
  line: number;
  name: string;
  type: RecordType;
  value: string;
  /** The line names its owner (a line starting with blank space inherits the previous line's owner). */
  ownerExplicit: boolean;
}

const absName = (tok: string, origin: string): string =>
  tok === '@' ? origin : tok.endsWith('.') ? normalName(tok) : normalName(`${tok}.${origin}`);

/**
 * The A, PTR and CNAME records the operator's zone file writes on lines of their own (RFC 1035 §5.1
 * master file syntax: `$ORIGIN`, `@`, relative names, a blank owner that repeats the previous one,
 * TTL and class in either order). Records inside parentheses, from `$INCLUDE`d files or `$GENERATE`
 * are not lines of this file and are not listed.
 */
export function handLines(text: string, apex: string): HandLine[] {
  const out: HandLine[] = [];
  let origin = normalName(apex);
  let owner: string | undefined;
  let depth = 0;
  text.split('\n').forEach((raw, i) => {
    const bare = raw.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/;.*$/, '');
    const opens = (bare.match(/\(/g) ?? []).length - (bare.match(/\)/g) ?? []).length;
    const inside = depth > 0;
    depth = Math.max(0, depth + opens);
    if (inside || !bare.trim()) return;
    const t = bare.trim().split(/\s+/);
    if (t[0]!.startsWith('$')) {
      if (t[0]!.toUpperCase() === '$ORIGIN' && t[1]) origin = absName(t[1], origin);
      return;
    }
    const explicit = !/^\s/.test(bare);
    if (explicit) owner = absName(t.shift()!, origin);
    if (!owner) return;
    // A TTL is seconds or units in any combination (`1h30m`, `1W2D`: BIND's TTL syntax).
    while (t.length && (/^(\d+|(\d+[smhdw])+)$/i.test(t[0]!) || /^(IN|CH|HS)$/i.test(t[0]!))) t.shift();
    const type = t[0]?.toUpperCase();
    if ((type !== 'A' && type !== 'PTR' && type !== 'CNAME') || t.length !== 2 || opens !== 0) return;
    const value = type === 'A' ? t[1]! : absName(t[1]!, origin);
    out.push({ line: i, name: owner, type, value, ownerExplicit: explicit });
  });
  return out;
}

const lineKey = (r: { name: string; type: string; value: string }) => `${r.name} ${r.type} ${r.value}`;

/**
 * Why a record the server serves cannot be moved out of the zone file by editing one line of it,
 * or undefined when it can: it is no line of this file (an `$INCLUDE`d file, `$GENERATE`), or the
 * next line inherits its owner from it (removing it would give that line another owner).
 */
export function whyNotMovable(
  text: string,
  apex: string,
  record: { name: string; type: string; value: string },
  zoneFile: string,
  lines: HandLine[] = handLines(text, apex),
): string | undefined {
  const mine = lines.filter((l) => lineKey(l) === lineKey(record));
  if (mine.length === 0)
    return `${record.name} ${record.type} ${record.value} is served but is not a line of ${zoneFile} (an $INCLUDEd file or $GENERATE?); move it into ${zoneFile} or remove it by hand`;
  const all = text.split('\n');
  for (const l of mine) {
    if (!l.ownerExplicit) continue;
    const next = all.findIndex((x, i) => i > l.line && x.replace(/;.*$/, '').trim() !== '');
    const heir = next >= 0 ? all[next]! : '';
    // An A record on the inheriting line belongs to the same host, so it moves along with this one.
    const sameHost = lines.some((x) => x.line === next && x.type === 'A' && record.type === 'A');
    if (/^\s/.test(heir) && !heir.trim().startsWith('$') && !sameHost)
      return `line ${l.line + 1} of ${zoneFile} (${record.name} ${record.type}) gives its owner name to line ${next + 1}; write the owner name on line ${next + 1} too, then adopt again`;
  }
  return undefined;
}

/**
 * The zone file with the lines that write these records turned into comments saying where they went
 * (shipshape's fragment holds them now). Only lines whose record equals one of `records` change.
 */
export function moveOutHandLines(text: string, apex: string, records: DnsRecord[], fragmentPath: string): string {
  const wanted = new Set(records.map(lineKey));
  const drop = new Set(
    handLines(text, apex)
      .filter((l) => wanted.has(lineKey(l)))
      .map((l) => l.line),
  );
  if (drop.size === 0) return text;
  return text
    .split('\n')
    .map((l, i) => (drop.has(i) ? `; moved to ${fragmentPath} (shipshape adopt): ${l.trim()}` : l))
    .join('\n');
}
