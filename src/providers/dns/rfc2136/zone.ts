/**
 * RFC 2136 dynamic updates signed with TSIG, sent by ISC's `nsupdate` (see dns-tools.ts for why).
 * Ownership as external-dns does it: beside every name we manage, a TXT record at `_shipshape.<name>`
 * says `heritage=shipshape,shipshape/system=<name>`. Every change carries prerequisites, so a name
 * someone else owns is never overwritten: a new name must be free, an owned name must still carry our
 * TXT record. One UPDATE message is atomic; the changes of a zone go in as few messages as the 64 KiB
 * limit allows (a system's changes never split), and when a prerequisite fails the systems of that
 * message are retried one message each, so only the conflicting ones fail.
 *
 * On a site with `ownership:` (src/ownership) the TXT record also carries `shipshape/seal=<seal>`: an
 * HMAC over the site, the system and the record's name, which anyone who may update the zone cannot
 * compute. A TXT without this site's seal for that name (none, or one copied from another name) does
 * not make the name shipshape's. The prerequisites name the exact sealed text, so an update never
 * lands on a name whose TXT someone replaced. Markers written before the site had `ownership:` are
 * sealed once by `shipshape ownership seal` (`sealMarkers`).
 */
import { UserError } from '../../../engine/contract';
import { markerVerified, type Sealer } from '../../../ownership';
import type { Rfc2136Zone } from './index';
import { allFailed, type BackendDeps, type ZoneBackend, type ZoneObservation } from '../backend';
import { axfr, runLocal, type Tsig } from '../dns-tools';
import { DEFAULT_TTL, MANAGED_TYPES, nameServersOf, normalName, type DnsRecord, type RecordType } from '../records';
import { groupUnder } from '../batches';

export const OWNER_PREFIX = '_shipshape.';
export const ownerTxt = (system: string, seal?: string) =>
  `"heritage=shipshape,shipshape/system=${system}${seal ? `,shipshape/seal=${seal}` : ''}"`;
const MARKER = /heritage=shipshape,shipshape\/system=([a-z0-9-]+)(?:,shipshape\/seal=([A-Za-z0-9:]+))?/;
/** What a name's seal is computed over: the system and the record's name (normalised, no final dot). */
const sealFor = (system: string, name: string) => ({ kind: 'dns', system, resourceId: normalName(name) });
/** The TXT text that marks `name` as `system`'s, sealed when the site has a sealer. */
export const markerText = (system: string, name: string, sealer?: Sealer) =>
  ownerTxt(system, sealer?.seal(sealFor(system, name)));
const PREREQ_FAILURES = ['YXDOMAIN', 'YXRRSET', 'NXDOMAIN', 'NXRRSET'];

export class DnsUpdateError extends UserError {
  constructor(
    message: string,
    readonly rcode: string,
  ) {
    super(message);
  }
}

/** The prerequisite and update lines that move one system from `before` to `after` in one zone. */
export function updateLines(system: string, before: DnsRecord[], after: DnsRecord[], sealer?: Sealer): string[] {
  const lines: string[] = [];
  const names = [...new Set([...before, ...after].map((r) => r.name))].sort();
  for (const name of names) {
    const had = before.filter((r) => r.name === name);
    const want = after.filter((r) => r.name === name);
    const key = (rs: DnsRecord[]) =>
      rs
        .map((r) => `${r.type} ${r.value}`)
        .sort()
        .join('|');
    if (key(had) === key(want)) continue;
    const owner = `${OWNER_PREFIX}${name}.`;
    const txt = markerText(system, name, sealer);
    if (had.length > 0) {
      lines.push(`prereq yxrrset ${owner} TXT ${txt}`);
      for (const t of new Set(had.map((r) => r.type))) lines.push(`update delete ${name}. ${t}`);
      if (want.length === 0) lines.push(`update delete ${owner} TXT`);
    } else {
      const types = new Set<RecordType>(want.map((r) => r.type));
      if (types.has('CNAME')) lines.push(`prereq nxdomain ${name}.`);
      else for (const t of [...types, 'CNAME']) lines.push(`prereq nxrrset ${name}. ${t}`);
      lines.push(`prereq nxrrset ${owner} TXT`);
      lines.push(`update add ${owner} ${DEFAULT_TTL} TXT ${txt}`);
    }
    for (const r of want)
      lines.push(`update add ${name}. ${DEFAULT_TTL} ${r.type} ${r.type === 'A' ? r.value : r.value + '.'}`);
  }
  return lines;
}

