/**
 * bench:vsphere-observe — starts vcsim with N VMs (default 1,000 and 10,000), all carrying
 * shipshape's marker (harness `-mark`), and compares shipshape's observe (one ContainerView read
 * of light properties + one batched device read for owned VMs) with a naive one-call-per-VM read
 * of the same properties. Each measurement runs in its own process for a clean peak RSS.
 *   npm run bench:vsphere-observe [-- 1000 10000]
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startVcsim } from '../test/helpers/vcsim';

interface Result {
  waitS: number;
  parseS: number;
  vms: number;
  roundTrips: number;
  bytesIn: number;
  bytesOut: number;
  wallS: number;
  peakRssMiB: number;
  baselineRssMiB: number;
}

function measure(mode: 'observe' | 'naive', url: string, caFile: string): Result {
  const out = execFileSync(
    process.execPath,
    [
      '--max-old-space-size=8192',
      path.join(__dirname, 'vsphere-observe-run.js'),
      JSON.stringify({ mode, url, caFile }),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20, timeout: 30 * 60_000 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as Result;
}

const mb = (n: number): string => (n / 1e6).toFixed(2);

async function main(): Promise<void> {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const rows: string[][] = [];
  for (const n of sizes.length ? sizes : [1000, 10000]) {
    process.stderr.write(`starting vcsim with ${n} VMs …\n`);
    const sim = await startVcsim({ args: ['-host', '3', '-vm', String(n), '-mark', 'bench'], readyTimeoutMs: 300_000 });
    try {
      for (const mode of ['observe', 'naive'] as const) {
        process.stderr.write(`  ${mode} …\n`);
        const r = measure(mode, sim.url, sim.caFile);
        if (r.vms !== n) throw new Error(`${mode} read devices of ${r.vms} VMs, expected ${n}`);
        rows.push([
          String(n),
          mode === 'observe' ? 'shipshape observe' : 'naive per-VM (8 in flight)',
          r.wallS.toFixed(2),
          r.waitS.toFixed(2),
          r.parseS.toFixed(2),
          String(r.roundTrips),
          mb(r.bytesIn),
          mb(r.bytesOut),
          r.peakRssMiB.toFixed(0),
        ]);
      }
    } finally {
      await sim.stop();
    }
  }
  const head = [
    'VMs',
    'method',
    'wall s',
    'waiting s',
    'parsing s',
    'round trips',
    'MB received',
    'MB sent',
    'peak RSS MiB',
  ];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log([line(head), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
  console.log(
    '\nRound trips include RetrieveServiceContent and Login (Logout comes after the count). waiting/parsing are summed',
  );
  console.log(
    'over calls (8 overlap in the naive reader). Peak RSS is the whole Node process (VmHWM). vcsim ignores maxObjects,',
  );
  console.log('so its light read is one page; shipshape pages its device reads by 500 VMs itself.');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
