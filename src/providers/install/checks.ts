/**
 * Checks for rendered installer files, run before a file is ever served:
 * - preseed: Debian's own parser, `debconf-set-selections --checkonly` (it exits 0 on a malformed line
 *   and only warns, so any warning counts), plus the questions an unattended install cannot do without;
 * - kickstart: our rules for the commands and sections a RHEL 7/9 unattended install needs;
 * - iPXE: only the commands and settings our scripts use.
 * Each returns a list of problems (empty = passes).
 */
import { execFile } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DebconfChecker, perlScript, privateDebconf } from './debconf-checker';

export class CheckerMissingError extends Error {
  override readonly name = 'CheckerMissingError';
}

const PRESEED_REQUIRED = [
  'netcfg/get_hostname',
  'netcfg/get_domain',
  'mirror/http/hostname',
  'passwd/root-password-crypted',
  'time/zone',
  'partman-auto/disk',
  'partman-auto/method',
  'pkgsel/include',
  'grub-installer/bootdev',
  'preseed/late_command',
];

export async function checkPreseed(text: string): Promise<string[]> {
  const problems: string[] = [];
  const { code, stderr } = await debconfCheck(text);
  if (code !== 0 || stderr.trim())
    problems.push(`debconf-set-selections --checkonly: ${stderr.trim() || `exit code ${code}`}`);
  const questions = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (/^\s*(#|$)/.test(line)) return;
    const m = /^(\S+)\s+(\S+)\s+(\S+)(\s|$)/.exec(line);
    if (!m) return void problems.push(`line ${i + 1}: not \`owner question type value\``);
    questions.add(m[2]!);
  });
  for (const q of PRESEED_REQUIRED)
    if (!questions.has(q)) problems.push(`missing d-i ${q}: an unattended install would stop and ask`);
  return problems;
}

const KS_COMMANDS = new Set([
  'text',
  'graphical',
  'cmdline',
  'install',
  'url',
  'lang',
  'keyboard',
  'timezone',
  'network',
  'rootpw',
  'sshkey',
  'firewall',
  'selinux',
  'firstboot',
  'ignoredisk',
  'zerombr',
  'clearpart',
  'bootloader',
  'part',
  'autopart',
  'reboot',
  'poweroff',
  'auth',
  'authselect',
  'services',
  'user',
  'skipx',
]);
const KS_SECTIONS = new Set(['%packages', '%pre', '%post', '%onerror']);
const KS_REQUIRED: [string, (cmds: Set<string>) => boolean][] = [
  ['a display mode (text or cmdline)', (c) => c.has('text') || c.has('cmdline')],
  ['url (the installation source)', (c) => c.has('url')],
  ['lang', (c) => c.has('lang')],
  ['keyboard', (c) => c.has('keyboard')],
  ['timezone', (c) => c.has('timezone')],
  ['network', (c) => c.has('network')],
  ['rootpw', (c) => c.has('rootpw')],
  ['bootloader', (c) => c.has('bootloader')],
  ['partitioning (part or autopart)', (c) => c.has('part') || c.has('autopart')],
  ['clearpart', (c) => c.has('clearpart')],
  ['reboot (so the installed system boots from disk)', (c) => c.has('reboot')],
];
/** Commands RHEL 8+ removed: anaconda stops on them. */
const KS_REMOVED_SINCE_8 = new Set(['install', 'auth', 'authconfig']);

export function checkKickstart(text: string, release: string): string[] {
  const problems: string[] = [];
  const cmds = new Set<string>();
  const sections = new Map<string, number>();
  let open: string | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const at = `line ${i + 1}`;
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('%')) {
      const name = line.split(/\s+/)[0]!;
      if (name === '%end') {
        if (!open) problems.push(`${at}: %end without an open section`);
        open = undefined;
        return;
      }
      if (!KS_SECTIONS.has(name)) return void problems.push(`${at}: unknown section ${name}`);
      if (open) problems.push(`${at}: ${name} starts inside ${open}, which has no %end`);
      open = name;
      sections.set(name, (sections.get(name) ?? 0) + 1);
      return;
    }
    if (open) return; // script or package lines
    const cmd = line.split(/\s+/)[0]!;
    if (!KS_COMMANDS.has(cmd)) return void problems.push(`${at}: unknown or unexpected kickstart command \`${cmd}\``);
    if (Number(release) >= 8 && KS_REMOVED_SINCE_8.has(cmd))
      problems.push(`${at}: \`${cmd}\` was removed in RHEL 8; anaconda ${release} stops on it`);
    if (Number(release) < 8 && cmd === 'sshkey')
      problems.push(`${at}: \`sshkey\` does not exist in RHEL ${release}; add the key in %post`);
    if (/["']/.test(line) && (line.split('"').length % 2 === 0 || line.split("'").length % 2 === 0))
      problems.push(`${at}: unbalanced quotes`);
    cmds.add(cmd);
  });
  if (open) problems.push(`section ${open} has no %end`);
  for (const [what, ok] of KS_REQUIRED) if (!ok(cmds)) problems.push(`missing ${what}`);
  if (!sections.has('%packages')) problems.push('missing %packages section');
  if (!/^%post --nochroot[\s\S]*\/built\//m.test(text))
    problems.push('no %post --nochroot section reports /built/: shipshape would never learn the install finished');
  return problems;
}

const IPXE_COMMANDS = new Set(['kernel', 'initrd', 'boot', 'chain', 'set', 'ifopen', 'echo', 'sleep', 'goto', 'exit']);
const IPXE_SETTINGS = /^net0\/(mac(:hexhyp)?|ip|netmask|gateway|dns)$/;

