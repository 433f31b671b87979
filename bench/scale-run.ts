/**
 * One measurement of bench:scale in its own process, so its peak RSS is its own. Prints one JSON line.
 *   floor:    a session and one batched light read of every VM (name, power, CPU, memory,
 *             config.changeVersion) through a ContainerView: what any observe must at least do.
 *   observe:  shipshape's vSphere observe with the state dir given (an empty one: the first run;
 *             the one a first run filled: every run after it).
 *   manifest: loadRepo of a repo folder (read, parse, validate, expand, cross-file rules).
 */
import fs from 'node:fs';
import { loadRepo } from '../src/manifest';
import { VimClient } from '../src/providers/vsphere/client';
import { retrieveView } from '../src/providers/vsphere/inventory';
import { VsphereProvider } from '../src/providers/vsphere/provider';
import { ctxFor, PASSWORD, secret, siteFor, USER, vmsOf } from '../test/helpers/vsphere-site';

export type RunArgs =
  | { mode: 'floor'; url: string; caFile: string }
  | { mode: 'observe'; url: string; caFile: string; stateDir: string }
  | { mode: 'manifest'; root: string };

export interface RunResult {
  wallS: number;
  /** CPU time (user + system) of the work: the steadier figure on a shared machine. */
  cpuS: number;
  peakRssMiB: number;
  count: number;
  roundTrips?: number;
  bytesIn?: number;
  devicesRead?: number;
  /** VMs whose annotation and extraConfig were read (the rest came from the cache). */
  configsRead?: number;
  errors?: number;
  /** vSphere: time spent waiting for answers (server and transfer) and parsing them, summed over calls. */
  waitS?: number;
  parseS?: number;
}

export const FLOOR_PATHS = [
  'name',
  'runtime.powerState',
  'config.hardware.numCPU',
  'config.hardware.memoryMB',
  'config.changeVersion',
];

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function run(a: RunArgs): Promise<Omit<RunResult, 'wallS' | 'cpuS' | 'peakRssMiB'>> {
  if (a.mode === 'manifest') {
    const r = await loadRepo(a.root);
    return { count: r.systems.length, errors: r.diagnostics.filter((d) => d.severity === 'error').length };
  }
  if (a.mode === 'floor') {
    const c = new VimClient({
      url: a.url,
      username: USER,
      password: PASSWORD,
      tls: { caFile: a.caFile },
      timeoutMs: 600_000,
    });
    const sc = await c.serviceContent();
    let count = 0;
    await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: FLOOR_PATHS }], undefined, (page) => {
      count += page.length;
      return [];
    });
    const s = {
      count,
      roundTrips: c.stats.roundTrips,
      bytesIn: c.stats.bytesReceived,
      waitS: c.stats.msWaiting / 1000,
      parseS: c.stats.msParsing / 1000,
    };
    await c.logout();
    return s;
  }
  const site = siteFor(
    { url: a.url, mode: 'vcsim', caFile: a.caFile, pid: 0, dir: '', stop: async () => {} },
    a.stateDir,
    {
      folder: '',
    },
  );
  const p = new VsphereProvider({ config: vmsOf(site), secret, stateDir: a.stateDir, requestTimeoutMs: 600_000 });
  const obs = await p.observe(ctxFor(site));
  const s = p.callStats!;
  const out = {
    count: obs.resources.filter((x) => x.owned && x.handle!.hasDevices).length,
    roundTrips: s.roundTrips,
    bytesIn: s.bytesReceived,
    devicesRead: p.lastObserve!.devicesRead,
    configsRead: p.lastObserve!.configsRead,
    waitS: s.msWaiting / 1000,
    parseS: s.msParsing / 1000,
  };
  await p.close();
  return out;
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2]!) as RunArgs;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const r = await run(a);
  const c = process.cpuUsage(c0);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(
    JSON.stringify({ ...r, wallS, cpuS: (c.user + c.system) / 1e6, peakRssMiB: peakRssMiB() }) + '\n',
  );
}

if (require.main === module)
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
