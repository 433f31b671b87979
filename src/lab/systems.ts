/**
 * Lab systems that answer on their own address: when the installer stand-in reports a system built, the
 * lab gives it a network namespace holding the system's address (from the site's nets, documentation
 * ranges) and an sshd there with a host key of its own, so specialisation connects over real SSH to
 * that address and pins the key the install callback reported.
 *
 * What is touched on this machine: one namespace per system (`shipshape-lab-<lab id>-<system>`), one
 * veth pair into it with the net's gateway as a /32 on the root side, and a routing table of the lab's
 * own (20000 + its SSH port) holding one route per system plus `unreachable default`, chosen by a rule
 * that matches only TCP to the lab's nets on the lab's SSH port. So the main table never routes a
 * documentation range, two labs on one machine (tests run several, each with its own port) never see
 * each other's systems, and lab traffic to an address without a namespace is unreachable instead of
 * leaving by the default route. Nothing else: no bridge, no forwarding, no address on an existing
 * interface. `lab down` removes every system, rule and route of its lab; `lab up` also removes those of
 * labs whose folder no longer has a running lab (a test that crashed).
 */
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { SiteConfig } from '../manifest/site';
import { rootPrefix } from '../providers/specialise/role-model';
import { sshBannerSeen, sshdConf } from './configs';
import { newHostKey } from './host-key';
import { LabError, isAlive, requireBinary, run, startTime, stopProcess, waitReady } from './process';
import { detachInHelper, runInHelper } from './spawner';

/** Every namespace the lab creates starts with this; nothing else is ever deleted. */
export const NETNS_PREFIX = 'shipshape-lab-';
/** Where each lab id's folder is noted, so a later `lab up` can tell a crashed lab's namespaces from a running one's. */
const MARKERS = '/run/shipshape-lab';

export interface LabSystemRecord {
  system: string;
  ip: string;
  netns: string;
  veth: string;
  pid: number;
  start: string;
  log: string;
  /** The public host key line reported through the install callback. */
  hostKey: string;
}

const systemsDir = (root: string) => join(root, '.lab', 'systems');
const recordOf = (root: string, system: string) => join(systemsDir(root), system, 'system.json');

/** 8 hex of the lab folder: two labs on one machine never share a namespace name. */
export function labId(root: string): string {
  return createHash('sha256').update(realpathSync(root)).digest('hex').slice(0, 8);
}

export const netnsName = (root: string, system: string) => `${NETNS_PREFIX}${labId(root)}-${system}`;
/** Interface names have 15 characters at most: `shl` + 10 hex of lab and system. */
const vethName = (root: string, system: string) =>
  `shl${createHash('sha256')
    .update(`${labId(root)}/${system}`)
    .digest('hex')
    .slice(0, 10)}`;

function ip(...args: string[]): string {
  return run(requireBinary('/usr/sbin/ip', 'iproute2'), args);
}

/** `ip` without blocking the event loop, started by the lab's helper (spawner.ts): apply brings systems up and down, many at once. */
function ipAsync(...args: string[]): Promise<string> {
  return runInHelper(requireBinary('/usr/sbin/ip', 'iproute2'), args);
}

/** Several `ip` commands in one process (`ip -batch -`, ip(8)): a lab system needs about ten. */
function ipBatch(global: string[], lines: string[][]): Promise<string> {
  return runInHelper(
    requireBinary('/usr/sbin/ip', 'iproute2'),
    [...global, '-batch', '-'],
    lines.map((l) => l.join(' ')).join('\n') + '\n',
  );
}

/** `ip netns add` keeps each namespace as a file there (ip-netns(8)): a look without starting `ip netns list`. */
const netnsExists = (name: string) => existsSync(join('/run/netns', name));

/** The lab's routing table: one per SSH port, so labs on other ports never share it. */
const tableOf = (port: number) => String(20_000 + port);
const RULE_PREF = '5000';

/** Ports whose rules this process has put in place (cleared by removeRules): two `ip` runs saved per system. */
const rulesInPlace = new Set<number>();