/** A DNS message is at most 64 KiB; the text of the lines is a safe over-estimate of their wire size. */
const MESSAGE_BUDGET = 40_000;

/** Systems grouped so each UPDATE message stays under the size limit; a system's lines never split. */
export function batches(systems: string[], linesOf: (s: string) => string[]): string[][] {
  return groupUnder(systems, (s) => linesOf(s).reduce((n, l) => n + l.length + 12, 0), MESSAGE_BUDGET);
}

export class Rfc2136Backend implements ZoneBackend {
  /** UPDATE messages sent (tests and benches read it). */
  messages = 0;

  constructor(
    readonly zone: Rfc2136Zone,
    private readonly deps: BackendDeps,
  ) {
    if (!zone.tsig)
      throw new UserError(
        `dns zone ${zone.name}: backend rfc2136 needs tsig (name, algorithm, secret) in shipshape.yaml`,
      );
  }

  async observe(): Promise<ZoneObservation> {
    const [served, sealer] = await Promise.all([axfr(this.zone, this.deps.readSecret), this.deps.sealer?.()]);
    const ownerOf = new Map<string, string>();
    for (const r of served) {
      if (r.type !== 'TXT' || !r.name.startsWith(OWNER_PREFIX)) continue;
      const m = MARKER.exec(r.value);
      const name = r.name.slice(OWNER_PREFIX.length);
      if (m && markerVerified(sealer, sealFor(m[1]!, name), m[2])) ownerOf.set(name, m[1]!);
    }
    const owned = new Map<string, DnsRecord[]>();
    const apex = normalName(this.zone.name);
    const foreign = served.filter((r) => {
      const system = ownerOf.get(r.name);
      if (system && MANAGED_TYPES.includes(r.type)) {
        owned.set(system, [...(owned.get(system) ?? []), { name: r.name, type: r.type as RecordType, value: r.value }]);
        return false;
      }
      return r.name !== apex && !(r.type === 'TXT' && ownerOf.has(r.name.slice(OWNER_PREFIX.length)));
    });
    return { owned, foreign, nameServers: nameServersOf(served, apex), roundTrips: 1 };
  }

  async apply(
    before: Map<string, DnsRecord[]>,
    after: Map<string, DnsRecord[]>,
    changed: Set<string>,
  ): Promise<Map<string, Error>> {
    const sealer = await this.deps.sealer?.();
    const linesOf = (s: string) => updateLines(s, before.get(s) ?? [], after.get(s) ?? [], sealer);
    const failed = new Map<string, Error>();
    // Systems refused by a prerequisite, and whether anything landed since they were: an UPDATE checks
    // every prerequisite before any of its changes, so a system taking a name another system of this
    // commit gives up (an address moved from one system to the next) is refused until that one has
    // landed. Such systems are sent again, alone, for as long as a round lets another one land.
    let refused: string[] = [];
    let landed = false;
    const sendAlone = async (s: string) => {
      const e = await this.send(linesOf(s));
      if (!e) {
        failed.delete(s);
        landed = true;
        return;
      }
      failed.set(s, this.explain(e, [s]));
      if (PREREQ_FAILURES.includes(e.rcode)) refused.push(s);
    };
    for (const batch of batches([...changed].sort(), linesOf)) {
      const err = await this.send(batch.flatMap(linesOf));
      if (!err) {
        landed = true;
        continue;
      }
      if (!PREREQ_FAILURES.includes(err.rcode)) {
        for (const [s, e] of allFailed(new Set(batch), this.explain(err, batch))) failed.set(s, e);
        continue;
      }
      if (batch.length === 1) {
        failed.set(batch[0]!, this.explain(err, batch));
        refused.push(batch[0]!);
      } else for (const s of batch) await sendAlone(s);
    }
    while (refused.length > 0 && landed) {
      const again = refused;
      refused = [];
      landed = false;
      for (const s of again) await sendAlone(s);
    }
    return failed;
  }

