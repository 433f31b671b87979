/**
 * Kea: reservations live in its JSON config; Debian's Kea has no host_cmds hook, so the config is replaced
 * as a whole. We talk to Kea's unix control socket through the SSH connection itself (OpenSSH
 * direct-streamlocal): no socat, no kea-ctrl-agent, no HTTP port to secure, and the same host-key-verified
 * channel as every other step. Deploy = config-get (fresh) → swap our reservations (marked with
 * `user-context.shipshape`) → `kea-dhcp4 -t` on the server and config-test at once → keep the previous file →
 * config-set (a rejected config leaves the old one running) → config-write.
 *
 * On a site with `ownership:` (src/ownership) the marker also carries `seal`: an HMAC over the site,
 * the system and the reservation's MAC. Anyone who may edit Kea's config can write
 * `user-context.shipshape.system`, not the seal; a reservation whose seal is missing or is not this
 * site's for its MAC is someone else's (reported, kept as it is on every deploy). Markers written before
 * the site had `ownership:` are sealed once by `shipshape ownership seal` (`sealMarkers`).
 */
import { UserError } from '../../../engine/contract';
import { markerVerified, type Sealer } from '../../../ownership';
import type { KeaServer } from './index';
import { shq, SshCommandError, type SshSession } from '../../../transport/ssh';
import { DhcpDeployError, type DhcpBackend, type DhcpBackendDeps, type ServerObservation } from '../backend';
import { inCidr, type ForeignReservation, type Reservation } from '../reservations';

// Kea's config is open-ended JSON; we touch only subnet4[].reservations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- open-ended JSON read from the server
type Json = Record<string, any>;

/** What a reservation's seal is computed over: the system and the reservation's MAC. */
const sealFor = (system: string, mac: string) => ({ kind: 'dhcp', system, resourceId: mac.toLowerCase() });

/** The system a reservation's marker names, when that marker counts (sealed for it, on a sealed site); `adopt`: unsealed markers of these systems count too. */
function ownerOf(r: Json, sealer: Sealer | undefined, adopt?: Set<string>): string | undefined {
  const m = r['user-context']?.shipshape;
  const system = m?.system;
  if (typeof system !== 'string') return undefined;
  if (adopt?.has(system) && m.seal === undefined) return system;
  const mac = typeof r['hw-address'] === 'string' ? r['hw-address'] : '';
  return markerVerified(sealer, sealFor(system, mac), typeof m.seal === 'string' ? m.seal : undefined)
    ? system
    : undefined;
}

/** The keys of a reservation shipshape writes; a hand reservation with others is not adopted (they would be lost). */
const MANAGED_KEYS = ['hw-address', 'ip-address', 'hostname', 'next-server', 'boot-file-name'];
/** config-get fills every reservation with defaults (`option-data: []`, `server-hostname: ""`, `next-server: 0.0.0.0`): not settings. */
const isDefault = (v: unknown): boolean =>
  v === '' ||
  v === '0.0.0.0' ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

interface KeaAnswer {
  result: number;
  text?: string;
  arguments?: Json;
}

export class KeaBackend implements DhcpBackend {
  readonly adopts = true;
  configSets = 0;

  constructor(
    readonly server: KeaServer,
    private readonly deps: DhcpBackendDeps,
    private readonly timeoutMs = 60_000,
  ) {
    if (!server.controlSocket || !server.configPath) {
      throw new UserError(
        `dhcp server ${server.name}: backend kea needs controlSocket and configPath in shipshape.yaml`,
      );
    }
  }

  private session(): Promise<SshSession> {
    return this.deps.pool.get(this.server.ssh);
  }

