/**
 * bench:lab — the lab rows of the scale table, in one run:
 *   npm run bench:lab -- [--runs 5] [--systems 100] [--concurrency N] [--keep] [--keep-up] [--timeline FILE] [--profile DIR]
 * Per run a fresh lab (`shipshape lab up` on free ports, its own temp folder, the example site as the
 * lab e2e and the chaos harness start it) with the example systems plus generated ones up to
 * `--systems` in all (half on dev-net: BIND over SSH + ISC dhcpd; half on live-net: RFC 2136 + Kea, two
 * disks), then, each as a real `shipshape` process: `apply` creating all of them (wall clock, process
 * start included, failures, retries, peak RSS), three no-op `plan`s of that lab (wall clock with process
 * start, CPU, peak RSS; the run's figure is their median), and `lab down`. The no-op plans measure the plan,
 * not the apply's tail: before them the bench waits, at most 15 s, until the whole machine's CPU is quiet
 * (the lab's stand-ins, vcsim, named and the systems' sshds, go on working for a while after the apply
 * returned) and prints how long it waited. `--keep-up` leaves the last run's lab running (and its folder) and prints
 * how to plan against it again (`node --cpu-prof …` for a profile). Where the apply's time went is printed
 * per step kind, from the apply's own progress lines, with the critical path (the system that finished
 * last, step by step, and what it waited for) and where the machine's CPU went during the apply, per
 * group of processes (shipshape, the lab systems' sessions and roles, each stand-in server, the rest:
 * cpu-groups.ts), with the floor the stand-ins' own work sets on this machine; `--timeline FILE` writes every step's start and end per system, `--profile DIR` a V8 CPU
 * profile of each apply. Each run's folder (kept with `--keep`) holds `apply.log` and `apply.timed.log`,
 * every output line with the ms after process start it arrived at; `SHIPSHAPE_LOG_LEVEL=info` (or
 * `debug`) in the bench's environment adds the apply's log lines (each install's phases, each
 * backend's observe time). A run that fails any system makes the exit code 1.
 *
 * The peer figures are Ansible's (`community.vmware.vmware_guest`) for 100 VMs against a simulator
 * of this kind, measured on this kind of machine: a create of 100 VMs 84–99 s, a no-op of 100 VMs ~75 s.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { readRecord } from '../src/lab/record';
import { labStateDir } from '../src/lab/start-provisioning';
import { copyLabExamples, labSiteYaml, freeLabEndpoints } from '../test/helpers/lab-site';
import { cpuBreakdown, cpuSummary, sampleCpuGroups, type CpuGroup } from './cpu-groups';

const COMPILED_CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
/** What bin/shipshape runs: the CLI's bundle (`npm run build`, src/startup/bundle.ts) when it is not older than main.js. */
const CLI = ((bundled: string) => {
  try {
    return statSync(bundled).mtimeMs >= statSync(COMPILED_CLI).mtimeMs ? bundled : COMPILED_CLI;
  } catch {
    return COMPILED_CLI;
  }
})(join(__dirname, '..', 'src', 'cli', 'main.bundle.js'));
/** bin/shipshape (what the plans above run: code cache, then the bundle or main.js), for planning against a lab left up. */
const BIN = join(__dirname, '..', '..', 'bin', 'shipshape');
/** Installed first, as bin/shipshape does: modules compiled with the V8 code cache of earlier runs. */
const CODE_CACHE = join(__dirname, '..', 'src', 'startup', 'code-cache.js');
/** The example site's present systems (old-test-01 is a tombstone): generated ones make up the rest. */
const EXAMPLE_SYSTEMS = 6;
/** The goal for the create row (wall clock): the floor line compares the stand-ins' CPU with cores × this. */
const GOAL_S = 9;
const PEER = {
  create: { s: 84, text: 'Ansible vmware_guest, 100 VMs: 84–99 s' },
  noop: { s: 75, text: 'Ansible vmware_guest no-op, 100 VMs: ~75 s' },
};

interface Proc {
  code: number | null;
  out: string;
  ms: number;
  peakRssMiB: number;
  /** CPU time (user + system) of the shipshape process itself, and of the whole machine while it ran (/proc/stat). */
  cpuS: number;
  /** CPU of the processes it started and waited for (ip, ssh-keygen, debconf; not the sshds it leaves running). */
  childCpuS: number;
  machineCpuS: number;
  /** Each output line with the ms after start it arrived at. */
  lines: { at: number; text: string }[];
}