/** The rules sending TCP to the lab's nets on its SSH port to its table (added once, kept until lab down). */
function ensureRules(site: SiteConfig, port: number): void {
  if (rulesInPlace.has(port)) return;
  const table = tableOf(port);
  const rules = ip('-4', 'rule', 'list');
  for (const n of Object.values(site.nets)) {
    if (n.cidr.startsWith('127.') || n.cidr.startsWith('192.0.2.')) continue;
    if (rules.includes(`to ${n.cidr} ipproto tcp dport ${port} lookup ${table}`)) continue;
    ip('-4', 'rule', 'add', 'pref', RULE_PREF, 'to', n.cidr, 'ipproto', 'tcp', 'dport', String(port), 'lookup', table);
  }
  ip('-4', 'route', 'replace', 'unreachable', 'default', 'table', table);
  rulesInPlace.add(port);
}

function removeRules(port: number): void {
  rulesInPlace.delete(port);
  const table = tableOf(port);
  for (const line of ip('-4', 'rule', 'list').split('\n')) {
    const m = new RegExp(`to (\\S+) ipproto tcp dport ${port} lookup ${table}\\b`).exec(line);
    if (m)
      ip('-4', 'rule', 'del', 'pref', RULE_PREF, 'to', m[1]!, 'ipproto', 'tcp', 'dport', String(port), 'lookup', table);
  }
  try {
    ip('-4', 'route', 'flush', 'table', table);
  } catch {
    /* no such table: nothing was routed */
  }
}

