/**
 * The chaos harness: `npm run chaos -- --trials N [--seed S] [--keep]`.
 *
 * Brings up the local lab (`shipshape lab up`, free ports, its own temp folder) with TCP fault
 * proxies in front of vcsim, the i-doit emulator and the SSH target, applies the example site, then
 * runs N trials. Each trial changes the manifests at random (a new system, a CPU change, a
 * tombstone, a retired system declared again), sets random faults on the proxies (resets, delays,
 * truncated replies, 503s), starts a real `shipshape apply` process and SIGKILLs it at a random
 * moment (or lets it finish, one trial in five), then clears the faults, applies once more and
 * judges the world independently (world-check.ts): converged means that rerun succeeded, the next
 * plan is empty, and the backends and the state dir show nothing wrong.
 *
 * Runs compiled (`npm run chaos` builds into .cache/chaos-build): the apply processes run that build's CLI.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCredentials } from '../../src/lab/credentials';
import { labStateDir } from '../../src/lab/start-provisioning';
import { loadRepo } from '../../src/manifest';
import type { SiteConfig } from '../../src/manifest/site';
import { startFaultProxy, type Fault, type FaultProxy } from './fault-proxy';
import { checkWorld, type Checked } from './world-check';
import { copyLabExamples, labSiteYaml, freeLabEndpoints } from '../helpers/lab-site';

/** The compiled CLI the apply processes run: beside this file when it runs compiled, else CHAOS_CLI. */
let CLI = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
export function useCli(path: string): void {
  CLI = path;
}

export interface TrialResult {
  trial: number;
  ops: string[];
  faults: string[];
  /** ms after start the first apply was killed; undefined when it ran to its end. */
  killedAfterMs?: number;
  firstCode: number | null;
  rerunCode: number | null;
  planCode: number | null;
  problems: string[];
  /** What the world check read (VMs, addresses, DNS records, reservations). */
  checked?: Checked;
  converged: boolean;
  rerunTail?: string;
}

interface Ports {
  vcsim: number;
  idoit: number;
  dns: number;
  ssh: number;
  prov: number;
}