export function checkIpxe(text: string): string[] {
  const problems: string[] = [];
  const lines = text.split('\n');
  if (lines[0] !== '#!ipxe') problems.push('line 1: an iPXE script starts with `#!ipxe`');
  const labels = new Set<string>();
  const gotos: [string, number][] = [];
  lines.slice(1).forEach((raw, idx) => {
    const i = idx + 2;
    const line = raw.trim();
    if (line === '') return;
    if (line.startsWith(':')) return void labels.add(line.slice(1));
    for (const m of line.matchAll(/\$\{([^}]*)\}/g))
      if (!IPXE_SETTINGS.test(m[1]!)) problems.push(`line ${i}: setting \${${m[1]}} is not one we use`);
    if (/\$(?!\{)/.test(line)) problems.push(`line ${i}: a \`$\` outside a \${setting}`);
    for (const part of line.split(/\s+\|\|\s+|\s+&&\s+/)) {
      const [cmd, ...args] = part.split(/\s+/);
      if (!IPXE_COMMANDS.has(cmd!)) problems.push(`line ${i}: command \`${cmd}\` is not one we use`);
      if ((cmd === 'kernel' || cmd === 'initrd' || cmd === 'chain') && !/^https?:\/\//.test(args[0] ?? ''))
        problems.push(`line ${i}: ${cmd} needs an http(s) URL`);
      if (cmd === 'goto') gotos.push([args[0] ?? '', i]);
      if (cmd === 'set' && args.length < 2) problems.push(`line ${i}: set needs a name and a value`);
    }
  });
  for (const [l, i] of gotos) if (!labels.has(l)) problems.push(`line ${i}: goto ${l}: no such label`);
  const cmds = lines.map((l) => l.trim().split(/\s+/)[0]);
  if (!cmds.some((c) => c === 'boot' || c === 'chain' || c === 'exit'))
    problems.push('the script never boots, chains or exits');
  if (cmds.includes('kernel') && !cmds.includes('boot')) problems.push('a kernel is loaded but never booted');
  return problems;
}

interface DebconfAsk {
  text: string;
  done: (r: { code: number; stderr: string }) => void;
  fail: (e: unknown) => void;
}

/** Files per debconf run: far below any argument-list limit, and a bad batch's per-file re-check stays short. */
const BATCH_MAX = 200;
let waitingChecks: DebconfAsk[] = [];
let debconfRunning = false;

/**
 * `debconf-set-selections --checkonly` of one answer file, batched: a perl start and a debconf database
 * load cost more than the check, and apply renders an answer file for every system it installs at once.
 * One run at a time per process (debconf locks its database even for --checkonly); the files asked for
 * while a run is going are checked together by the next one, each as an argument of its own. The script
 * reads its arguments as one stream but stops a `\` continuation at each file's end (perl's `eof`
 * without parentheses), so a file is checked exactly as alone; its line numbers count on across files,
 * so when a batched run says anything at all, each of its files is checked again alone and gets its own
 * verdict (only a broken template costs that).
 */
function debconfCheck(text: string): Promise<{ code: number; stderr: string }> {
  return new Promise((done, fail) => {
    waitingChecks.push({ text, done, fail });
    if (!debconfRunning) void drainChecks();
  });
}

async function drainChecks(): Promise<void> {
  debconfRunning = true;
  try {
    while (waitingChecks.length) {
      const batch = waitingChecks.slice(0, BATCH_MAX);
      waitingChecks = waitingChecks.slice(batch.length);
      try {
        const all = await debconfRun(batch.map((b) => b.text));
        if (batch.length === 1 || (all.code === 0 && !all.stderr.trim())) {
          for (const b of batch) b.done(all);
          continue;
        }
        for (const b of batch) b.done(await debconfRun([b.text]));
      } catch (e) {
        for (const b of batch) b.fail(e);
      }
    }
  } finally {
    debconfRunning = false;
  }
}

/** The long-lived checker of this process (debconf-checker.ts), once the script it runs is known. */
let checker: DebconfChecker | undefined | null;

/** One debconf-set-selections --checkonly over `texts` (one file each), with a private debconf database. */
async function debconfRun(texts: string[]): Promise<{ code: number; stderr: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-preseed-'));
  try {
    const files = texts.map((_, i) => path.join(dir, `preseed-${i}.cfg`));
    await Promise.all(texts.map((t, i) => fs.writeFile(files[i]!, t, { mode: 0o600 })));
    if (checker === undefined) {
      const script = perlScript();
      checker = script ? new DebconfChecker(script) : null;
    }
    const viaChecker = await checker?.check(files, path.join(dir, 'stderr'));
    if (viaChecker) return viaChecker;
    // Each run gets a private database (DEBCONF_SYSTEMRC, debconf.conf(5)) so another shipshape process on
    // the host (a second repo's apply, the provisioning server) never meets the system's lock.
    await fs.writeFile(path.join(dir, 'debconf.conf'), privateDebconf(dir));
    const env = { ...process.env, DEBCONF_SYSTEMRC: path.join(dir, 'debconf.conf') };
    return await run('debconf-set-selections', ['--checkonly', ...files], 'debconf (Debian package `debconf`)', env);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Ends this process's checker (tests; a process that exits ends it anyway), so the next check starts afresh. */
export function resetDebconfChecker(): DebconfChecker | undefined {
  const was = checker ?? undefined;
  was?.close();
  checker = undefined;
  return was;
}

/** The checker in use, if any (tests). */
export function debconfChecker(): DebconfChecker | undefined {
  return checker ?? undefined;
}

function run(
  cmd: string,
  args: string[],
  pkg: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000, ...(env ? { env } : {}) }, (err, _stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(
          new CheckerMissingError(`${cmd} is not installed: install ${pkg} (scripts/install-system-deps.sh)`),
        );
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr: String(stderr) });
    });
  });
}
