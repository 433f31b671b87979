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
import { hostKey, inCidr, type ForeignReservation, type Reservation } from '../reservations';

// Kea's config is open-ended JSON; we touch only the subnets' reservations (and a hand copy's list).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- open-ended JSON read from the server
type Json = Record<string, any>;

/** A subnet of the running config, top-level or in a shared network, and whether Kea reads its reservations. */
interface KeaSubnet {
  subnet: Json;
  /** How the subnet is named in messages: `192.0.2.0/24` or `192.0.2.0/24 (shared network office)`. */
  where: string;
  /** False when `reservations-in-subnet: false` (or the older `reservation-mode` disabled/global) applies to it. */
  inSubnet: boolean;
}

/** The effective reservations-in-subnet flag of one level, if that level sets it (Kea ARM, host reservations). */
function inSubnetFlag(level: Json | undefined): boolean | undefined {
  if (!level) return undefined;
  if (typeof level['reservations-in-subnet'] === 'boolean') return level['reservations-in-subnet'];
  const mode = level['reservation-mode'];
  if (mode === 'disabled' || mode === 'global') return false;
  if (mode === 'all' || mode === 'out-of-pool') return true;
  return undefined;
}

/**
 * Every subnet of the running config: `subnet4` and the `subnet4` of each `shared-networks` entry
 * (a subnet in a shared network is where most sites keep their reservations). The flag is inherited
 * subnet → shared network → global; Kea's default is true.
 */
export function keaSubnets(dhcp4: Json): KeaSubnet[] {
  const global = inSubnetFlag(dhcp4);
  const out: KeaSubnet[] = ((dhcp4['subnet4'] ?? []) as Json[]).map((s) => ({
    subnet: s,
    where: String(s.subnet),
    inSubnet: inSubnetFlag(s) ?? global ?? true,
  }));
  for (const net of (dhcp4['shared-networks'] ?? []) as Json[])
    for (const s of (net['subnet4'] ?? []) as Json[])
      out.push({
        subnet: s,
        where: `${String(s.subnet)} (shared network ${String(net.name)})`,
        inSubnet: inSubnetFlag(s) ?? inSubnetFlag(net) ?? global ?? true,
      });
  return out;
}

/**
 * Where the config file has what `config-write` cannot keep: comments (`#`, `//`, `/* *\/`) and
 * `<?include "file"?>` (Kea ARM, JSON syntax), outside strings. 1-based lines.
 */
