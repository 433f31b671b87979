/**
 * ISC dhcpd: shipshape owns one include file of `host shipshape-<name>` declarations. Deploy = upload to a
 * temp name → `dhcpd -t -cf` on the server with a copy of dhcpd.conf that includes the candidate →
 * keep the previous include → move into place → restart; a failed restart puts the previous file back
 * and restarts again. Our own checks (reservations.ts) run first: dhcpd -t misses duplicates.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../../../engine/contract';
import type { IscServer } from './index';
import { shq, SshCommandError, type SshSession } from '../../../transport/ssh';
import { DhcpDeployError, type DhcpBackend, type DhcpBackendDeps, type ServerObservation } from '../backend';
import { isHandCopy, type ForeignReservation, type Reservation } from '../reservations';
import { normalizeMac } from '../../../manifest/mac';

const HEADER = '# shipshape-managed DHCP reservations';
const HOST_PREFIX = 'shipshape-';
/** Exit code of the deploy script when only the restart failed (the new file is in place: roll back). */
const RESTART_FAILED = 12;

export function renderInclude(server: string, wanted: Map<string, Reservation>, commit?: string): string {
  const out = [
    `${HEADER} for ${server}${commit ? ` (commit ${commit})` : ''}.`,
    '# Owned by shipshape: rewritten wholesale on every apply. Put your own hosts in the main config.',
  ];
  for (const system of [...wanted.keys()].sort()) {
    const r = wanted.get(system)!;
    out.push(
      `host ${HOST_PREFIX}${system} {`,
      `  hardware ethernet ${r.mac};`,
      `  fixed-address ${r.ip};`,
      `  option host-name "${r.hostname}";`,
    );
    if (r.nextServer) out.push(`  next-server ${r.nextServer};`);
    if (r.bootFilename) out.push(`  filename "${r.bootFilename}";`);
    out.push('}');
  }
  return out.join('\n') + '\n';
}

interface HostBlock {
  name: string;
  body: string;
  /** Where the declaration starts and ends in the text (comments included in the offsets). */
  at: number;
  end: number;
  /** Inside a group, subnet or shared-network block (its settings apply to the host). */
  nested: boolean;
}

/**
 * The text with its comments blanked out (not removed, so offsets still point into it): `#` to the end
 * of the line, except inside a quoted string (`option domain-name "a#b";`), dhcpd.conf(5).
 */
export function blankComments(text: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\') {
        out += c + (text[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === '"') quoted = false;
      out += c;
    } else if (c === '"') {
      quoted = true;
      out += c;
    } else if (c === '#') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      out += ' '.repeat(stop - i);
      i = stop - 1;
    } else out += c;
  }
  return out;
}

/** The 1-based line of an offset of `text` (a binary search over its line starts: thousands of hosts). */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let [lo, hi] = [0, starts.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

function hostBlocks(text: string): HostBlock[] {
  const bare = blankComments(text);
  const found = [...bare.matchAll(/\bhost\s+("?)([^\s"{]+)\1\s*\{([^}]*)\}/g)];
  let depth = 0;
  let i = 0;
  return found.map((m) => {
    for (; i < m.index; i++) depth += bare[i] === '{' ? 1 : bare[i] === '}' ? -1 : 0;
    return { name: m[2]!, body: m[3]!, at: m.index, end: m.index + m[0].length, nested: depth > 0 };
  });
}

const field = (body: string, re: RegExp) => re.exec(body)?.[1];
/** The statements of a host that shipshape's reservations carry; any other would be lost by adopting it. */
const MANAGED = /^(hardware\s+ethernet|fixed-address|option\s+host-name|next-server|filename)\b/;

/** Our reservations from the include file, by system. */
export function parseInclude(text: string): Map<string, Reservation> {
  const out = new Map<string, Reservation>();
  for (const h of hostBlocks(text)) {
    if (!h.name.startsWith(HOST_PREFIX)) continue;
    const nextServer = field(h.body, /next-server\s+([^;\s]+)\s*;/);
    const bootFilename = field(h.body, /filename\s+"([^"]*)"\s*;/);
    out.set(h.name.slice(HOST_PREFIX.length), {
      mac: normalizeMac(field(h.body, /hardware\s+ethernet\s+([^;\s]+)\s*;/) ?? ''),
      ip: field(h.body, /fixed-address\s+([^;\s]+)\s*;/) ?? '',
      hostname: field(h.body, /option\s+host-name\s+"([^"]*)"\s*;/) ?? '',
      ...(nextServer ? { nextServer } : {}),
      ...(bootFilename ? { bootFilename } : {}),
    });
  }
  return out;
}

