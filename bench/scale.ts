/**
 * bench:scale — the scale table in one run, each row with the floor beside it, the ratio and peak RSS:
 *   npm run bench:scale -- 1000 10000
 *   npm run bench:scale -- 10000 --vsphere-only --repeat 5   (only the vSphere rows; the floor and the
 *     next observe alternated 5 times, each row the median run: steadier on a shared machine)
 * Per size N: a vcsim with N VMs carrying shipshape's marker (harness `-mark`), then in separate
 * processes the floor (one batched light read), shipshape's first observe (empty state dir: every
 * device list read) and the observe of every run after it (device cache filled, nothing changed);
 * and loadRepo of a generated repo of N systems on the lab site's profiles, OS catalog and roles,
 * in a net large enough (a /16 of 198.18.0.0/15, data only). Times are wall clock of the work
 * itself (process start and module loading excluded), with the CPU time (user + system) beside
 * them, the steadier figure on a shared machine; peak RSS is the process's VmHWM.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startVcsim } from '../test/helpers/vcsim';
import type { RunArgs, RunResult } from './scale-run';

function measure(a: RunArgs): RunResult {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'scale-run.js'), JSON.stringify(a)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    timeout: 30 * 60_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as RunResult;
}

/** The lab site with its first net widened to a /16 of 198.18.0.0/15, and N systems on it. */
function makeRepo(n: number): string {
  const lab = path.join(process.cwd(), 'examples', 'lab');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-scale-repo-'));
  for (const d of ['profiles', 'os', 'roles']) fs.cpSync(path.join(lab, d), path.join(root, d), { recursive: true });
  // dev-net becomes 198.18.0.0/16 (its reverse zone with it): room for 10,000 addresses, data only.
  const site = fs
    .readFileSync(path.join(lab, 'shipshape.yaml'), 'utf8')
    .replace('cidr: 198.51.100.0/24', 'cidr: 198.18.0.0/16')
    .replaceAll('198.51.100.', '198.18.0.')
    .replaceAll('100.51.198.in-addr.arpa', '18.198.in-addr.arpa');
  fs.writeFileSync(path.join(root, 'shipshape.yaml'), site);
  fs.mkdirSync(path.join(root, 'systems'));
  for (let i = 0; i < n; i++) {
    const name = `app-${String(i).padStart(5, '0')}`;
    const mac = `00:50:56:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    fs.writeFileSync(
      path.join(root, 'systems', `${name}.yaml`),
      `apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: ${name}\n  labels: { team: scale }\nspec:\n  profile: web-dev\n  network:\n    net: dev-net\n    mac: "${mac}"\n  roles:\n    - name: app/shop\n      params: { projectKey: SHOP }\n`,
    );
  }
  return root;
}

const f2 = (x: number): string => x.toFixed(2);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const vsphereOnly = args.includes('--vsphere-only');
  const at = args.indexOf('--repeat');
  const repeat = at >= 0 ? Math.max(1, Number(args[at + 1]) || 1) : 1;
  const sizes = args
    .filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--repeat')
    .map(Number)
    .filter((n) => n > 0);
  /** The run of median wall time. */
  const median = (runs: RunResult[]): RunResult => [...runs].sort((a, b) => a.wallS - b.wallS)[(runs.length - 1) >> 1]!;
  const rows: string[][] = [];
  const note = (what: string, ours: RunResult, floor: RunResult | undefined, extra = ''): void => {
    rows.push([
      what,
      `${f2(ours.wallS)} s (CPU ${f2(ours.cpuS)} s)${ours.roundTrips !== undefined ? `, ${ours.roundTrips} round trips` : ''}${ours.bytesIn !== undefined ? `, ${(ours.bytesIn / 1e6).toFixed(1)} MB` : ''}${extra}`,
      floor
        ? `${f2(floor.wallS)} s (CPU ${f2(floor.cpuS)} s), ${floor.roundTrips} round trips, ${(floor.bytesIn! / 1e6).toFixed(1)} MB`
        : '—',
      // Wall clock as the goal states it; our process's CPU beside it (vcsim's own work is in the wall time only).
      floor ? `${(ours.wallS / floor.wallS).toFixed(2)}× (CPU ${(ours.cpuS / floor.cpuS).toFixed(2)}×)` : '—',
      `${ours.peakRssMiB.toFixed(0)} MiB`,
    ]);
  };
  for (const n of sizes.length ? sizes : [1000, 10000]) {
    process.stderr.write(`${n}: starting vcsim …\n`);
    const sim = await startVcsim({ args: ['-vm', String(n), '-mark', 'debian12'], readyTimeoutMs: 600_000 });
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-scale-state-'));
    try {
      const v = { url: sim.url, caFile: sim.caFile };
      process.stderr.write(`${n}: floor, first observe, next observe …\n`);
      const floors = [measure({ mode: 'floor', ...v })];
      const cold = measure({ mode: 'observe', ...v, stateDir });
      const warms = [measure({ mode: 'observe', ...v, stateDir })];
      for (let i = 1; i < repeat; i++) {
        floors.push(measure({ mode: 'floor', ...v }));
        warms.push(measure({ mode: 'observe', ...v, stateDir }));
      }
      const floor = median(floors);
      const warm = median(warms);
      for (const [r, what] of [
        [floor, 'floor'],
        [cold, 'first observe'],
        [warm, 'next observe'],
      ] as const)
        if (r.count !== n) throw new Error(`${what} saw ${r.count} VMs, expected ${n}`);
      note(
        `vSphere observe, ${n} VMs, every run after the first`,
        warm,
        floor,
        `, ${warm.devicesRead} device lists and ${warm.configsRead} configs read`,
      );
      note(
        `vSphere observe, ${n} VMs, first run (empty state dir)`,
        cold,
        floor,
        `, ${cold.devicesRead} device lists and ${cold.configsRead} configs read`,
      );
    } finally {
      await sim.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
    if (vsphereOnly) continue;
    process.stderr.write(`${n}: manifests …\n`);
    const repo = makeRepo(n);
    try {
      const m = measure({ mode: 'manifest', root: repo });
      if (m.count !== n || m.errors) throw new Error(`loadRepo: ${m.count} systems, ${m.errors} errors`);
      note(`manifest load + validate, ${n} systems`, m, undefined);
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  }
  const head = ['what', 'shipshape', 'floor (one batched light read)', 'ratio', 'peak RSS'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log(
    `bench:scale ${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}${repeat > 1 ? `; floor and next observe: median of ${repeat} alternated runs` : ''}`,
  );
  console.log([line(head), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
