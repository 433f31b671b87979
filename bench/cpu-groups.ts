/**
 * Where the machine's CPU goes while bench:lab's apply runs, per group of processes: shipshape, the
 * lab systems (the work a real site's own VMs do), each stand-in server, and the rest of the machine.
 *
 * Sampled from /proc every 250 ms (proc(5), /proc/<pid>/stat: utime, stime, cutime, cstime, ppid,
 * starttime). A process that lives between two samples is never seen; its time shows up in its
 * parent's cutime/cstime once the parent reaps it, so each seen process counts its own time and the
 * growth of its reaped children's time. A seen process that ends is then counted twice (once itself,
 * once inside its parent's reaped time), so its counted part is taken off its parent's group again.
 * A process belongs to the group of its nearest ancestor that a rule names (`groupOf`).
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';

export type CpuGroup =
  | 'shipshape'
  | 'shipshape-commands'
  | 'lab-systems'
  | 'vcsim'
  | 'idoit'
  | 'provisioning'
  | 'dns-dhcp'
  | 'bench'
  | 'other';

export const GROUP_LABEL: Record<CpuGroup, string> = {
  shipshape: 'shipshape (the apply process)',
  'shipshape-commands': 'the commands shipshape ran (debconf-set-selections checks of each preseed)',
  'lab-systems':
    "the lab systems: their sshd sessions and the roles' commands (sh, timeout, dpkg, apt-config, sshd -t …), the installer stand-in's ip commands",
  vcsim: 'vcsim (vCenter)',
  idoit: 'the i-doit emulator',
  provisioning: 'the provisioning server',
  'dns-dhcp': 'the DNS/DHCP servers (named, kea, their sshd and the checks and reloads run there)',
  bench: 'this bench (the sampler)',
  other: 'the rest of the machine (other processes, the kernel)',
};

/** One process as /proc shows it at one sample. */
export interface ProcSample {
  pid: number;
  ppid: number;
  /** Process start (clock ticks after boot): a pid reused by a new process is another process. */
  start: number;
  comm: string;
  /** Read only for processes whose comm alone does not say what they are (node, sshd). */
  cmdline: string;
  /** Own CPU (utime + stime) and that of its reaped children (cutime + cstime), in clock ticks. */
  ticks: number;
  childTicks: number;
}

interface Tracked {
  sample: ProcSample;
  /** Values at the first sample (0 for a process started after it), and what was counted so far. */
  base: number;
  childBase: number;
  group?: CpuGroup;
}

/** The pure accounting, fed one full snapshot of the process table per sample. */
export class CpuAccount {
  private readonly procs = new Map<string, Tracked>();
  /** Ticks counted per group from processes that ended (the live ones are summed at `totals`). */
  private readonly ended = new Map<CpuGroup, number>();
  private first = true;

  /**
   * `applyPid`: the shipshape process measured (known once it is started). The bench's own reaped
   * time is left out: it reaps the apply, whose time the apply reports itself.
   */
  constructor(
    private readonly rules: {
      applyPid: () => number | undefined;
      benchPid: number;
      /** This lab's repo: only its systems' sshds count (other labs may run on the machine). */
      labRoot: string;
      /** This lab's daemons (its .lab/lab.json: vcsim, i-doit, named, …) by pid. */
      daemons: Map<number, CpuGroup>;
    },
  ) {}

  add(snapshot: ProcSample[]): void {
    const live = new Map<number, Tracked>();
    const byPid = new Map(snapshot.map((p) => [p.pid, p]));
    /** How much each live process's reaped time grew since the last sample: what it can have reaped. */
    const reaped = new Map<Tracked, number>();
    for (const p of snapshot) {
      const sample = p.pid === this.rules.benchPid ? { ...p, childTicks: 0 } : p;
      const key = `${p.pid}:${p.start}`;
      let t = this.procs.get(key);
      if (t) {
        reaped.set(t, sample.childTicks - t.sample.childTicks);
        t.sample = sample;
      } else {
        t = { sample, base: this.first ? p.ticks : 0, childBase: this.first ? sample.childTicks : 0 };
        this.procs.set(key, t);
        reaped.set(t, this.first ? 0 : sample.childTicks);
      }
      t.group ??= this.groupOf(p, byPid);
      live.set(p.pid, t);
    }
    const gone = [...this.procs].filter(([, t]) => live.get(t.sample.pid) !== t);
    const lastSeen = new Map(gone.map(([, t]) => [t.sample.pid, t]));
    for (const [key, t] of gone) {
      // Counted in its own group from the first sample on; its parent's reaped time (or its nearest
      // live ancestor's, when the parent ended too) now holds all of it, from before the first sample
      // too, so all of it as last seen comes off there. What it spent after its last sample stays there.
      this.count(this.ended, t);
      const whole = t.sample.ticks + t.sample.childTicks;
      let up = t.sample.ppid;
      for (let hops = 0; hops < 64 && !live.has(up) && lastSeen.has(up); hops++) up = lastSeen.get(up)!.sample.ppid;
      const ancestor = live.get(up);
      if (ancestor && ancestor.sample.pid !== this.rules.benchPid) {
        // Never more than its reaped time grew by: a parent that ignores SIGCHLD gets none of it (wait(2)).
        const take = Math.min(whole, reaped.get(ancestor) ?? 0);
        ancestor.childBase += take;
        reaped.set(ancestor, (reaped.get(ancestor) ?? 0) - take);
      }
      this.procs.delete(key);
    }
    this.first = false;
  }

