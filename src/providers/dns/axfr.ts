/**
 * A zone transfer (AXFR, RFC 5936) over TCP in this process, signed with TSIG (RFC 8945) when the zone
 * has a key: what `dig AXFR` did, without a process per zone. The records come back as dig presents
 * them (RFC 1035 §5.1 master file text; `+onesoa`: the closing SOA left out), so everything that
 * reads them (ownership markers, hand records, the zone's name servers) sees the same values.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { TransientError } from '../../engine/contract';
import { normalName, type ServedRecord } from './records';
import { AxfrError } from './zone-text';
import type { TsigAlgorithm } from './dns-tools';

/** A key as the transfer uses it: its name, algorithm and the secret's bytes. */
export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, DNAME: 39, TSIG: 250 };
const AXFR = 252;
const CAA = 257;
const CLASS_IN = 1;
const CLASS_ANY = 255;
/** Mnemonics of the types dig names (IANA DNS parameters); others print as TYPEnnn. */
const TYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  13: 'HINFO',
  15: 'MX',
  16: 'TXT',
  17: 'RP',
  18: 'AFSDB',
  24: 'SIG',
  25: 'KEY',
  28: 'AAAA',
  29: 'LOC',
  33: 'SRV',
  35: 'NAPTR',
  36: 'KX',
  37: 'CERT',
  39: 'DNAME',
  43: 'DS',
  44: 'SSHFP',
  45: 'IPSECKEY',
  46: 'RRSIG',
  47: 'NSEC',
  48: 'DNSKEY',
  49: 'DHCID',
  50: 'NSEC3',
  51: 'NSEC3PARAM',
  52: 'TLSA',
  53: 'SMIMEA',
  55: 'HIP',
  59: 'CDS',
  60: 'CDNSKEY',
  61: 'OPENPGPKEY',
  62: 'CSYNC',
  63: 'ZONEMD',
  64: 'SVCB',
  65: 'HTTPS',
  99: 'SPF',
  256: 'URI',
  257: 'CAA',
};
const RCODES = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
];
const TSIG_ERRORS: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };
/** RFC 8945 §6: the algorithm names on the wire, and the HMAC each is. */
const ALGORITHMS: Record<TsigAlgorithm, { wire: string; hash: string }> = {
  'hmac-md5': { wire: 'hmac-md5.sig-alg.reg.int', hash: 'md5' },
  'hmac-sha1': { wire: 'hmac-sha1', hash: 'sha1' },
  'hmac-sha224': { wire: 'hmac-sha224', hash: 'sha224' },
  'hmac-sha256': { wire: 'hmac-sha256', hash: 'sha256' },
  'hmac-sha384': { wire: 'hmac-sha384', hash: 'sha384' },
  'hmac-sha512': { wire: 'hmac-sha512', hash: 'sha512' },
};
const FUDGE = 300;
/** RFC 8945 §5.3.1: at most 99 unsigned messages between signed ones. */
const MAX_UNSIGNED = 99;

/** A name in uncompressed wire form, lower case (the canonical form TSIG signs: RFC 8945 §4.3.3). */
function wireName(name: string): Buffer {
  const labels = normalName(name).split('.').filter(Boolean);
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
    Buffer.from([0]),
  ]);
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => Buffer.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const u48 = (n: number) => Buffer.concat([u16(Math.floor(n / 2 ** 32)), u32(n % 2 ** 32)]);

/** The TSIG variables a MAC covers (RFC 8945 §4.3.3); `timersOnly` for the later messages of a transfer. */
function tsigVariables(
  key: TsigKey,
  time: number,
  fudge: number,
  error = 0,
  other: Buffer = Buffer.alloc(0),
  timersOnly = false,
): Buffer {
  if (timersOnly) return Buffer.concat([u48(time), u16(fudge)]);
  return Buffer.concat([
    wireName(key.name),
    u16(CLASS_ANY),
    u32(0),
    wireName(ALGORITHMS[key.algorithm].wire),
    u48(time),
    u16(fudge),
    u16(error),
    u16(other.length),
    other,
  ]);
}

