/**
 * A long-lived `perl` that runs Debian's own `debconf-set-selections` script for each preseed check,
 * so the debconf modules are compiled once per shipshape process instead of once per check.
 *
 * Of a check's CPU (about 90 ms here), some 50 ms are perl loading `Debconf::Db` and its friends; the
 * rest is the check itself. This process loads the modules the script `use`s, then for each request
 * forks a child that runs the unchanged script file (`do`) with `--checkonly` and the request's files
 * as its arguments and its stderr in a file: the same code, on the same input, with the same exit code
 * and warnings, as a fresh `debconf-set-selections --checkonly FILE…`. The script never saves with
 * `--checkonly`, and the children run one at a time (checks.ts asks one batch at a time), so the
 * checker's private debconf database (DEBCONF_SYSTEMRC, debconf.conf(5)) stays as empty as a new one.
 *
 * Used only when the `debconf-set-selections` first in PATH is a perl script started by plain
 * `#!/usr/bin/perl` (as Debian ships it); anything else, a checker that cannot start or dies, and
 * paths with a tab or newline in them go back to running the command itself (checks.ts).
 */
import { spawn, type ChildProcess } from 'child_process';
import {
  accessSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The checker: reads `<stderr file>\t<file>\t<file>…` lines, answers each with the exit code of its child. */
const CHECKER = String.raw`
use strict;
use POSIX ();
my $script = shift @ARGV;
require Debconf::Db; require Debconf::Template; require Debconf::Question; require Getopt::Long;
require Debconf::DbDriver::File; require Debconf::DbDriver::Stack; require Debconf::DbDriver::Copy;
require Debconf::Format::822;
$| = 1;
print "ready\n";
while (my $line = <STDIN>) {
  chomp $line;
  my ($err, @files) = split /\t/, $line;
  my $pid = fork;
  if (!defined $pid) { print "fork\n"; next; }
  if ($pid == 0) {
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', '/dev/null');
    open(STDERR, '>', $err) or POSIX::_exit(125);
    @ARGV = ('--checkonly', @files);
    $0 = $script;
    do $script;
    if ($@) { print STDERR $@; close STDERR; POSIX::_exit(255); }
    exit 0;
  }
  waitpid($pid, 0);
  print(($? & 127) ? 128 + ($? & 127) : $? >> 8, "\n");
}
`;

/** How long one check may take, as for the command itself. */
const TIMEOUT_MS = 30_000;

export interface DebconfResult {
  code: number;
  stderr: string;
}

interface Pending {
  line: string;
  errFile: string;
  done: (r: DebconfResult | undefined) => void;
  timer?: NodeJS.Timeout;
}

/** The script the checker can run, or undefined (then the command is run as before). */
export function perlScript(envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(':')) {
    if (!dir) continue;
    const file = path.join(dir, 'debconf-set-selections');
    try {
      accessSync(file, constants.X_OK);
    } catch {
      continue;
    }
    const head = Buffer.alloc(64);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
    return head.toString('latin1').split('\n')[0] === '#!/usr/bin/perl' ? file : undefined;
  }
  return undefined;
}

export class DebconfChecker {
  private proc: ChildProcess | undefined;
  private readonly dir: string;
  private out = '';
  private ready = false;
  private dead = false;
  private queue: Pending[] = [];
  private readonly cleanup = () => rmSync(this.dir, { recursive: true, force: true });

  constructor(private readonly script: string) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'shipshape-debconf-'));
    writeFileSync(path.join(this.dir, 'debconf.conf'), privateDebconf(this.dir));
    process.once('exit', this.cleanup);
  }

  /** How many perl processes this checker started (the first, and one after each that died). */
  starts = 0;

  /**
   * The exit code and stderr of `debconf-set-selections --checkonly files…`; undefined when the checker
   * could not run it (the caller runs the command instead).
   */
  check(files: string[], errFile: string): Promise<DebconfResult | undefined> {
    if (this.dead || [errFile, ...files].some((f) => /[\t\n]/.test(f))) return Promise.resolve(undefined);
    return new Promise((done) => {
      this.queue.push({ line: `${[errFile, ...files].join('\t')}\n`, errFile, done });
      if (!this.proc) this.start();
      else if (this.ready && this.queue.length === 1) this.send();
    });
  }

  /** Ends the perl process (it also ends by itself when this process exits: its stdin closes). */
  close(): void {
    this.dead = true;
    this.kill();
    this.cleanup();
    process.removeListener('exit', this.cleanup);
  }

  private start(): void {
    this.starts++;
    this.ready = false;
    this.out = '';
    const env = { ...process.env, DEBCONF_SYSTEMRC: path.join(this.dir, 'debconf.conf') };
    const proc = spawn('perl', ['-e', CHECKER, this.script], {
      env,
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
    });
    this.proc = proc;
    proc.on('error', () => this.fail(proc)); // no perl: the command itself says what is missing
    proc.on('exit', () => this.fail(proc));
    proc.stdin!.on('error', () => this.fail(proc));
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => this.read(d));
    // Waiting for a check keeps this process alive (its timer); an idle checker does not.
    proc.unref();
    (proc.stdout as unknown as { unref?: () => void }).unref?.();
    (proc.stdin as unknown as { unref?: () => void }).unref?.();
    this.arm();
  }

  private read(d: string): void {
    this.out += d;
    for (let nl = this.out.indexOf('\n'); nl >= 0; nl = this.out.indexOf('\n')) {
      const line = this.out.slice(0, nl);
      this.out = this.out.slice(nl + 1);
      if (!this.ready) {
        this.ready = line === 'ready';
        if (!this.ready) return this.fail(this.proc);
        if (this.queue.length) this.send();
        continue;
      }
      const p = this.queue.shift();
      if (!p) continue;
      clearTimeout(p.timer);
      const code = Number(line);
      if (!/^\d+$/.test(line)) p.done(undefined);
      else p.done({ code, stderr: readText(p.errFile) });
      if (this.queue.length) this.send();
    }
  }

  private send(): void {
    const p = this.queue[0]!;
    this.arm();
    this.proc!.stdin!.write(p.line);
  }

  /** A timer for the request at the head of the queue (or the start): past it, the checker is ended. */
  private arm(): void {
    const p = this.queue[0];
    if (!p) return;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      const proc = this.proc;
      this.queue.shift();
      p.done({ code: 1, stderr: readText(p.errFile) || `did not finish within ${TIMEOUT_MS / 1000} s` });
      this.kill();
      this.proc = undefined;
      if (proc && this.queue.length) this.start();
    }, TIMEOUT_MS);
  }

  /** The checker ended or could not start: its waiting requests go back to the caller, later ones too. */
  private fail(proc: ChildProcess | undefined): void {
    if (proc !== this.proc || this.dead) return;
    this.dead = true;
    this.kill();
    for (const p of this.queue.splice(0)) {
      clearTimeout(p.timer);
      p.done(undefined);
    }
  }

  private kill(): void {
    const pid = this.proc?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL'); // the checker and a child it is waiting for
    } catch {
      /* already gone */
    }
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A private debconf database (debconf.conf(5)): another process's lock on the system's never matters. */
export function privateDebconf(dir: string): string {
  return [
    'Config: configdb',
    'Templates: templatedb',
    '',
    'Name: configdb',
    'Driver: File',
    `Filename: ${path.join(dir, 'config.dat')}`,
    '',
    'Name: templatedb',
    'Driver: File',
    'Mode: 644',
    `Filename: ${path.join(dir, 'templates.dat')}`,
    '',
  ].join('\n');
}