/**
 * The operator's own host declarations in a config file (not ours). `includedBy`: the file is
 * `include`d by that one (its hosts are seen and checked against, never moved: adopting edits
 * dhcpd.conf only).
 */
export function parseForeignHosts(text: string, configPath: string, includedBy?: string): ForeignReservation[] {
  const lineOf = lineIndex(text);
  return hostBlocks(text).map((h) => {
    const hostname = field(h.body, /option\s+host-name\s+"([^"]*)"\s*;/);
    const nextServer = field(h.body, /next-server\s+([^;\s]+)\s*;/);
    const bootFilename = field(h.body, /filename\s+"([^"]*)"\s*;/);
    const other = h.body
      .split(';')
      .map((x) => x.trim().replace(/\s+/g, ' '))
      .filter((x) => x && !MANAGED.test(x));
    // `fixed-address` takes a list, of addresses or of names dhcpd resolves when it starts (dhcpd.conf(5)).
    const fixed = (field(h.body, /fixed-address\s+([^;]+);/) ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    const ips = fixed.filter((x) => /^\d{1,3}(\.\d{1,3}){3}$/.test(x));
    const names = fixed.filter((x) => !ips.includes(x));
    const label = `host ${h.name} in ${configPath}:${lineOf(h.at)}`;
    const notAdoptable = includedBy
      ? `${label} is in a file ${includedBy} includes; shipshape only moves hosts out of ${includedBy} itself: move its block there, then adopt`
      : h.nested
        ? `${label} is declared inside a group, subnet or shared-network block whose settings it would lose in shipshape's include file; move it to the top level of ${configPath}, then adopt`
        : fixed.length !== 1 || names.length
          ? `${label} has \`fixed-address ${fixed.join(', ')};\`: shipshape's reservations hold one address, written as an address; write it so, then adopt`
          : other.length
            ? `${label} has ${other.map((x) => `\`${x};\``).join(', ')}, which shipshape's reservations do not carry (adopting would drop it); move that setting to the subnet or a class, then adopt`
            : undefined;
    const mac = field(h.body, /hardware\s+ethernet\s+([^;\s]+)\s*;/);
    return {
      label,
      name: h.name,
      mac: mac === undefined ? undefined : normalizeMac(mac),
      ip: ips[0] ?? names[0],
      ...(ips.length > 1 ? { ips } : {}),
      ...(hostname !== undefined ? { hostname } : {}),
      ...(nextServer ? { nextServer } : {}),
      ...(bootFilename ? { bootFilename } : {}),
      ...(notAdoptable ? { notAdoptable } : {}),
    };
  });
}

/**
 * The config with the operator's top-level hand copies of `wanted` (see isHandCopy) turned into
 * comments saying where they went; every other line stays as it is. Returns the systems moved out.
 */