function hmac(key: TsigKey, ...parts: Buffer[]): Buffer {
  const h = createHmac(ALGORITHMS[key.algorithm].hash, key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The AXFR query for `zone`, signed when there is a key; with its MAC (the first answer's MAC covers it). */
export function axfrQuery(
  zone: string,
  id: number,
  key?: TsigKey,
  now = Math.floor(Date.now() / 1000),
): { message: Buffer; mac?: Buffer } {
  const header = Buffer.concat([u16(id), u16(0), u16(1), u16(0), u16(0), u16(0)]);
  const unsigned = Buffer.concat([header, wireName(zone), u16(AXFR), u16(CLASS_IN)]);
  if (!key) return { message: unsigned };
  const mac = hmac(key, unsigned, tsigVariables(key, now, FUDGE));
  const rdata = Buffer.concat([
    wireName(ALGORITHMS[key.algorithm].wire),
    u48(now),
    u16(FUDGE),
    u16(mac.length),
    mac,
    u16(id),
    u16(0),
    u16(0),
  ]);
  const tsig = Buffer.concat([wireName(key.name), u16(T.TSIG), u16(CLASS_ANY), u32(0), u16(rdata.length), rdata]);
  const signed = Buffer.concat([unsigned, tsig]);
  signed.writeUInt16BE(1, 10);
  return { message: signed, mac };
}

/** A name at `at` (compression pointers followed, RFC 1035 §4.1.4) in dig's text: escaped, absolute. */
function readName(msg: Buffer, at: number): { name: string; end: number } {
  const labels: string[] = [];
  let end = -1;
  for (let i = at, jumps = 0; ;) {
    if (i >= msg.length) throw new AxfrError('a name runs past the end of the message');
    const len = msg[i]!;
    if (len === 0) {
      if (end < 0) end = i + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = i + 2;
      if (++jumps > 64) throw new AxfrError('a compression loop in a name');
      i = ((len & 0x3f) << 8) | msg[i + 1]!;
      continue;
    }
    if (i + 1 + len > msg.length) throw new AxfrError('a label runs past the end of the message');
    labels.push(escapeLabel(msg.subarray(i + 1, i + 1 + len)));
    i += 1 + len;
  }
  return { name: labels.length ? labels.join('.') + '.' : '.', end };
}

function escapeLabel(b: Buffer): string {
  let s = '';
  for (const c of b) {
    if ('.\\"();@$'.includes(String.fromCharCode(c))) s += '\\' + String.fromCharCode(c);
    else if (c <= 0x20 || c >= 0x7f) s += '\\' + String(c).padStart(3, '0');
    else s += String.fromCharCode(c);
  }
  return s;
}

/** A character-string (RFC 1035 §5.1) as dig writes it: quoted, `"` and `\` escaped, the rest as \DDD. */
function quoted(b: Buffer): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) s += '\\' + String.fromCharCode(c);
    else if (c < 0x20 || c >= 0x7f) s += '\\' + String(c).padStart(3, '0');
    else s += String.fromCharCode(c);
  }
  return s + '"';
}