  /** CPU ticks per group since the first sample. */
  totals(): Map<CpuGroup, number> {
    const out = new Map(this.ended);
    for (const t of this.procs.values()) this.count(out, t);
    return out;
  }

  /** A process's own time to its group; its reaped children's to theirs (the apply's: its commands). */
  private count(into: Map<CpuGroup, number>, t: Tracked): void {
    const own = t.group ?? 'other';
    const children = own === 'shipshape' ? 'shipshape-commands' : own;
    into.set(own, (into.get(own) ?? 0) + t.sample.ticks - t.base);
    into.set(children, (into.get(children) ?? 0) + t.sample.childTicks - t.childBase);
  }

  private groupOf(p: ProcSample, byPid: Map<number, ProcSample>): CpuGroup {
    const applyPid = this.rules.applyPid();
    for (let q: ProcSample | undefined = p, hops = 0; q && hops < 64; q = byPid.get(q.ppid), hops++) {
      if (q.pid === this.rules.benchPid) return q === p ? 'bench' : 'other';
      // The lab's helper (src/lab/spawner.ts, a bare `node -e` child of apply) runs the installer
      // stand-in's commands (ip) and starts each lab system's sshd.
      if (q.comm === 'node' && q.ppid === applyPid && q.cmdline.includes('child_process')) return 'lab-systems';
      if (q.pid === applyPid) return q === p ? 'shipshape' : 'shipshape-commands';
      const daemon = this.rules.daemons.get(q.pid);
      if (daemon) return daemon;
      if (q.comm === 'sshd' && q.cmdline.includes(`${this.rules.labRoot}/.lab/systems/`)) return 'lab-systems';
    }
    return 'other';
  }
}

/**
 * Reads the process table, keeping each /proc/<pid>/stat open between samples (one pread per process
 * per sample instead of open, read and close: a third of the cost with hundreds of lab processes).
 */
export class ProcTable {
  private readonly fds = new Map<string, number>();
  private readonly cmdlines = new Map<string, string>();
  private readonly buf = Buffer.alloc(4096);

  /** Every process now (those that end while it is read are left out). */
  read(): ProcSample[] {
    const out: ProcSample[] = [];
    for (const name of readdirSync('/proc')) {
      if (name.charCodeAt(0) > 57) continue; // only the numeric entries are processes
      const stat = this.stat(name);
      if (stat === undefined) continue;
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      // Fields after the command: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17) … starttime(22).
      const f = stat.slice(close + 2).split(' ');
      const start = Number(f[19]);
      const key = `${name}:${start}`;
      let cmdline = this.cmdlines.get(key);
      if (cmdline === undefined) {
        cmdline = '';
        // Which lab's system an sshd serves; whether a node is the lab's helper.
        if (comm === 'node' || comm === 'sshd')
          try {
            cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1').replace(/\0/g, ' ');
          } catch {
            /* ended meanwhile */
          }
        this.cmdlines.set(key, cmdline);
      }
      out.push({
        pid: Number(name),
        ppid: Number(f[1]),
        start,
        comm,
        cmdline,
        ticks: Number(f[11]) + Number(f[12]),
        childTicks: Number(f[13]) + Number(f[14]),
      });
    }
    return out;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  /** The stat line; a kept descriptor of an ended process fails (ESRCH), so its pid is opened afresh once. */
  private stat(name: string): string | undefined {
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd = this.fds.get(name);
      try {
        if (fd === undefined) {
          fd = openSync(`/proc/${name}/stat`, 'r');
          this.fds.set(name, fd);
        }
        const n = readSync(fd, this.buf, 0, this.buf.length, 0);
        if (n > 0) return this.buf.toString('latin1', 0, n);
      } catch {
        /* ended, or a new process under an old pid */
      }
      if (fd !== undefined) closeSync(fd);
      this.fds.delete(name);
    }
    return undefined;
  }
}