export function moveOutHandHosts(
  text: string,
  configPath: string,
  includePath: string,
  wanted: Map<string, Reservation>,
): { text: string; moved: string[] } {
  const foreign = parseForeignHosts(text, configPath);
  const cut: { at: number; end: number; system: string }[] = [];
  hostBlocks(text).forEach((b, i) => {
    const f = foreign[i]!;
    if (f.notAdoptable) return;
    const system = [...wanted].find(([s, r]) => isHandCopy(f, s, r))?.[0];
    if (system) cut.push({ at: b.at, end: b.end, system });
  });
  let out = text;
  for (const c of [...cut].reverse()) {
    const block = out.slice(c.at, c.end);
    const note = `# moved to ${includePath} (shipshape adopt):\n${block
      .split('\n')
      .map((l) => `# ${l}`)
      .join('\n')}`;
    out = out.slice(0, c.at) + note + out.slice(c.end);
  }
  return { text: out, moved: cut.map((c) => c.system) };
}

/** The files a config `include`s (comments skipped), with the line of each include statement. */
export function includedFiles(text: string): { path: string; line: number }[] {
  const bare = blankComments(text);
  const lineOf = lineIndex(bare);
  return [...bare.matchAll(/\binclude\s+"([^"]+)"\s*;/g)].map((m) => ({ path: m[1]!, line: lineOf(m.index) }));
}

/** Include statements nested deeper than this are refused (a file that includes itself, in a loop). */
const MAX_INCLUDE_DEPTH = 8;

const includeRe = (path: string) =>
  new RegExp(`^(\\s*include\\s+)"${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"(\\s*;.*)$`, 'm');

export class IscBackend implements DhcpBackend {
  readonly adopts = true;
  private configText = '';
  private configSha = '';
  restarts = 0;

  constructor(
    readonly server: IscServer,
    private readonly deps: DhcpBackendDeps,
  ) {
    if (!server.includePath || !server.configPath || !server.restartCommand) {
      throw new UserError(
        `dhcp server ${server.name}: backend isc needs includePath, configPath and restartCommand in shipshape.yaml`,
      );
    }
  }

  private session(): Promise<SshSession> {
    return this.deps.pool.get(this.server.ssh);
  }

  async observe(): Promise<ServerObservation> {
    const { includePath: inc, configPath: conf } = this.server;
    const ssh = await this.session();
    // Over SFTP, not an exec: no shell and no process on the server, one channel for every read of this login.
    const [config, include] = await Promise.all([
      ssh.readFile(conf, { missingOk: true }),
      ssh.readFile(inc, { missingOk: true }),
    ]);
    if (!config)
      throw new UserError(
        `dhcp server ${this.server.name}: ${conf} does not exist on ${ssh.name}; set configPath to the file dhcpd reads`,
      );
    // The deploy refuses a config whose sha256 (on the server) is no longer this one.
    this.configSha = createHash('sha256').update(config).digest('hex');
    this.configText = config.toString('utf8');
    if (!includeRe(inc).test(this.configText)) {
      throw new UserError(
        `dhcp server ${this.server.name}: ${conf} on ${ssh.name} does not include shipshape's file; add the line \`include "${inc}";\``,
      );
    }
    const owned = parseInclude(include?.toString('utf8') ?? '');
    // The operator's hosts in the files dhcpd.conf includes count as much as those in it: dhcpd -t
    // passes a MAC or address reserved twice, so a reservation of ours beside one of them would go
    // unnoticed until two machines fight over an address.
    const { hosts: included, reads } = await this.includedHosts(ssh, this.configText, conf, inc);
    // The operator's copy of one of ours (an adoption that stopped between writing ours and removing
    // theirs) is not someone else's reservation: the next deploy moves it out.
    const leftover = new Map<string, string[]>();
    const foreign = [...parseForeignHosts(this.configText, conf), ...included].filter((f) => {
      const system = [...owned].find(([s, res]) => !f.notAdoptable && isHandCopy(f, s, res))?.[0];
      if (system) leftover.set(system, [...(leftover.get(system) ?? []), f.label]);
      return !system;
    });
    const failoverPeers = [...blankComments(this.configText).matchAll(/\bfailover\s+peer\s+"([^"]+)"\s*\{/g)].map(
      (m) => m[1]!,
    );
    return {
      owned,
      foreign,
      subnets: this.deps.netCidrs,
      roundTrips: 1 + reads,
      leftover,
      ...(failoverPeers.length ? { failoverPeers } : {}),
    };
  }

  /** The host declarations of every file `conf` includes, at any depth (one SFTP round per depth), but ours. */
  private async includedHosts(
    ssh: SshSession,
    text: string,
    conf: string,
    ours: string,
  ): Promise<{ hosts: ForeignReservation[]; reads: number }> {
    const hosts: ForeignReservation[] = [];
    const seen = new Set([conf, ours]);
    const pending = (t: string, by: string) =>
      includedFiles(t)
        .filter((x) => !seen.has(x.path))
        .map((x) => {
          if (!x.path.startsWith('/'))
            throw new UserError(
              `dhcp server ${this.server.name}: ${by}:${x.line}: \`include "${x.path}";\` is a relative path, which dhcpd opens from its working directory (shipshape cannot know it); write the absolute path`,
            );
          seen.add(x.path);
          return { ...x, by };
        });
    let level = pending(text, conf);
    let reads = 0;
    for (; level.length; reads++) {
      if (reads === MAX_INCLUDE_DEPTH)
        throw new UserError(
          `dhcp server ${this.server.name}: ${level[0]!.by}:${level[0]!.line}: includes nest deeper than ${MAX_INCLUDE_DEPTH} files; flatten them`,
        );
      const texts = await Promise.all(level.map((x) => ssh.readFile(x.path, { missingOk: true })));
      const next: typeof level = [];
      level.forEach((x, i) => {
        const t = texts[i];
        if (!t)
          throw new UserError(
            `dhcp server ${this.server.name}: ${x.by}:${x.line} includes ${x.path}, which does not exist on ${ssh.name} (dhcpd would refuse to start); create it or remove the include`,
          );
        hosts.push(...parseForeignHosts(t.toString('utf8'), x.path, conf));
        next.push(...pending(t.toString('utf8'), x.path));
      });
      level = next;
    }
    return { hosts, reads };
  }

  async apply(wanted: Map<string, Reservation>): Promise<void> {
    const { includePath: inc, configPath: conf, restartCommand } = this.server;
    const ssh = await this.session();
    const incNew = await ssh.uploadTemp(inc, renderInclude(this.server.name, wanted, this.deps.commit));
    // Adopted reservations (and hand copies an interrupted adoption left) leave dhcpd.conf in the same deploy.
    const { text: confText, moved } = moveOutHandHosts(this.configText, conf, inc, wanted);
    const confCheck = await ssh.uploadTemp(conf, confText.replace(includeRe(inc), `$1"${incNew}"$2`), 0o600);
    const confNew = moved.length ? await ssh.uploadTemp(conf, confText) : '';
    // Ours is moved into place first, then theirs removed: a crash in between leaves the reservation
    // in both files (dhcpd takes identical host declarations), never in neither.
    const script = `set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
I=${shq(inc)}; IN=${shq(incNew)}; CC=${shq(confCheck)}; C=${shq(conf)}; CN=${shq(confNew)}
fail() { rm -f "$IN" "$CC" \${CN:+"$CN"}; echo "$2" >&2; exit "$1"; }
if [ -n "$CN" ]; then echo ${shq(this.configSha)}"  $C" | sha256sum -c --status - || fail 11 "$C was changed by someone else since shipshape read it; nothing was deployed, run adopt or apply again"; fi
out=$(dhcpd -t -cf "$CC" -lf /dev/null -pf /dev/null 2>&1) || fail 10 "dhcpd -t refused the new reservations (nothing deployed):
$(echo "$out" | grep -A2 -E 'line [0-9]+:|not in subnet|already exists|Can.t open' || echo "$out")"
[ -e "$I" ] && { chmod --reference="$I" "$IN"; chown --reference="$I" "$IN" 2>/dev/null; }
if [ -e "$I" ]; then cp -p "$I" "$I.shipshape-prev"; else : > "$I.shipshape-prev"; fi || fail 13 "cannot keep the previous include file"
if [ -n "$CN" ]; then { chmod --reference="$C" "$CN"; chown --reference="$C" "$CN" 2>/dev/null; cp -p "$C" "$C.shipshape-prev"; } || fail 13 "cannot keep the previous $C"; fi
rm -f "$CC"
mv -f "$IN" "$I" || fail 14 "cannot move the new include file into place"
if [ -n "$CN" ]; then mv -f "$CN" "$C" || { cp -p "$I.shipshape-prev" "$I"; fail 14 "cannot move the new $C into place; the previous include file is back"; }; fi
( ${restartCommand} ) || exit ${RESTART_FAILED}
`;
    // One exec does check, move and restart (each exec costs a login shell on the server).
    this.restarts++;
    const failure = await ssh.exec(script, { label: `deploy of ${inc}`, timeoutMs: 120_000 }).then(
      () => null,
      (e: Error) => {
        if (e instanceof SshCommandError && e.code === RESTART_FAILED) return e;
        throw e;
      },
    );
    if (!failure) {
      if (moved.length) this.configText = confText;
      return;
    }
    try {
      this.restarts++;
      const restoreConf = moved.length
        ? ` && cp --preserve=mode,ownership ${shq(conf + '.shipshape-prev')} ${shq(conf)}`
        : '';
      await ssh.exec(
        `export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; cp --preserve=mode,ownership ${shq(inc + '.shipshape-prev')} ${shq(inc)}${restoreConf} || exit 1\n${restartCommand}`,
        { label: `restore of ${inc} and restart`, timeoutMs: 120_000 },
      );
    } catch (e) {
      throw new DhcpDeployError(
        `dhcp server ${this.server.name}: the restart failed (${failure.message}) AND restoring the previous ${inc} failed: ${(e as Error).message}. Fix it by hand (the copy ends in .shipshape-prev)`,
      );
    }
    throw new DhcpDeployError(
      `dhcp server ${this.server.name}: the restart failed: ${failure.message.replace(/^.*exited 12:\n?/, '')}; the previous ${inc} was put back and the server restarted`,
    );
  }
}