/** Runs the compiled CLI in a process of its own; its peak RSS comes back on a tagged last line. */
function shipshape(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 900_000,
  nodeArgs: string[] = [],
  onStart?: (pid: number | undefined) => void,
): Promise<Proc> {
  return new Promise((res) => {
    const entry = `require(${JSON.stringify(CODE_CACHE)}).installCodeCache(); require(${JSON.stringify(CLI)}).main(['node', 'shipshape', ...process.argv.slice(1)]).then((c) => { process.exitCode = c; const u = process.resourceUsage(); const st = require('fs').readFileSync('/proc/self/stat', 'utf8').replace(/^.*\\) /, '').split(' '); process.stderr.write('\\nBENCH_MAXRSS_KB ' + u.maxRSS + ' BENCH_CPU_US ' + (u.userCPUTime + u.systemCPUTime) + ' BENCH_CHILD_TICKS ' + (Number(st[13]) + Number(st[14])) + '\\n'); })`;
    const t0 = Date.now();
    const cpu0 = machineCpu();
    const child = spawn(process.execPath, [...nodeArgs, '-e', entry, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onStart?.(child.pid);
    let out = '';
    const lines: Proc['lines'] = [];
    let partial = '';
    const take = (d: Buffer) => {
      const s = d.toString();
      out += s;
      const parts = (partial + s).split('\n');
      partial = parts.pop()!;
      for (const text of parts) lines.push({ at: Date.now() - t0, text });
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const limit = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(limit);
      const ms = Date.now() - t0;
      const kb = Number(/BENCH_MAXRSS_KB (\d+)/.exec(out)?.[1] ?? 0);
      const cpuS = Number(/BENCH_CPU_US (\d+)/.exec(out)?.[1] ?? 0) / 1e6;
      const childCpuS = Number(/BENCH_CHILD_TICKS (\d+)/.exec(out)?.[1] ?? 0) / 100;
      res({ code, out, ms, peakRssMiB: kb / 1024, cpuS, childCpuS, machineCpuS: machineCpu() - cpu0, lines });
    });
  });
}

/** CPU seconds this machine spent busy since boot, all processes (proc(5): the first line of /proc/stat, in USER_HZ). */
function machineCpu(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const busy = f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3]! - f[4]!;
  return busy / 100;
}

/** No-op plans per run, after the apply: the run's figure is their median. */
const PLANS_PER_RUN = 3;
/** The machine counts as quiet when all its processes together keep fewer cores than this busy over the window. */
const QUIET_CORES = 0.3;
const QUIET_WINDOW_MS = 1000;
const QUIET_MAX_MS = 15_000;

/** Waits until the machine is quiet (see QUIET_CORES), at most QUIET_MAX_MS; how long it waited and whether it got there. */
async function quietMachine(): Promise<{ ms: number; quiet: boolean; cores: number }> {
  const t0 = Date.now();
  for (;;) {
    const c0 = machineCpu();
    const w0 = Date.now();
    await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
    const cores = (machineCpu() - c0) / ((Date.now() - w0) / 1000);
    if (cores < QUIET_CORES) return { ms: Date.now() - t0, quiet: true, cores };
    if (Date.now() - t0 >= QUIET_MAX_MS) return { ms: Date.now() - t0, quiet: false, cores };
  }
}

function writeSystems(repo: string, count: number): void {
  const dir = join(repo, 'systems', 'bulk');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const name = `bulk-${String(i).padStart(3, '0')}`;
    // Even: a small dev system (one disk; BIND over SSH, ISC dhcpd). Odd: a live one (two disks; RFC 2136, Kea).
    const spec =
      i % 2 === 0
        ? '  profile: base\n  network: { net: dev-net }\n'
        : '  profile: web-live\n  lifecycle: { protect: false }\n';
    writeFileSync(
      join(dir, `${name}.yaml`),
      `apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: ${name}\n  labels: { team: bulk }\nspec:\n${spec}`,
    );
  }
}