  /**
   * `shipshape ownership seal`: rewrites the unsealed TXT markers that name one of `systems` with this
   * site's seal, each guarded by a prerequisite on the exact old text (a TXT changed meanwhile is left alone).
   */
  async sealMarkers(systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }> {
    const sealer = await this.deps.sealer?.();
    if (!sealer) return { sealed: [], skipped: [] };
    const sealed: string[] = [];
    const skipped: string[] = [];
    for (const r of await axfr(this.zone, this.deps.readSecret)) {
      const m = r.type === 'TXT' && r.name.startsWith(OWNER_PREFIX) ? MARKER.exec(r.value) : null;
      if (!m || m[2] || !systems.has(m[1]!)) continue;
      const name = r.name.slice(OWNER_PREFIX.length);
      const err = await this.send([
        `prereq yxrrset ${r.name}. TXT ${ownerTxt(m[1]!)}`,
        `update delete ${r.name}. TXT`,
        `update add ${r.name}. ${DEFAULT_TTL} TXT ${markerText(m[1]!, name, sealer)}`,
      ]);
      if (err) skipped.push(`dns ${m[1]}: ${name}: ${err.message}`);
      else sealed.push(`dns ${m[1]}: ${name} (zone ${this.zone.name})`);
    }
    return { sealed, skipped };
  }

  private explain(e: DnsUpdateError, systems: string[]): Error {
    if (!PREREQ_FAILURES.includes(e.rcode)) return e;
    return new DnsUpdateError(
      `zone ${this.zone.name}: ${systems.length === 1 ? systems[0] : `${systems.length} systems`}: a name it needs is in use by records shipshape does not own (prerequisite ${e.rcode}); nothing was changed for it. Remove the other records or rename the system`,
      e.rcode,
    );
  }

  /** One atomic UPDATE message; resolves to the server's refusal, or null when it was applied. */
  private async send(lines: string[]): Promise<DnsUpdateError | null> {
    if (lines.length === 0) return null;
    this.messages++;
    const tsig = this.zone.tsig as Tsig;
    const secret = (await this.deps.readSecret(tsig.secret)).trim();
    const script = [
      `key ${tsig.algorithm}:${tsig.name} ${secret}`,
      `server ${this.zone.server.host} ${this.zone.server.port}`,
      `zone ${this.zone.name}.`,
      ...lines,
      'send',
      '',
    ].join('\n');
    const r = await runLocal('nsupdate', ['-v', '-t', '10'], { stdin: script, timeoutMs: 120_000 });
    if (r.code === 0) return null;
    const out = (r.stderr + r.stdout).split(secret).join('<secret>');
    const rcode = /update failed: (\w+)(?:\((\w+)\))?/.exec(out);
    const code = rcode?.[2] ?? rcode?.[1] ?? 'ERROR';
    const what = `zone ${this.zone.name} on ${this.zone.server.host}:${this.zone.server.port}`;
    const hint: Record<string, string> = {
      BADSIG: `the TSIG secret of key "${tsig.name}" is wrong (NOTAUTH/BADSIG)`,
      BADKEY: `the server does not know the TSIG key "${tsig.name}" (NOTAUTH/BADKEY)`,
      BADTIME: 'the clocks of this machine and the server differ too much for TSIG (NOTAUTH/BADTIME)',
      NOTAUTH: `the server is not authoritative for the zone or refused key "${tsig.name}" (NOTAUTH)`,
      REFUSED: `the server refused the update (REFUSED): check the zone's update-policy grants key "${tsig.name}"`,
    };
    return new DnsUpdateError(
      `${what}: update refused: ${hint[code] ?? out.trim().split('\n').slice(-3).join(' ')}; nothing was changed`,
      code,
    );
  }
}