/** `<lab folder>\n<SSH port>`: what a later sweep needs to tell whether the lab runs and what to remove. */
function readMarker(id: string): { root: string; port?: number } {
  const [root, port] = readFileSync(join(MARKERS, id), 'utf8').split('\n');
  return { root: root!.trim(), ...(port ? { port: Number(port) } : {}) };
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function netOf(site: SiteConfig, address: string): { prefix: number; gateway: string } {
  for (const [name, n] of Object.entries(site.nets)) {
    const [base, len] = n.cidr.split('/');
    const prefix = Number(len);
    const size = 2 ** (32 - prefix);
    if (Math.floor(ipv4ToInt(address) / size) !== Math.floor(ipv4ToInt(base!) / size)) continue;
    if (!n.gateway)
      throw new LabError(
        `lab: net ${name} has no gateway; a lab system's namespace reaches this machine through it (set nets.${name}.gateway)`,
      );
    if (n.cidr.startsWith('192.0.2.')) throw new LabError(`lab: ${n.cidr} is not used for lab namespaces`);
    return { prefix, gateway: n.gateway };
  }
  throw new LabError(`lab: ${address} is in none of the site's nets`);
}

/**
 * Records as last parsed, by file, with the mtime and size they were read at: every system the
 * installer stand-in brings up looks for another one holding its address, so an apply creating N
 * systems read and parsed N²/2 records; now it reads each once and checks the others with a stat.
 */
const parsedRecords = new Map<string, { mtimeMs: number; size: number; record: LabSystemRecord }>();

export function readLabSystems(root: string): LabSystemRecord[] {
  let names: string[];
  try {
    names = readdirSync(systemsDir(root));
  } catch {
    return [];
  }
  return names.flatMap((s) => {
    const f = recordOf(root, s);
    const st = statSync(f, { throwIfNoEntry: false });
    if (!st) {
      parsedRecords.delete(f);
      return [];
    }
    const kept = parsedRecords.get(f);
    if (kept && kept.mtimeMs === st.mtimeMs && kept.size === st.size) return [kept.record];
    const record = JSON.parse(readFileSync(f, 'utf8')) as LabSystemRecord;
    parsedRecords.set(f, { mtimeMs: st.mtimeMs, size: st.size, record });
    return [record];
  });
}

function namespaces(): string[] {
  return namesOf(ip('netns', 'list'));
}

function namesOf(list: string): string[] {
  return list
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

/** Kills what still runs in a namespace of ours (by the kernel's list of its pids), then deletes it. */
function deleteNamespace(name: string): void {
  if (!name.startsWith(NETNS_PREFIX)) throw new LabError(`lab: refusing to delete namespace ${name}: not the lab's`);
  if (!namespaces().includes(name)) return;
  for (const pid of ip('netns', 'pids', name).split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  ip('netns', 'del', name);
}

/** deleteNamespace without blocking (one system's stop while others come up). */
async function deleteNamespaceAsync(name: string): Promise<void> {
  if (!name.startsWith(NETNS_PREFIX)) throw new LabError(`lab: refusing to delete namespace ${name}: not the lab's`);
  if (!netnsExists(name)) return;
  for (const pid of (await ipAsync('netns', 'pids', name)).split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await ipAsync('netns', 'del', name);
}

/** Stops one system's sshd and removes its namespace (with its veth pair and route). */
export async function stopLabSystem(root: string, system: string): Promise<void> {
  const f = recordOf(root, system);
  if (existsSync(f)) {
    const r = JSON.parse(readFileSync(f, 'utf8')) as LabSystemRecord;
    await stopProcess(r);
    rmSync(f, { force: true });
  }
  await deleteNamespaceAsync(netnsName(root, system));
}

/** Every system of this lab (lab down), including namespaces whose record was lost. */
export async function stopLabSystems(root: string, progress: (line: string) => void): Promise<void> {
  if (!existsSync(join(root, '.lab'))) return;
  for (const r of readLabSystems(root)) {
    await stopLabSystem(root, r.system);
    progress(`lab system ${r.system} (${r.ip}): namespace removed`);
  }
  if (process.getuid?.() !== 0) return;
  const mine = `${NETNS_PREFIX}${labId(root)}-`;
  for (const n of namespaces().filter((x) => x.startsWith(mine))) deleteNamespace(n);
  const marker = join(MARKERS, labId(root));
  if (!existsSync(marker)) return;
  const { port } = readMarker(labId(root));
  if (port) removeRules(port);
  rmSync(marker, { force: true });
}

/** Namespaces of labs that no longer run (their folder is gone or has no lab record): a crashed test's. */
export function removeStaleNamespaces(progress: (line: string) => void): void {
  if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/ip')) return;
  for (const n of namespaces()) {
    const id = n.slice(NETNS_PREFIX.length).split('-')[0]!;
    const root = existsSync(join(MARKERS, id)) ? readMarker(id).root : undefined;
    if (root && existsSync(join(root, '.lab', 'lab.json'))) continue;
    deleteNamespace(n);
    progress(`removed namespace ${n}: its lab is no longer running`);
  }
  if (!existsSync(MARKERS)) return;
  for (const id of readdirSync(MARKERS)) {
    const { root, port } = readMarker(id);
    if (existsSync(join(root, '.lab', 'lab.json'))) continue;
    if (port) removeRules(port);
    rmSync(join(MARKERS, id), { force: true });
  }
}

/** The folder a lab system's roles write into: emptied when the system is (re)built, as a new disk would be. */
function freshRoot(site: SiteConfig, system: string): void {
  const prefix = site.specialise?.rootPrefix;
  if (!prefix?.includes('{system}')) return;
  const dir = rootPrefix(prefix, system);
  if (!isAbsolute(dir) || dir.split('/').filter(Boolean).length < 2) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

/**
 * Brings up a built lab system: namespace with its address, sshd with a new host key and the site's
 * provisioning key authorised. Returns the host key line to report as the installer would.
 */
export async function startLabSystem(site: SiteConfig, system: string, address: string): Promise<string> {
  if (process.getuid?.() !== 0)
    throw new LabError('lab: a lab system runs in a network namespace of its own; `lab up` and apply must run as root');
  const root = site.root;
  const sp = site.specialise;
  if (!sp) throw new LabError('lab: no specialise section, so no lab system needs an sshd');
  if (!sp.rootPrefix?.includes('{system}'))
    throw new LabError(
      "lab: specialise.rootPrefix must name a folder per system (e.g. /var/lib/shipshape-lab/systems/{system}): the lab systems' namespaces share this machine's file system, so roles without it would change this machine's /etc",
    );
  if (!site.provisioning?.sshPublicKeyFile)
    throw new LabError('lab: provisioning.sshPublicKeyFile is not set: a lab system would accept no key');
  netOf(site, address); // an address in none of the site's nets is refused before anything is stopped
  // A rebuilt system is a new machine; an address handed out again belonged to a system that is gone.
  await stopLabSystem(root, system);
  for (const other of readLabSystems(root)) if (other.ip === address) await stopLabSystem(root, other.system);
  freshRoot(site, system);

  const dir = join(systemsDir(root), system);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'home'), { recursive: true, mode: 0o700 });
  mkdirSync(MARKERS, { recursive: true });
  writeFileSync(join(MARKERS, labId(root)), `${realpathSync(root)}\n${sp.port}\n`);
  // The new system's own host key (an installed system makes its own; host-key.ts says why not ssh-keygen).
  const key = newHostKey(system);
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  writeFileSync(hostKey, key.privateKey, { mode: 0o600 });
  writeFileSync(`${hostKey}.pub`, `${key.publicLine}\n`);
  return bringUp(site, system, address);
}

/**
 * A lab system's namespace holding `address` and its sshd there, with the host key already in its folder
 * (made by startLabSystem, kept by moveLabSystem). Returns the host key line.
 */
async function bringUp(site: SiteConfig, system: string, address: string): Promise<string> {
  const root = site.root;
  const sp = site.specialise!;
  const { prefix, gateway } = netOf(site, address);
  const dir = join(systemsDir(root), system);
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const key = site.provisioning!.sshPublicKeyFile!; // startLabSystem checked both
  const pubFile = isAbsolute(key) ? key : join(root, key);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(pubFile, 'utf8'), { mode: 0o600 });
  const conf = join(dir, 'sshd_config');
  writeFileSync(
    conf,
    sshdConf({
      port: sp.port,
      listen: address,
      hostKey,
      pidFile: join(dir, 'sshd.pid'),
      authorizedKeys: join(dir, 'authorized_keys'),
      sessionHome: join(dir, 'home'),
    }),
  );

  const ns = netnsName(root, system);
  const veth = vethName(root, system);
  ensureRules(site, sp.port); // synchronous, once per process: two systems coming up at once must not both add the rule
  // A namespace just deleted (a move to a new address) lives on until the processes killed in it have
  // exited, and its veth with it: `link add` would then fail with "File exists". Deleting the root
  // end removes the pair at once.
  if (existsSync(`/sys/class/net/${veth}`)) await ipAsync('link', 'del', veth).catch(() => undefined);
  try {
    // One `ip` for the root side; the route fails ("File exists") when another lab on this port routes the address.
    await ipBatch(
      [],
      [
        ['netns', 'add', ns],
        ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns],
        ['addr', 'add', `${gateway}/32`, 'dev', veth],
        ['link', 'set', veth, 'up'],
        ['route', 'add', `${address}/32`, 'dev', veth, 'src', gateway, 'table', tableOf(sp.port)],
      ],
    );
  } catch (e) {
    await deleteNamespaceAsync(ns);
    let held = '';
    try {
      held = (await ipAsync('-4', '-o', 'route', 'show', 'table', tableOf(sp.port), `${address}/32`)).trim();
    } catch {
      /* no such table: nothing routes it */
    }
    if (held && /File exists/.test((e as Error).message))
      throw new LabError(
        `lab: ${address} on SSH port ${sp.port} is already routed to another lab's system (${held.split('\n')[0]}); \`shipshape lab down\` there first, or give this lab another specialise.port`,
      );
    throw new LabError(`lab: could not give ${system} its namespace: ${(e as Error).message}`);
  }
  const log = join(dir, 'sshd.log');
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  const ipBin = requireBinary('/usr/sbin/ip', 'iproute2');
  // Inside the namespace, the same shell that becomes its sshd sets up the system's address and route
  // first (one process from here instead of two); a failure there ends the start with the log's tail.
  const inside = [
    `${ipBin} link set lo up`,
    `${ipBin} addr add ${address}/${prefix} dev eth0`,
    `${ipBin} link set eth0 up`,
    `${ipBin} route add default via ${gateway} dev eth0`,
    `exec ${sshd} -D -e -f "$0"`,
  ].join(' && ');
  // Started by the lab's helper (spawner.ts), core dumps off as for the lab's daemons (process.ts).
  const pid = await detachInHelper(
    '/bin/sh',
    ['-c', 'ulimit -c 0; exec "$0" "$@"', ipBin, 'netns', 'exec', ns, '/bin/sh', '-c', inside, conf],
    log,
  );
  const start = startTime(pid);
  if (!start) throw new LabError(`lab: the sshd of ${system} could not be started (see ${log})`);
  const proc = { pid, start };
  const rec: LabSystemRecord = {
    system,
    ip: address,
    netns: ns,
    veth,
    ...proc,
    log,
    hostKey: readFileSync(`${hostKey}.pub`, 'utf8').trim(),
  };
  writeFileSync(recordOf(root, system), JSON.stringify(rec, null, 2) + '\n');
  if (process.env.SHIPSHAPE_TEST_PIDS) appendFileSync(process.env.SHIPSHAPE_TEST_PIDS, `${proc.pid} ${proc.start}\n`);
  try {
    await waitReady(`sshd of lab system ${system}`, proc, log, () => sshBannerSeen(sp.port, address), 20_000);
  } catch (e) {
    await stopLabSystem(root, system);
    throw e;
  }
  return rec.hostKey;
}

/**
 * A built lab system whose DHCP reservation moved takes its new address at once, as a guest renewing
 * its lease would (the lab's DHCP servers serve no interface): same machine, same host key and roles,
 * its namespace and sshd brought up again on the new address. A system the lab has not started (not
 * installed yet) is left alone: the install brings it up on its address.
 */
export async function moveLabSystem(site: SiteConfig, system: string, address: string): Promise<void> {
  const root = site.root;
  const f = recordOf(root, system);
  if (!existsSync(f)) return;
  const rec = JSON.parse(readFileSync(f, 'utf8')) as LabSystemRecord;
  if (rec.ip === address && labSystemAlive(rec)) return;
  await stopProcess(rec);
  rmSync(f, { force: true });
  await deleteNamespaceAsync(netnsName(root, system));
  for (const other of readLabSystems(root)) if (other.ip === address) await stopLabSystem(root, other.system);
  await bringUp(site, system, address);
}

/** One role run on a lab system, from the record specialisation keeps on it. */
export interface LabRoleRun {
  system: string;
  role: string;
  version?: string;
  appliedAt: string;
}

/**
 * The roles applied on each lab system with their times, oldest first (tests read the order across
 * systems). Read from the record specialisation writes below the system's root prefix.
 */
export function labRoleRuns(site: SiteConfig): LabRoleRun[] {
  const prefix = site.specialise?.rootPrefix;
  if (!prefix) return [];
  const runs: LabRoleRun[] = [];
  for (const r of readLabSystems(site.root)) {
    const f = join(rootPrefix(prefix, r.system), 'var/lib/shipshape/roles.json');
    if (!existsSync(f)) continue;
    const rec = JSON.parse(readFileSync(f, 'utf8')) as {
      roles: Record<string, { version?: string; appliedAt: string }>;
    };
    for (const [role, a] of Object.entries(rec.roles))
      runs.push({ system: r.system, role, ...(a.version ? { version: a.version } : {}), appliedAt: a.appliedAt });
  }
  return runs.sort((a, b) => a.appliedAt.localeCompare(b.appliedAt));
}

export const labSystemAlive = (r: LabSystemRecord) => isAlive(r.pid, r.start);