/** Per step kind: wall time from its first start to its last done, steps done, summed step time, retries. */
function breakdown(p: Proc): string[] {
  const kinds = new Map<string, { first: number; last: number; n: number; sum: number; retries: number }>();
  for (const { at, text } of p.lines) {
    const m = /^ {2}([…✓↻✗]) (\S+)\s+(\S+)\s+(\S+)(?: \((\d+\.\d)s\))?/.exec(text);
    if (!m) continue;
    const [, mark, kind] = m;
    const k = kinds.get(kind!) ?? { first: at, last: at, n: 0, sum: 0, retries: 0 };
    k.last = Math.max(k.last, at);
    if (mark === '✓' && m[5] && m[3] !== 'deployed') {
      k.n += 1;
      k.sum += Number(m[5]);
    }
    if (mark === '↻') k.retries++;
    kinds.set(kind!, k);
  }
  return [...kinds].map(
    ([kind, k]) =>
      `    ${kind.padEnd(10)} ${((k.last - k.first) / 1000).toFixed(1).padStart(5)} s wall, ${k.n} steps, ${(k.sum / Math.max(1, k.n)).toFixed(2)} s each on average${k.retries ? `, ${k.retries} retries` : ''}`,
  );
}

interface Span {
  system: string;
  kind: string;
  start: number;
  end: number;
}

/** Every step's start and end (ms after process start), from the apply's `…` and `✓` lines. */
function timeline(p: Proc): Span[] {
  const open = new Map<string, number>();
  const spans: Span[] = [];
  for (const { at, text } of p.lines) {
    const m = /^ {2}([…✓✗]) (\S+)\s+(\S+)\s+(\S+)/.exec(text);
    if (!m || m[3] === 'deployed') continue;
    const key = `${m[4]!.replace(/:$/, '')} ${m[2]}`;
    if (m[1] === '…') open.set(key, at);
    else if (open.has(key)) {
      const [system, kind] = key.split(' ') as [string, string];
      spans.push({ system, kind, start: open.get(key)!, end: at });
      open.delete(key);
    }
  }
  return spans;
}

/**
 * The critical path: the system that finished last, step by step, with the time each step waited
 * after the system's previous step ended (a stage or a full gate) and how long it ran.
 */
function criticalPath(spans: Span[], totalMs: number): string[] {
  if (!spans.length) return [];
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const last = spans.reduce((a, b) => (b.end > a.end ? b : a));
  const mine = spans.filter((x) => x.system === last.system).sort((a, b) => a.start - b.start);
  const first = Math.min(...spans.map((x) => x.start));
  let prev = first;
  const steps = mine.map((x) => {
    const waited = x.start - prev;
    prev = x.end;
    return `${x.kind} ${s(x.start)}–${s(x.end)}${waited >= 100 ? ` (waited ${s(waited)})` : ''}`;
  });
  return [
    `    process start → first step ${s(first)} s; last step done → exit ${s(totalMs - last.end)} s`,
    `    last system done: ${last.system}: ${steps.join(', ')}`,
  ];
}

interface RunResult {
  applyS: number;
  applyRss: number;
  failed: string[];
  retries: number;
  /** The median of the run's no-op plans (wall clock, process start included) and that plan's CPU. */
  planS: number;
  planCpuS: number;
  planRss: number;
  planCode: number | null;
  /** CPU seconds per group of processes during the apply (cpu-groups.ts). */
  cpu: Map<CpuGroup, number>;
}