export function fileExtras(text: string): { comments: number[]; includes: { line: number; path: string }[] } {
  const comments: number[] = [];
  const includes: { line: number; path: string }[] = [];
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    else if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\') i++;
        else if (text[i] === '\n') line++;
      }
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      comments.push(line);
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      comments.push(line);
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 1;
      for (; i < stop; i++) if (text[i] === '\n') line++;
    } else if (text.startsWith('<?include', i)) {
      const m = /^<\?include\s+"([^"]*)"\s*\?>/.exec(text.slice(i, i + 4200));
      includes.push({ line, path: m?.[1] ?? '?' });
      const end = text.indexOf('?>', i);
      i = end < 0 ? text.length : end + 1;
    }
  }
  return { comments, includes };
}

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
    // Global reservations (`Dhcp4.reservations`) are the operator's: shipshape writes its own in subnets.
    const lists: { where: string; reservations: Json[] }[] = [
      ...keaSubnets(config.Dhcp4).map((k) => ({
        where: `subnet ${k.where}`,
        reservations: k.subnet.reservations ?? [],
      })),
      { where: 'the global reservations', reservations: config.Dhcp4['reservations'] ?? [] },
    ];
    const closed: { cidr: string; why: string }[] = [];
    for (const k of keaSubnets(config.Dhcp4)) {
      subnets.push(k.subnet.subnet);
      if (!k.inSubnet) closed.push({ cidr: k.subnet.subnet, why: closedWhy(k) });
    }
    for (const list of lists) {
      for (const r of list.reservations) {
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
          const id = r.hostname || mac || r['client-id'] || r['ip-address'];
          const label = `reservation ${id} in ${list.where}`;
          const other = Object.keys(r).filter((k) => !MANAGED_KEYS.includes(k) && !isDefault(r[k]));
          foreign.push({
            label,
            name: r.hostname || undefined,
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
    return { owned, foreign, subnets, closed, roundTrips: 1 };
  }

  /** The running config with our reservations (those whose marker counts) replaced by `wanted`. */
  private withReservations(
    config: Json,
    wanted: Map<string, Reservation>,
    sealer: Sealer | undefined,
    adopt?: Set<string>,
  ): Json {
    const next = structuredClone(config);
    const subnets = keaSubnets(next.Dhcp4);
    // Ours are replaced; the operator's copy of one of ours (adopted: its name, MAC and address) goes in
    // the same config-set, which Kea applies whole or not at all.
    const handCopy = (r: Json) =>
      [...wanted].some(
        ([system, w]) =>
          hostKey(String(r.hostname ?? '')) === system &&
          String(r['hw-address'] ?? '').toLowerCase() === w.mac &&
          r['ip-address'] === w.ip,
      );
    const keep = (list: Json[] | undefined) =>
      (list ?? []).filter((r) => ownerOf(r, sealer, adopt) === undefined && !handCopy(r));
    for (const { subnet } of subnets) subnet.reservations = keep(subnet.reservations);
    if (Array.isArray(next.Dhcp4['reservations'])) next.Dhcp4['reservations'] = keep(next.Dhcp4['reservations']);
    for (const [system, r] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
      const found = subnets.find((s) => inCidr(r.ip, s.subnet.subnet));
      if (!found)
        throw new DhcpDeployError(
          `dhcp server ${this.server.name}: ${system}: ${r.ip} is in no subnet of the running Kea config (subnet4 or shared-networks)`,
        );
      if (!found.inSubnet) throw new DhcpDeployError(`dhcp server ${this.server.name}: ${system}: ${closedWhy(found)}`);
      const subnet = found.subnet;
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
    for (const { subnet } of keaSubnets(config.Dhcp4))
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
    const [tmp, onDisk] = await Promise.all([
      ssh.uploadTemp(conf, text, 0o600),
      ssh.readFile(conf, { missingOk: true, timeoutMs: 60_000 }),
    ]);
    // config-write saves the running configuration as plain JSON: what the file has beyond that is lost.
    const extras = fileExtras(onDisk?.toString('utf8') ?? '');
    const lossy = extras.comments.length > 0 || extras.includes.length > 0;
    if (lossy && !this.server.rewriteConfigFile) {
      await ssh.exec(`rm -f ${shq(tmp)}`, { label: 'removing the unused candidate' }).catch(() => undefined);
      throw new DhcpDeployError(describeLoss(name, conf, extras));
    }
    // One exec: check the candidate, remove it, and keep a copy of the current file for the operator.
    // The running server's config-test at the same time: both only check, nothing is applied before both pass.
    const [, test] = await Promise.all([
      ssh.exec(
        `export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; out=$(kea-dhcp4 -t ${shq(tmp)} 2>&1); rc=$?; rm -f ${shq(tmp)}
[ $rc = 0 ] || { echo "$out" | grep -v ' INFO ' >&2; exit $rc; }
[ ! -e ${shq(conf)} ] || cp -p ${shq(conf)} ${shq(conf + '.shipshape-prev')}${
          // The operator's own file, comments and includes, once: before the first config-write rewrites it.
          lossy
            ? `\n[ -e ${shq(conf + '.shipshape-orig')} ] || cp -p ${shq(conf)} ${shq(conf + '.shipshape-orig')}`
            : ''
        }`,
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

const closedWhy = (k: KeaSubnet) =>
  `subnet ${k.where} has reservations-in-subnet false (or reservation-mode disabled/global), so Kea would ignore a reservation there; set reservations-in-subnet: true for it, or serve this net from another server`;

/** Why a deploy would lose what the config file has beyond its JSON, and what to do (nothing was applied). */
function describeLoss(server: string, conf: string, x: ReturnType<typeof fileExtras>): string {
  const lines = (ns: number[]) =>
    ns.length > 5 ? `${ns.slice(0, 5).join(', ')} and ${ns.length - 5} more` : ns.join(', ');
  const what = [
    ...(x.includes.length
      ? [
          `${x.includes.map((i) => `${conf}:${i.line}: <?include "${i.path}"?>`).join('; ')} (the included content would be written into ${conf} and the included file no longer read)`,
        ]
      : []),
    ...(x.comments.length ? [`the comments on line ${lines(x.comments)}`] : []),
  ];
  return `dhcp server ${server}: nothing applied: Kea saves a configuration only with config-write, which replaces ${conf} with the running configuration as plain JSON, so ${what.join(' and ')} would be lost. Either write the comments as "comment" entries (Kea keeps them) and the included content into ${conf}, or let shipshape rewrite the file: set rewriteConfigFile: true on dhcp server ${server} in shipshape.yaml (the file as it is now is kept once as ${conf}.shipshape-orig)`;
}