  /** One command on Kea's control socket: Kea reads one JSON command, answers, and closes. */
  async command(command: string, args?: Json): Promise<KeaAnswer> {
    const ssh = await this.session();
    const stream = await ssh.openUnixSocket(this.server.controlSocket!);
    const text = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        stream.close();
        reject(new SshCommandError(ssh.name, `Kea ${command}`, null, null, '', true));
      }, this.timeoutMs);
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('error', (e: Error) => reject(e));
      // Kea answers and closes its end; the channel closes once we close ours.
      const finish = () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
        stream.close();
      };
      stream.once('end', finish);
      stream.once('close', finish);
      stream.write(JSON.stringify(args ? { command, arguments: args } : { command }));
    });
    try {
      const answer = JSON.parse(text) as KeaAnswer | KeaAnswer[];
      return Array.isArray(answer) ? answer[0]! : answer;
    } catch {
      throw new DhcpDeployError(
        `dhcp server ${this.server.name}: Kea's answer to ${command} is not JSON: ${text.slice(0, 300) || '(empty: is ' + this.server.controlSocket + ' the control socket?)'}`,
      );
    }
  }

  private async runningConfig(): Promise<Json> {
    const a = await this.command('config-get');
    if (a.result !== 0 || !a.arguments?.Dhcp4)
      throw new DhcpDeployError(`dhcp server ${this.server.name}: config-get failed: ${a.text ?? JSON.stringify(a)}`);
    return { Dhcp4: a.arguments.Dhcp4 };
  }

  async observe(): Promise<ServerObservation> {
    const [config, sealer] = await Promise.all([this.runningConfig(), this.deps.sealer?.()]);
    const owned = new Map<string, Reservation>();
    const foreign: ForeignReservation[] = [];
    const subnets: string[] = [];
    for (const subnet of (config.Dhcp4['subnet4'] ?? []) as Json[]) {
      subnets.push(subnet.subnet);
      for (const r of (subnet.reservations ?? []) as Json[]) {
        const system = ownerOf(r, sealer);
        const mac = typeof r['hw-address'] === 'string' ? r['hw-address'].toLowerCase() : undefined;
        if (system !== undefined) {
          owned.set(system, {
            mac: mac ?? '',
            ip: r['ip-address'] ?? '',
            hostname: r.hostname ?? '',
            ...(r['next-server'] && r['next-server'] !== '0.0.0.0' ? { nextServer: r['next-server'] } : {}),
            ...(r['boot-file-name'] ? { bootFilename: r['boot-file-name'] } : {}),
          });
        } else {
          const label = `reservation ${r.hostname ?? mac ?? r['ip-address']} in subnet ${subnet.subnet}`;
          const other = Object.keys(r).filter((k) => !MANAGED_KEYS.includes(k) && !isDefault(r[k]));
          foreign.push({
            label,
            name: r.hostname,
            mac,
            ip: r['ip-address'],
            ...(typeof r.hostname === 'string' ? { hostname: r.hostname } : {}),
            ...(r['next-server'] && r['next-server'] !== '0.0.0.0' ? { nextServer: r['next-server'] } : {}),
            ...(r['boot-file-name'] ? { bootFilename: r['boot-file-name'] } : {}),
            ...(other.length
              ? {
                  notAdoptable: `${label} on ${this.server.name} has ${other.join(', ')}, which shipshape's reservations do not carry (adopting would drop it); move it to the subnet or a client class, then adopt`,
                }
              : {}),
          });
        }
      }
    }
    return { owned, foreign, subnets, roundTrips: 1 };
  }

  /** The running config with our reservations (those whose marker counts) replaced by `wanted`. */
  private withReservations(
    config: Json,
    wanted: Map<string, Reservation>,
    sealer: Sealer | undefined,
    adopt?: Set<string>,
  ): Json {
    const next = structuredClone(config);
    const subnets = (next.Dhcp4['subnet4'] ?? []) as Json[];
    // Ours are replaced; the operator's copy of one of ours (adopted: its name, MAC and address) goes in
    // the same config-set, which Kea applies whole or not at all.
    const handCopy = (r: Json) =>
      [...wanted].some(
        ([system, w]) =>
          r.hostname === system && String(r['hw-address'] ?? '').toLowerCase() === w.mac && r['ip-address'] === w.ip,
      );
    for (const s of subnets)
      s.reservations = ((s.reservations ?? []) as Json[]).filter(
        (r) => ownerOf(r, sealer, adopt) === undefined && !handCopy(r),
      );
    for (const [system, r] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
      const subnet = subnets.find((s) => inCidr(r.ip, s.subnet));
      if (!subnet)
        throw new DhcpDeployError(
          `dhcp server ${this.server.name}: ${system}: ${r.ip} is in no subnet of the running Kea config`,
        );
      subnet.reservations.push({
        'hw-address': r.mac,
        'ip-address': r.ip,
        hostname: r.hostname,
        ...(r.nextServer ? { 'next-server': r.nextServer } : {}),
        ...(r.bootFilename ? { 'boot-file-name': r.bootFilename } : {}),
        'user-context': {
          shipshape: {
            system,
            ...(this.deps.commit ? { commit: this.deps.commit } : {}),
            ...(sealer ? { seal: sealer.seal(sealFor(system, r.mac)) } : {}),
          },
        },
      });
    }
    return next;
  }

  /**
   * `shipshape ownership seal`: rewrites the reservations whose unsealed marker names one of `systems`
   * with this site's seal (one deploy, the same checks as apply); other reservations stay as they are.
   */
  async sealMarkers(systems: Set<string>): Promise<{ sealed: string[]; skipped: string[] }> {
    const sealer = await this.deps.sealer?.();
    if (!sealer) return { sealed: [], skipped: [] };
    const config = await this.runningConfig();
    const wanted = new Map<string, Reservation>();
    const sealed: string[] = [];
    for (const subnet of (config.Dhcp4['subnet4'] ?? []) as Json[])
      for (const r of (subnet.reservations ?? []) as Json[]) {
        const system = ownerOf(r, sealer, systems);
        if (system === undefined) continue;
        wanted.set(system, {
          mac: String(r['hw-address'] ?? '').toLowerCase(),
          ip: r['ip-address'] ?? '',
          hostname: r.hostname ?? '',
          ...(r['next-server'] && r['next-server'] !== '0.0.0.0' ? { nextServer: r['next-server'] } : {}),
          ...(r['boot-file-name'] ? { bootFilename: r['boot-file-name'] } : {}),
        });
        if (r['user-context'].shipshape.seal === undefined)
          sealed.push(`dhcp ${system}: reservation ${r['hw-address']} on ${this.server.name}`);
      }
    if (sealed.length) await this.deploy(this.withReservations(config, wanted, sealer, systems));
    return { sealed, skipped: [] };
  }

  async apply(wanted: Map<string, Reservation>): Promise<void> {
    const sealer = await this.deps.sealer?.();
    await this.deploy(this.withReservations(await this.runningConfig(), wanted, sealer));
  }

  private async deploy(candidate: Json): Promise<void> {
    const conf = this.server.configPath!;
    const name = this.server.name;
    const text = JSON.stringify(candidate, null, 2);
    const ssh = await this.session();
    const tmp = await ssh.uploadTemp(conf, text, 0o600);
    // One exec: check the candidate, remove it, and keep a copy of the current file for the operator.
    // The running server's config-test at the same time: both only check, nothing is applied before both pass.
    const [, test] = await Promise.all([
      ssh.exec(
        `export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; out=$(kea-dhcp4 -t ${shq(tmp)} 2>&1); rc=$?; rm -f ${shq(tmp)}
[ $rc = 0 ] || { echo "$out" | grep -v ' INFO ' >&2; exit $rc; }
[ ! -e ${shq(conf)} ] || cp -p ${shq(conf)} ${shq(conf + '.shipshape-prev')}`,
        { label: 'kea-dhcp4 -t of the new config (nothing applied)', timeoutMs: 120_000 },
      ),
      this.command('config-test', candidate),
    ]);
    if (test.result !== 0)
      throw new DhcpDeployError(
        `dhcp server ${name}: Kea's config-test refused the new reservations (nothing applied): ${test.text}`,
      );
    this.configSets++;
    const set = await this.command('config-set', candidate);
    if (set.result !== 0)
      throw new DhcpDeployError(
        `dhcp server ${name}: Kea refused config-set: ${set.text}; the previous configuration keeps running`,
      );
    const write = await this.command('config-write', { filename: conf });
    if (write.result !== 0) {
      throw new DhcpDeployError(
        `dhcp server ${name}: the new reservations are running but config-write to ${conf} failed: ${write.text}; they would be lost on restart — fix the file's permissions and apply again`,
      );
    }
  }
}