async function oneRun(
  run: number,
  o: { systems: number; concurrency?: number; keep: boolean; keepUp: boolean; timeline?: string; profile?: string },
): Promise<RunResult> {
  const work = mkdtempSync(join(os.tmpdir(), `shipshape-bench-lab-${run}-`));
  const repo = join(work, 'repo');
  const targets = join(work, 'servers');
  mkdirSync(repo, { recursive: true });
  copyLabExamples(repo);
  writeSystems(repo, o.systems - EXAMPLE_SYSTEMS);
  const ports = await freeLabEndpoints();
  writeFileSync(join(repo, 'shipshape.yaml'), labSiteYaml(ports, targets));
  const up = await shipshape(['lab', 'up', '-C', repo], process.env, 300_000);
  if (up.code !== 0) throw new Error(`lab up failed:\n${up.out}`);
  const { readCredentials } = await import('../src/lab/credentials');
  const env = {
    ...process.env,
    ...readCredentials(repo),
    SHIPSHAPE_LOG_LEVEL: process.env.SHIPSHAPE_LOG_LEVEL ?? 'warn',
  };
  const state = labStateDir(repo);
  let failedRun = true;
  try {
    const conc = o.concurrency ? ['--concurrency', String(o.concurrency)] : [];
    const prof = o.profile ? ['--cpu-prof', '--cpu-prof-dir', o.profile] : [];
    let applyPid: number | undefined;
    const sampler = sampleCpuGroups(() => applyPid, { root: repo, daemons: readRecord(repo)?.daemons ?? [] });
    const apply = await shipshape(['apply', '-C', repo, '--state-dir', state, ...conc], env, 900_000, prof, (pid) => {
      applyPid = pid;
    });
    const cpu = sampler.stop();
    // The apply's own and its reaped commands' time as it reported them on exit (exact, not sampled).
    cpu.set('shipshape', apply.cpuS);
    cpu.set('shipshape-commands', apply.childCpuS);
    writeFileSync(join(work, 'apply.log'), apply.out);
    // Each line with the ms after process start it arrived at (with SHIPSHAPE_LOG_LEVEL=info or debug: when each step's phases ran).
    writeFileSync(join(work, 'apply.timed.log'), apply.lines.map((l) => `${l.at}\t${l.text}`).join('\n') + '\n');
    const failed = apply.out.split('\n').filter((l) => /^(failed|blocked)\s/.test(l));
    const retries = apply.lines.filter((l) => l.text.startsWith('  ↻')).length;
    const created = apply.out.split('\n').filter((l) => /^ok\s/.test(l)).length;
    process.stderr.write(
      `run ${run}: apply exit ${apply.code}, ${created} systems created in ${(apply.ms / 1000).toFixed(1)} s, ${failed.length} failed, ${retries} retries, peak RSS ${apply.peakRssMiB.toFixed(0)} MiB\n${breakdown(apply).join('\n')}\n`,
    );
    const spans = timeline(apply);
    process.stderr.write(
      [
        ...criticalPath(spans, apply.ms),
        ...cpuBreakdown(cpu, {
          machineS: apply.machineCpuS,
          wallS: apply.ms / 1000,
          cores: os.cpus().length,
          goalS: GOAL_S,
        }),
      ].join('\n') + '\n',
    );
    if (o.timeline)
      writeFileSync(
        o.timeline.replace('{run}', String(run)),
        [
          'system\tkind\tstart_s\tend_s',
          ...spans.map((x) => `${x.system}\t${x.kind}\t${x.start / 1000}\t${x.end / 1000}`),
        ].join('\n') + '\n',
      );
    for (const f of failed) process.stderr.write(`    ${f}\n`);
    if (apply.code !== 0 && !failed.length) process.stderr.write(apply.out.split('\n').slice(-30).join('\n') + '\n');
    // The no-op plans measure the plan, not the apply's tail: the stand-ins (vcsim, named, the systems' sshds)
    // keep working for a while after the apply returned, so first wait (bounded) for a quiet machine.
    const quiet = await quietMachine();
    process.stderr.write(
      `run ${run}: waited ${(quiet.ms / 1000).toFixed(1)} s for a quiet machine before the no-op plans (${quiet.quiet ? `CPU below ${QUIET_CORES} cores over ${QUIET_WINDOW_MS / 1000} s` : `not quiet after ${QUIET_MAX_MS / 1000} s: ${quiet.cores.toFixed(2)} cores busy`})\n`,
    );
    const plans: Proc[] = [];
    for (let i = 0; i < PLANS_PER_RUN; i++) {
      const p = await shipshape(['plan', '-C', repo, '--state-dir', state, '--detailed-exitcode'], env);
      plans.push(p);
      if (p.code !== 0) break;
    }
    const plan = [...plans].sort((a, b) => a.ms - b.ms)[Math.floor(plans.length / 2)]!;
    const failedPlan = plans.find((p) => p.code !== 0);
    process.stderr.write(
      `run ${run}: no-op plan exit ${failedPlan?.code ?? 0}, ${plans.map((p) => (p.ms / 1000).toFixed(2)).join(', ')} s (CPU ${plans.map((p) => p.cpuS.toFixed(2)).join(', ')} s), median ${(plan.ms / 1000).toFixed(2)} s, peak RSS ${Math.max(...plans.map((p) => p.peakRssMiB)).toFixed(0)} MiB\n`,
    );
    if (failedPlan) process.stderr.write(failedPlan.out.split('\n').slice(-30).join('\n') + '\n');
    failedRun = apply.code !== 0 || failedPlan !== undefined;
    return {
      applyS: apply.ms / 1000,
      applyRss: apply.peakRssMiB,
      failed: apply.code === 0 ? failed : failed.length ? failed : [`apply exit ${apply.code}`],
      retries,
      planS: plan.ms / 1000,
      planCpuS: plan.cpuS,
      planRss: Math.max(...plans.map((p) => p.peakRssMiB)),
      planCode: failedPlan?.code ?? 0,
      cpu,
    };
  } finally {
    const cli = COMPILED_CLI.replace(/main\.js$/, 'run.js');
    if (o.keepUp) {
      process.stderr.write(
        `run ${run}: the lab is left up. Plan against it again:\n  set -a; . ${join(repo, '.lab', 'credentials.env')}; set +a\n  node ${BIN} plan -C ${repo} --state-dir ${state}\nStop it: node ${cli} lab down -C ${repo}\n`,
      );
    } else {
      await shipshape(['lab', 'down', '-C', repo], process.env, 120_000);
      // A failed run keeps its folder (apply.log, the daemons' logs under repo/.lab) for a look.
      if (!o.keep && !failedRun) rmSync(work, { recursive: true, force: true });
      else process.stderr.write(`run ${run}: kept ${work}\n`);
    }
  }
}

