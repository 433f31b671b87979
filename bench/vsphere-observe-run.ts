/**
 * One measurement in its own process (so peak RSS is this method's alone): either shipshape's
 * observe, or a naive reader that fetches the same properties with one call per VM (8 in flight).
 * Prints one JSON line.
 */
import fs from 'node:fs';
import { VimClient } from '../src/providers/vsphere/client';
import { retrieveObjects, retrieveView } from '../src/providers/vsphere/inventory';
import { VsphereProvider } from '../src/providers/vsphere/provider';
import { HEAVY_PATHS, LIGHT_PATHS, NETWORK_REQUESTS, networkNamesOf, parseVm } from '../src/providers/vsphere/vm';
import { ctxFor, PASSWORD, secret, siteFor, USER, vmsOf } from '../test/helpers/vsphere-site';

interface Measured {
  vms: number;
  roundTrips: number;
  bytesIn: number;
  bytesOut: number;
  waitS: number;
  parseS: number;
}
interface Args {
  mode: 'observe' | 'naive';
  url: string;
  caFile: string;
}

function rssMiB(field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function observe(a: Args): Promise<Measured> {
  const site = siteFor(
    { url: a.url, mode: 'vcsim', caFile: a.caFile, pid: 0, dir: '', stop: async () => {} },
    process.cwd(),
    { folder: '' },
  );
  const p = new VsphereProvider({ config: vmsOf(site), secret, requestTimeoutMs: 600_000 });
  const obs = await p.observe(ctxFor(site));
  const s = p.callStats!;
  const r = {
    vms: obs.resources.filter((x) => x.owned && (x.handle as { hasDevices: boolean }).hasDevices).length,
    roundTrips: s.roundTrips,
    bytesIn: s.bytesReceived,
    bytesOut: s.bytesSent,
    waitS: s.msWaiting / 1000,
    parseS: s.msParsing / 1000,
  };
  await p.close();
  return r;
}

async function naive(a: Args): Promise<Measured> {
  const c = new VimClient({
    url: a.url,
    username: USER,
    password: PASSWORD,
    tls: { caFile: a.caFile },
    timeoutMs: 600_000,
  });
  const sc = await c.serviceContent();
  const refs = (await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }])).map((o) => o.obj);
  let next = 0;
  let vms = 0;
  const worker = async (): Promise<void> => {
    while (next < refs.length) {
      const vm = refs[next++]!;
      const objs = await retrieveObjects(
        c,
        [vm],
        [{ type: 'VirtualMachine', paths: [...LIGHT_PATHS, ...HEAVY_PATHS] }, ...NETWORK_REQUESTS],
        { type: 'VirtualMachine', path: 'network' },
      );
      const names = networkNamesOf(objs);
      if (
        objs
          .filter((o) => o.obj.type === 'VirtualMachine')
          .map((o) => parseVm(o, names))
          .some((v) => v.devices)
      )
        vms++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const r = {
    vms,
    roundTrips: c.stats.roundTrips,
    bytesIn: c.stats.bytesReceived,
    bytesOut: c.stats.bytesSent,
    waitS: c.stats.msWaiting / 1000,
    parseS: c.stats.msParsing / 1000,
  };
  await c.logout();
  return r;
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2]!) as Args;
  const baseline = rssMiB('VmRSS');
  const t0 = process.hrtime.bigint();
  const r = a.mode === 'observe' ? await observe(a) : await naive(a);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ ...r, wallS, peakRssMiB: rssMiB('VmHWM'), baselineRssMiB: baseline }) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