/** RFC 5952 text of an IPv6 address: lower case, leading zeros dropped, the longest run of zero groups as `::`. */
function ipv6(b: Buffer): string {
  const g = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** The record data in dig's text; types it does not write out here in RFC 3597 generic form (`\# len hex`). */
function rdataText(msg: Buffer, type: number, at: number, len: number): string {
  const d = msg.subarray(at, at + len);
  const name = (i: number) => readName(msg, i);
  switch (type) {
    case T.A:
      return [...d].join('.');
    case T.AAAA:
      return ipv6(d);
    case T.NS:
    case T.CNAME:
    case T.PTR:
    case T.DNAME:
      return name(at).name;
    case T.MX:
      return `${d.readUInt16BE(0)} ${name(at + 2).name}`;
    case T.SRV:
      return `${d.readUInt16BE(0)} ${d.readUInt16BE(2)} ${d.readUInt16BE(4)} ${name(at + 6).name}`;
    case T.SOA: {
      const m = name(at);
      const r = name(m.end);
      const n = [0, 4, 8, 12, 16].map((o) => msg.readUInt32BE(r.end + o));
      return `${m.name} ${r.name} ${n.join(' ')}`;
    }
    case T.TXT: {
      const parts: string[] = [];
      for (let i = 0; i < d.length; i += 1 + d[i]!) parts.push(quoted(d.subarray(i + 1, i + 1 + d[i]!)));
      return parts.join(' ');
    }
    case CAA:
      return `${d[0]} ${d.subarray(2, 2 + d[1]!).toString('latin1')} ${quoted(d.subarray(2 + d[1]!))}`;
    default:
      return len ? `\\# ${len} ${d.toString('hex').toUpperCase()}` : '\\# 0';
  }
}

interface Parsed {
  rcode: number;
  records: { name: string; type: number; ttl: number; value: string }[];
  tsig?: { keyName: string; time: number; fudge: number; mac: Buffer; error: number; other: Buffer; start: number };
}

function parseMessage(msg: Buffer, id: number): Parsed {
  if (msg.length < 12) throw new AxfrError('a message shorter than its header');
  if (msg.readUInt16BE(0) !== id) throw new AxfrError('an answer to another query (message ID)');
  const rcode = msg.readUInt16BE(2) & 0x0f;
  const [qd, an, ns, ar] = [4, 6, 8, 10].map((o) => msg.readUInt16BE(o)) as [number, number, number, number];
  let i = 12;
  for (let q = 0; q < qd; q++) i = readName(msg, i).end + 4;
  const records: Parsed['records'] = [];
  let tsig: Parsed['tsig'];
  for (let r = 0; r < an + ns + ar; r++) {
    const start = i;
    const owner = readName(msg, i);
    i = owner.end;
    const type = msg.readUInt16BE(i);
    const ttl = msg.readUInt32BE(i + 4);
    const len = msg.readUInt16BE(i + 8);
    const at = i + 10;
    if (at + len > msg.length) throw new AxfrError('a record runs past the end of the message');
    i = at + len;
    if (type === T.TSIG) {
      if (r !== an + ns + ar - 1) throw new AxfrError('a TSIG record that is not the last one');
      const alg = readName(msg, at);
      let o = alg.end;
      const time = msg.readUInt16BE(o) * 2 ** 32 + msg.readUInt32BE(o + 2);
      const fudge = msg.readUInt16BE(o + 6);
      const macLen = msg.readUInt16BE(o + 8);
      const mac = msg.subarray(o + 10, o + 10 + macLen);
      o += 10 + macLen + 2;
      const error = msg.readUInt16BE(o);
      const otherLen = msg.readUInt16BE(o + 2);
      tsig = { keyName: owner.name, time, fudge, mac, error, other: msg.subarray(o + 4, o + 4 + otherLen), start };
      continue;
    }
    if (r >= an) continue;
    records.push({ name: owner.name, type, ttl, value: rdataText(msg, type, at, len) });
  }
  return { rcode, records, ...(tsig ? { tsig } : {}) };
}

/** The message as the MAC covers it: without its TSIG record, one additional record fewer (RFC 8945 §4.3.2). */
function withoutTsig(msg: Buffer, tsigStart: number): Buffer {
  const m = Buffer.from(msg.subarray(0, tsigStart));
  m.writeUInt16BE(msg.readUInt16BE(10) - 1, 10);
  return m;
}

/** Every record the server serves for `zone` (`server` answering on TCP), its SOA once, in one transfer. */
export function transferZone(
  zone: string,
  server: { host: string; port: number },
  key?: TsigKey,
  o: { connectTimeoutMs?: number; timeoutMs?: number } = {},
): Promise<ServedRecord[]> {
  const what = `${zone} from ${server.host}:${server.port}`;
  const id = randomBytes(2).readUInt16BE(0);
  const query = axfrQuery(zone, id, key);
  return new Promise<ServedRecord[]>((resolve, reject) => {
    const socket: Socket = connect({ host: server.host, port: server.port });
    let done = false;
    const finish = (e: Error | null, records?: ServedRecord[]) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (e) reject(e);
      else resolve(records!);
    };
    const fail = (problem: string, hint = '') => finish(new AxfrError(`AXFR of ${what} failed${hint}: ${problem}`));
    const timer = setTimeout(() => finish(new TransientError(`AXFR of ${what}: timed out`)), o.timeoutMs ?? 60_000);
    socket.setTimeout(o.connectTimeoutMs ?? 5000, () =>
      finish(
        new TransientError(`AXFR of ${what}: timed out (no answer within ${(o.connectTimeoutMs ?? 5000) / 1000} s)`),
      ),
    );
    socket.once('error', (e: NodeJS.ErrnoException) =>
      finish(new TransientError(`AXFR of ${what}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}`)),
    );
    socket.once('connect', () => socket.write(Buffer.concat([u16(query.message.length), query.message])));
    const out: ServedRecord[] = [];
    let soa: string | undefined;
    let prior = query.mac;
    let unsigned: Buffer[] = [];
    let buf: Buffer = Buffer.alloc(0);
    let first = true;
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (!done && buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        let p: Parsed;
        try {
          p = parseMessage(msg, id);
        } catch (e) {
          return fail((e as Error).message);
        }
        if (key) {
          const tsigError = p.tsig ? TSIG_ERRORS[p.tsig.error] : undefined;
          if (tsigError) return fail(`TSIG ${tsigError}`, ' (the TSIG key name or secret is wrong for this server)');
          if (p.rcode !== 0) return fail(`the server answered ${RCODES[p.rcode] ?? p.rcode}`);
          if (!p.tsig) {
            if (first || unsigned.length >= MAX_UNSIGNED) return fail('an answer without the TSIG signature');
            unsigned.push(msg);
          } else {
            const t = p.tsig;
            if (normalName(t.keyName) !== normalName(key.name))
              return fail(`an answer signed with another key (${t.keyName})`);
            const covered = [...unsigned, withoutTsig(msg, t.start)];
            const want = hmac(
              key,
              u16(prior!.length),
              prior!,
              ...covered,
              first
                ? tsigVariables(key, t.time, t.fudge, t.error, t.other)
                : tsigVariables(key, t.time, t.fudge, 0, undefined, true),
            );
            if (t.mac.length !== want.length || !timingSafeEqual(t.mac, want))
              return fail(
                'the answer does not verify with the key (TSIG)',
                ' (the TSIG key name or secret is wrong for this server)',
              );
            if (Math.abs(Date.now() / 1000 - t.time) > t.fudge)
              return fail('TSIG BADTIME (the clocks differ by more than the fudge)');
            prior = t.mac;
            unsigned = [];
          }
        } else if (p.rcode !== 0) return fail(`the server answered ${RCODES[p.rcode] ?? p.rcode}`);
        for (const r of p.records) {
          const type = TYPE_NAMES[r.type] ?? `TYPE${r.type}`;
          if (first && !soa && r.type !== T.SOA) return fail('the transfer does not start with the SOA');
          if (r.type === T.SOA) {
            if (soa !== undefined) {
              // The closing SOA: the transfer is complete (RFC 5936 §2.2); it must be the last record.
              if (key && !p.tsig) return fail('the last answer is not signed (TSIG)');
              return finish(null, out);
            }
            soa = r.value;
          }
          out.push({
            name: normalName(r.name),
            type,
            ttl: r.ttl,
            value: type === 'A' || type === 'TXT' ? r.value : normalName(r.value),
          });
        }
        if (first && !soa) return fail('no SOA in the answer');
        first = false;
      }
    });
    socket.once('end', () =>
      fail(soa ? 'the server closed the connection before the closing SOA' : 'no SOA in the answer'),
    );
  });
}