/** A small seeded PRNG (mulberry32): a failing trial can be replayed with the same --seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function siteYaml(ports: Ports, via: { vcsim: number; idoit: number; ssh: number }, targets: string): string {
  return labSiteYaml({ ...via, dns: ports.dns, prov: ports.prov }, targets, (spec) =>
    spec.setIn(['vms', 'taskTimeoutSeconds'], 60),
  );
}

/** Runs bin/shipshape; SIGKILLs it after `killAfterMs` when given. */
function shipshape(
  args: string[],
  env: NodeJS.ProcessEnv,
  o: { killAfterMs?: number; timeoutMs?: number } = {},
): Promise<{ code: number | null; killed: boolean; out: string }> {
  return new Promise((res) => {
    const entry = `require(${JSON.stringify(CLI)}).main(['node', 'shipshape', ...process.argv.slice(1)]).then((c) => { process.exitCode = c; })`;
    const child = spawn(process.execPath, ['-e', entry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let killed = false;
    const kill =
      o.killAfterMs !== undefined
        ? setTimeout(() => ((killed = true), child.kill('SIGKILL')), o.killAfterMs)
        : undefined;
    const limit = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 600_000);
    child.on('close', (code) => {
      clearTimeout(kill);
      clearTimeout(limit);
      res({ code, killed, out });
    });
  });
}

export class Chaos {
  private constructor(
    readonly work: string,
    readonly repo: string,
    readonly state: string,
    private readonly ports: Ports,
    private readonly targets: string,
    private readonly proxies: { vcsim: FaultProxy; idoit: FaultProxy; ssh: FaultProxy },
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: (line: string) => void,
  ) {}

  private seq = 0;
  /** Typical length of an apply, for choosing kill moments inside it. */
  applyMs = 10_000;

  static async start(work: string, log: (line: string) => void): Promise<Chaos> {
    const targets = join(work, 'servers');
    const ports: Ports = await freeLabEndpoints();
    const repo = join(work, 'repo');
    mkdirSync(repo, { recursive: true });
    copyLabExamples(repo);
    writeFileSync(join(repo, 'shipshape.yaml'), siteYaml(ports, ports, targets));
    const up = await shipshape(['lab', 'up', '-C', repo], process.env, { timeoutMs: 300_000 });
    if (up.code !== 0) throw new Error(`lab up failed:\n${up.out}`);
    const proxies = {
      vcsim: await startFaultProxy({ host: '127.0.0.1', port: ports.vcsim }),
      idoit: await startFaultProxy({ host: '127.0.0.1', port: ports.idoit }),
      ssh: await startFaultProxy({ host: '127.0.0.1', port: ports.ssh }),
    };
    // From here on shipshape reaches vCenter, i-doit and the SSH target through the proxies.
    writeFileSync(
      join(repo, 'shipshape.yaml'),
      siteYaml(ports, { vcsim: proxies.vcsim.port, idoit: proxies.idoit.port, ssh: proxies.ssh.port }, targets),
    );
    const kh = join(repo, '.lab', 'ssh', 'known_hosts');
    const line = readFileSync(kh, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`[127.0.0.1]:${ports.ssh} `))!;
    writeFileSync(kh, `${line}\n${line.replace(`:${ports.ssh} `, `:${proxies.ssh.port} `)}\n`);
    Object.assign(process.env, readCredentials(repo)); // the world check reads the backends with them too
    const env = { ...process.env, SHIPSHAPE_LOG_LEVEL: 'warn' };
    return new Chaos(work, repo, labStateDir(repo), ports, targets, proxies, env, log);
  }

  async stop(): Promise<void> {
    for (const p of Object.values(this.proxies)) await p.close();
    await shipshape(['lab', 'down', '-C', this.repo], process.env, { timeoutMs: 120_000 });
  }

  private apply(o: { killAfterMs?: number } = {}) {
    return shipshape(['apply', '-C', this.repo, '--state-dir', this.state], this.env, o);
  }

  /** The example site applied cleanly: the world the trials start from. */
  async baseline(): Promise<void> {
    const t0 = Date.now();
    const r = await this.apply();
    if (r.code !== 0) throw new Error(`the baseline apply failed:\n${r.out}`);
    this.applyMs = Math.max(3_000, Date.now() - t0);
    this.log(`baseline apply: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  private systemFile(name: string): string {
    return join(this.repo, 'systems', 'chaos', `${name}.yaml`);
  }

  private chaosSystems(): { name: string; present: boolean; cpu: number }[] {
    let names: string[] = [];
    try {
      names = readdirSync(join(this.repo, 'systems', 'chaos')).filter((n) => n.endsWith('.yaml'));
    } catch {
      /* none yet */
    }
    return names.map((n) => {
      const text = readFileSync(join(this.repo, 'systems', 'chaos', n), 'utf8');
      return {
        name: n.slice(0, -5),
        present: !text.includes('state: absent'),
        cpu: Number(/cpu: (\d+)/.exec(text)?.[1] ?? 2),
      };
    });
  }

  private writeSystem(name: string, s: { present: boolean; cpu: number }): void {
    mkdirSync(join(this.repo, 'systems', 'chaos'), { recursive: true });
    const spec = s.present ? `  profile: web-dev\n  cpu: ${s.cpu}\n` : '  state: absent\n  network: { net: dev-net }\n';
    writeFileSync(
      this.systemFile(name),
      `apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: ${name}\nspec:\n${spec}`,
    );
  }

  /** One to three random manifest changes: creates, updates, a delete, a re-create. */
  private mutate(r: () => number): string[] {
    const ops: string[] = [];
    const n = 1 + Math.floor(r() * 3);
    let deleted = false;
    for (let i = 0; i < n; i++) {
      const all = this.chaosSystems();
      const present = all.filter((s) => s.present);
      const retired = all.filter((s) => !s.present);
      const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
      const roll = r();
      if (roll < 0.4 || present.length === 0) {
        const name = `chaos-${String(++this.seq).padStart(3, '0')}`;
        this.writeSystem(name, { present: true, cpu: 2 });
        ops.push(`create ${name}`);
      } else if (roll < 0.65) {
        const s = pick(present);
        this.writeSystem(s.name, { present: true, cpu: s.cpu === 2 ? 4 : 2 });
        ops.push(`update ${s.name} cpu ${s.cpu === 2 ? 4 : 2}`);
      } else if (roll < 0.85 && !deleted) {
        const s = pick(present);
        this.writeSystem(s.name, { present: false, cpu: s.cpu });
        ops.push(`delete ${s.name}`);
        deleted = true;
      } else if (retired.length) {
        const s = pick(retired);
        this.writeSystem(s.name, { present: true, cpu: 2 });
        ops.push(`re-create ${s.name}`);
      }
    }
    return ops;
  }

  private setFaults(r: () => number): string[] {
    const out: string[] = [];
    for (const [name, p] of Object.entries(this.proxies)) {
      const roll = r();
      const rate = 0.1 + r() * 0.25;
      let f: Fault;
      if (roll < 0.35) f = { kind: 'none' };
      else if (roll < 0.55) f = { kind: 'reset', afterBytes: 40 + Math.floor(r() * 4000) };
      else if (roll < 0.75) f = { kind: 'delay', ms: 20 + Math.floor(r() * 300) };
      else if (roll < 0.9) f = { kind: 'truncate', afterBytes: 40 + Math.floor(r() * 4000) };
      else f = name === 'idoit' ? { kind: 'http503' } : { kind: 'reset', afterBytes: 0 + Math.floor(r() * 200) };
      p.set(f, rate);
      if (f.kind !== 'none') out.push(`${name}: ${JSON.stringify(f)} on ${Math.round(rate * 100)}% of connections`);
    }
    return out;
  }

  /**
   * A plain apply (no faults, no kill) of `count` new systems at the site's default concurrency, then
   * their tombstones applied to clean up. The failed systems of the first apply, by name and message.
   */
  async plainRound(
    round: number,
    count: number,
  ): Promise<{ code: number | null; failed: string[]; cleanup: number | null; ms: number }> {
    const names = Array.from(
      { length: count },
      (_, i) => `plain-${String(round).padStart(2, '0')}-${String(i).padStart(2, '0')}`,
    );
    for (const n of names) this.writeSystem(n, { present: true, cpu: 2 });
    const t0 = Date.now();
    const first = await this.apply();
    const ms = Date.now() - t0;
    const failed = first.out.split('\n').filter((l) => /^failed\s/.test(l));
    for (const n of names) this.writeSystem(n, { present: false, cpu: 2 });
    const cleanup = await shipshape(
      ['apply', '-C', this.repo, '--state-dir', this.state, '--max-deletes', String(count)],
      this.env,
    );
    this.log(
      `plain round ${round}: ${count} new systems, apply exit ${first.code} in ${(ms / 1000).toFixed(1)} s${failed.length ? `\n  ${failed.join('\n  ')}` : ''}; clean-up exit ${cleanup.code}`,
    );
    return { code: first.code, failed, cleanup: cleanup.code, ms };
  }

  async trial(i: number, r: () => number): Promise<TrialResult> {
    const ops = this.mutate(r);
    const faults = this.setFaults(r);
    const kill = r() < 0.8 ? Math.floor(300 + r() * this.applyMs) : undefined;
    const first = await this.apply(kill !== undefined ? { killAfterMs: kill } : {});
    for (const p of Object.values(this.proxies)) p.set({ kind: 'none' });
    const rerun = await this.apply();
    const plan = await shipshape(['plan', '-C', this.repo, '--state-dir', this.state, '--detailed-exitcode'], this.env);
    const { repo } = await loadRepo(this.repo).then((l) => ({ repo: l }));
    const site = repo.site as SiteConfig;
    let problems: string[];
    let checked: Checked | undefined;
    try {
      ({ problems, checked } = await checkWorld({
        site,
        systems: repo.systems,
        stateDir: this.state,
        dns: { host: '127.0.0.1', port: this.ports.dns },
        dhcpdInclude: join(this.targets, 'dhcpd', 'shipshape.conf'),
        keaConfig: join(this.targets, 'kea', 'kea-dhcp4.conf'),
      }));
    } catch (e) {
      problems = [`the world could not be read: ${(e as Error).message}`];
    }
    if (rerun.code !== 0)
      problems.push(
        `the rerun exited ${rerun.code}: ${rerun.out
          .split('\n')
          .filter((l) => /^(failed|error| {2}✗)/.test(l))
          .join(' | ')}`,
      );
    if (plan.code !== 0) problems.push(`the next plan is not empty (exit ${plan.code})`);
    const result: TrialResult = {
      trial: i,
      ops,
      faults,
      ...(first.killed ? { killedAfterMs: kill } : {}),
      firstCode: first.code,
      rerunCode: rerun.code,
      planCode: plan.code,
      problems,
      ...(checked ? { checked } : {}),
      converged: problems.length === 0,
      ...(problems.length
        ? {
            rerunTail: `${rerun.out.split('\n').slice(-25).join('\n')}\n--- plan ---\n${plan.out.split('\n').slice(-25).join('\n')}`,
          }
        : {}),
    };
    this.log(
      `trial ${i}: ${result.converged ? 'converged' : 'NOT CONVERGED'} — ${ops.join(', ')}; ${first.killed ? `killed at ${kill} ms` : `first apply exit ${first.code}`}; faults: ${faults.join('; ') || 'none'}; checked ${checked ? `${checked.vms} VMs, ${checked.addresses} addresses, ${checked.dnsRecords} DNS names, ${checked.reservations} reservations` : 'nothing'}${problems.length ? `\n  ${problems.join('\n  ')}` : ''}`,
    );
    return result;
  }
}

export async function runChaos(o: {
  trials: number;
  seed: number;
  work: string;
  log: (line: string) => void;
}): Promise<TrialResult[]> {
  const chaos = await Chaos.start(o.work, o.log);
  try {
    await chaos.baseline();
    const r = rng(o.seed);
    const results: TrialResult[] = [];
    for (let i = 1; i <= o.trials; i++) results.push(await chaos.trial(i, r));
    return results;
  } finally {
    await chaos.stop();
  }
}

if (require.main === module) {
  const arg = (name: string, d: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1]! : d;
  };
  const trials = Number(arg('trials', '5'));
  const plain = Number(arg('plain', '0'));
  const seed = Number(arg('seed', String(Date.now() % 100000)));
  // Not under the checkout: the site's server paths may not have a segment starting with '.'.
  const work = resolve(arg('work', join(tmpdir(), `shipshape-chaos-${seed}`)));
  mkdirSync(work, { recursive: true });
  const started = new Date();
  if (plain > 0) {
    // `--plain R [--systems N]`: R rounds of a plain apply of N new systems (default 15), no faults.
    const count = Number(arg('systems', '15'));
    console.log(`plain applies: ${plain} rounds of ${count} new systems, in ${work}`);
    void (async () => {
      const chaos = await Chaos.start(work, (l) => console.log(l));
      try {
        await chaos.baseline();
        let bad = 0;
        for (let i = 1; i <= plain; i++) if ((await chaos.plainRound(i, count)).code !== 0) bad++;
        console.log(`plain applies: ${plain - bad}/${plain} succeeded (${started.toISOString()})`);
        process.exitCode = bad ? 1 : 0;
      } finally {
        await chaos.stop();
      }
    })();
  } else
    runChaos({ trials, seed, work, log: (l) => console.log(l) }).then(
      (results) => {
        const ok = results.filter((r) => r.converged).length;
        const summary = {
          date: started.toISOString(),
          seed,
          trials,
          converged: ok,
          killed: results.filter((r) => r.killedAfterMs !== undefined).length,
          results,
        };
        writeFileSync(join(work, 'chaos-result.json'), JSON.stringify(summary, null, 2));
        console.log(
          `chaos: ${ok}/${trials} worlds converged (seed ${seed}, ${started.toISOString()}); details in ${join(work, 'chaos-result.json')}`,
        );
        process.exitCode = ok === trials ? 0 : 1;
      },
      (e: unknown) => {
        console.error(`chaos: ${(e as Error).message}`);
        process.exitCode = 1;
      },
    );
}