/** The group of a daemon `lab up` recorded, by its name there (src/lab/start-*.ts). */
export function daemonGroup(name: string): CpuGroup {
  if (name === 'vcsim') return 'vcsim';
  if (name.startsWith('i-doit')) return 'idoit';
  if (name.startsWith('provisioning')) return 'provisioning';
  return 'dns-dhcp'; // named, pdns_server, kea-dhcp4, and the sshd the DNS and DHCP steps log in to
}

/** Samples the process table every `everyMs` until `stop()`, which takes a last sample. */
export function sampleCpuGroups(
  applyPid: () => number | undefined,
  lab: { root: string; daemons: { name: string; pid: number }[] },
  everyMs = 250,
): { stop: () => Map<CpuGroup, number> } {
  const table = new ProcTable();
  const account = new CpuAccount({
    applyPid,
    benchPid: process.pid,
    labRoot: lab.root,
    daemons: new Map(lab.daemons.map((d) => [d.pid, daemonGroup(d.name)])),
  });
  account.add(table.read());
  const timer = setInterval(() => account.add(table.read()), everyMs);
  return {
    stop() {
      clearInterval(timer);
      account.add(table.read());
      table.close();
      // USER_HZ: 100 on Linux (sysconf(_SC_CLK_TCK); times(2)), the unit of /proc/<pid>/stat's times.
      return new Map([...account.totals()].map(([g, ticks]) => [g, ticks / 100]));
    },
  };
}

/** The groups whose work stands in for a real site's machines and servers: no change to shipshape makes it go. */
const STAND_INS: CpuGroup[] = ['lab-systems', 'vcsim', 'idoit', 'provisioning', 'dns-dhcp'];

/**
 * The breakdown printed per run: CPU-s per group, then the floor the stand-ins' own work sets on this
 * machine (their CPU-s spread over every core, before shipshape spends any) against the goal's budget.
 */
export function cpuBreakdown(
  cpu: Map<CpuGroup, number>,
  o: { machineS: number; wallS: number; cores: number; goalS: number },
): string[] {
  const s = (x: number) => x.toFixed(1).padStart(5);
  const standIns = STAND_INS.reduce((n, g) => n + (cpu.get(g) ?? 0), 0);
  const ours = (cpu.get('shipshape') ?? 0) + (cpu.get('shipshape-commands') ?? 0);
  const budget = o.cores * o.goalS;
  return [
    `    CPU during the apply, per group of processes (sampled from /proc every 250 ms; the whole machine used ${o.machineS.toFixed(1)} CPU-s of ${(o.cores * o.wallS).toFixed(1)}, ${o.cores} cores × ${o.wallS.toFixed(1)} s wall):`,
    ...(Object.keys(GROUP_LABEL) as CpuGroup[]).map((g) => `    ${s(cpu.get(g) ?? 0)} s  ${GROUP_LABEL[g]}`),
    `    floor on this machine: the stand-ins' own work (lab systems, vcsim, i-doit, provisioning, DNS/DHCP) alone needs ${standIns.toFixed(1)} CPU-s ${standIns >= budget ? '≥' : '<'} ${o.cores} cores × ${o.goalS} s = ${budget} CPU-s, i.e. ≥ ${(standIns / o.cores).toFixed(1)} s of wall clock before shipshape's own ${ours.toFixed(1)} CPU-s (together ≥ ${((standIns + ours) / o.cores).toFixed(1)} s)`,
  ];
}

/** The median of each group over runs, one line for the summary. */
export function cpuSummary(runs: Map<CpuGroup, number>[]): string {
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const short: Record<CpuGroup, string> = {
    shipshape: 'shipshape',
    'shipshape-commands': 'its commands',
    'lab-systems': 'lab systems',
    vcsim: 'vcsim',
    idoit: 'i-doit',
    provisioning: 'provisioning',
    'dns-dhcp': 'DNS/DHCP',
    bench: 'bench',
    other: 'other',
  };
  return `CPU-s during the apply by group (median of ${runs.length} runs): ${(Object.keys(short) as CpuGroup[])
    .map((g) => `${short[g]} ${med(runs.map((r) => r.get(g) ?? 0)).toFixed(1)}`)
    .join(', ')}`;
}