async function main(): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const runs = Number(arg('runs') ?? 1);
  const systems = Number(arg('systems') ?? 100);
  const concurrency = arg('concurrency') ? Number(arg('concurrency')) : undefined;
  const keep = process.argv.includes('--keep');
  const keepUp = process.argv.includes('--keep-up');
  // Every step's start and end per system, one TSV per run (`{run}` in the name becomes the run's number).
  const timelineFile = arg('timeline');
  // A V8 CPU profile of each apply process (node --cpu-prof) into this folder.
  const profile = arg('profile');
  if (systems <= EXAMPLE_SYSTEMS)
    throw new Error(`--systems must be more than the lab's ${EXAMPLE_SYSTEMS} example systems`);
  const started = new Date();
  const load0 = os.loadavg();
  const results: RunResult[] = [];
  for (let r = 1; r <= runs; r++)
    results.push(
      await oneRun(r, {
        systems,
        ...(concurrency ? { concurrency } : {}),
        keep,
        keepUp: keepUp && r === runs,
        ...(timelineFile ? { timeline: timelineFile } : {}),
        ...(profile ? { profile } : {}),
      }),
    );
  const load1 = os.loadavg();
  const range = (xs: number[], d = 1) => {
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    return lo === hi ? `${lo.toFixed(d)} s` : `${lo.toFixed(d)}–${hi.toFixed(d)} s`;
  };
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const failedRuns = results.filter((r) => r.failed.length || r.planCode !== 0).length;
  const rows = [
    [
      `no-op \`plan\` of the lab with ${systems} systems (process start included)`,
      `${range(
        results.map((r) => r.planS),
        2,
      )} (median ${med(results.map((r) => r.planS)).toFixed(2)} s, CPU ${med(results.map((r) => r.planCpuS)).toFixed(2)} s; each run: the median of ${PLANS_PER_RUN})`,
      PEER.noop.text,
      `${(PEER.noop.s / med(results.map((r) => r.planS))).toFixed(0)}× faster`,
      `${Math.max(...results.map((r) => r.planRss)).toFixed(0)} MiB`,
    ],
    [
      `\`apply\` creating ${systems} systems in the lab`,
      `${range(results.map((r) => r.applyS))} (median ${med(results.map((r) => r.applyS)).toFixed(1)} s), ${results.reduce((n, r) => n + r.failed.length, 0)} failed systems in ${runs} runs`,
      PEER.create.text,
      `${(PEER.create.s / med(results.map((r) => r.applyS))).toFixed(1)}× faster`,
      `${Math.max(...results.map((r) => r.applyRss)).toFixed(0)} MiB`,
    ],
  ];
  const head = ['what', 'shipshape', 'peer', 'ratio', 'peak RSS'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log(
    `bench:lab ${started.toISOString()}, ${runs} runs, on ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, load average ${load0.map((x) => x.toFixed(1)).join(' ')} at the start, ${load1.map((x) => x.toFixed(1)).join(' ')} at the end; the CLI run: ${CLI === COMPILED_CLI ? 'the compiled modules (no bundle, or an older one)' : 'the bundle'}`,
  );
  console.log([line(head), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
  console.log(cpuSummary(results.map((r) => r.cpu)));
  console.log(`runs with a failed system or a plan that was not empty: ${failedRuns} of ${runs}`);
  process.exitCode = failedRuns ? 1 : 0;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
