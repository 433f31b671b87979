/**
 * ISC dhcpd: shipshape owns one include file of `host shipshape-<name>` declarations. Deploy = upload to a
 * temp name → `dhcpd -t -cf` on the server with a copy of dhcpd.conf that includes the candidate →
 * keep the previous include → move into place → restart; a failed restart puts the previous file back
 * and restarts again. Our own checks (reservations.ts) run first: dhcpd -t misses duplicates.
 */
import { UserError } from '../../../engine/contract';
import type { IscServer } from './index';
import { shq, SshCommandError, type SshSession } from '../../../transport/ssh';
import { DhcpDeployError, type DhcpBackend, type DhcpBackendDeps, type ServerObservation } from '../backend';
import type { ForeignReservation, Reservation } from '../reservations';

const HEADER = '# shipshape-managed DHCP reservations';
const HOST_PREFIX = 'shipshape-';
const SPLIT = '<<<shipshape-split>>>';
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
}

function hostBlocks(text: string): HostBlock[] {
  const noComments = text.replace(/#[^\n]*/g, '');
  return [...noComments.matchAll(/\bhost\s+("?)([^\s"{]+)\1\s*\{([^}]*)\}/g)].map((m) => ({
    name: m[2]!,
    body: m[3]!,
  }));
}

const field = (body: string, re: RegExp) => re.exec(body)?.[1];

/** Our reservations from the include file, by system. */
export function parseInclude(text: string): Map<string, Reservation> {
  const out = new Map<string, Reservation>();
  for (const h of hostBlocks(text)) {
    if (!h.name.startsWith(HOST_PREFIX)) continue;
    const nextServer = field(h.body, /next-server\s+([^;\s]+)\s*;/);
    const bootFilename = field(h.body, /filename\s+"([^"]*)"\s*;/);
    out.set(h.name.slice(HOST_PREFIX.length), {
      mac: (field(h.body, /hardware\s+ethernet\s+([^;\s]+)\s*;/) ?? '').toLowerCase(),
      ip: field(h.body, /fixed-address\s+([^;\s]+)\s*;/) ?? '',
      hostname: field(h.body, /option\s+host-name\s+"([^"]*)"\s*;/) ?? '',
      ...(nextServer ? { nextServer } : {}),
      ...(bootFilename ? { bootFilename } : {}),
    });
  }
  return out;
}

/** The operator's own host declarations in the main config (not ours). */
export function parseForeignHosts(text: string, configPath: string): ForeignReservation[] {
  return hostBlocks(text).map((h) => ({
    label: `host ${h.name} in ${configPath}`,
    name: h.name,
    mac: field(h.body, /hardware\s+ethernet\s+([^;\s]+)\s*;/)?.toLowerCase(),
    ip: field(h.body, /fixed-address\s+([^;\s]+)\s*;/),
  }));
}

const includeRe = (path: string) =>
  new RegExp(`^(\\s*include\\s+)"${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"(\\s*;.*)$`, 'm');

export class IscBackend implements DhcpBackend {
  private configText = '';
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
    const r = await ssh.exec(
      `cat -- ${shq(conf)} && printf '\\n%s\\n' ${shq(SPLIT)} && { cat -- ${shq(inc)} 2>/dev/null || true; }`,
      { label: `read ${conf} and ${inc}` },
    );
    const at = r.stdout.lastIndexOf(`\n${SPLIT}\n`);
    this.configText = r.stdout.slice(0, at);
    if (!includeRe(inc).test(this.configText)) {
      throw new UserError(
        `dhcp server ${this.server.name}: ${conf} on ${ssh.name} does not include shipshape's file; add the line \`include "${inc}";\``,
      );
    }
    const owned = parseInclude(r.stdout.slice(at + SPLIT.length + 2));
    return { owned, foreign: parseForeignHosts(this.configText, conf), subnets: this.deps.netCidrs, roundTrips: 1 };
  }

  async apply(wanted: Map<string, Reservation>): Promise<void> {
    const { includePath: inc, configPath: conf, restartCommand } = this.server;
    const ssh = await this.session();
    const incNew = await ssh.uploadTemp(inc, renderInclude(this.server.name, wanted, this.deps.commit));
    const confCheck = await ssh.uploadTemp(conf, this.configText.replace(includeRe(inc), `$1"${incNew}"$2`), 0o600);
    const script = `set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
I=${shq(inc)}; IN=${shq(incNew)}; CC=${shq(confCheck)}
fail() { rm -f "$IN" "$CC"; echo "$2" >&2; exit "$1"; }
out=$(dhcpd -t -cf "$CC" -lf /dev/null -pf /dev/null 2>&1) || fail 10 "dhcpd -t refused the new reservations (nothing deployed):
$(echo "$out" | grep -A2 -E 'line [0-9]+:|not in subnet|already exists|Can.t open' || echo "$out")"
[ -e "$I" ] && { chmod --reference="$I" "$IN"; chown --reference="$I" "$IN" 2>/dev/null; }
if [ -e "$I" ]; then cp -p "$I" "$I.shipshape-prev"; else : > "$I.shipshape-prev"; fi || fail 13 "cannot keep the previous include file"
rm -f "$CC"
mv -f "$IN" "$I" || fail 14 "cannot move the new include file into place"
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
    if (!failure) return;
    try {
      this.restarts++;
      await ssh.exec(
        `export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; cp --preserve=mode,ownership ${shq(inc + '.shipshape-prev')} ${shq(inc)} || exit 1\n${restartCommand}`,
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
