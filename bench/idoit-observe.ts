/**
 * Observe cost against the i-doit emulator: time and HTTP requests for the ip and cmdb providers'
 * observe at 1,000 and 10,000 managed systems (or the counts given as arguments).
 * Run: npm run bench:idoit-observe [-- 1000 10000]
 * The emulator runs in this process, so times include its work (JSON building) as well as the client's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startIdoitEmulator } from '../src/lab/idoit';
import { IdoitCmdbProvider } from '../src/providers/idoit/cmdb';
import { seedManagedSystems, testContext, testSite } from '../test/support/idoit-fixtures';
import { IdoitIpamProvider } from '../src/providers/idoit/ipam';
import { createIdoitClient } from '../src/providers/idoit/site-client';

const SECRETS: Record<string, string> = {
  '${env:IDOIT_API_KEY}': 'bench-key',
  '${env:IDOIT_USER}': 'bench',
  '${env:IDOIT_PASSWORD}': 'pw',
};
const secret = async (r: { ref: string }) => SECRETS[r.ref] ?? '';

interface Row {
  systems: number;
  ipMs: number;
  ipRequests: number;
  cmdbMs: number;
  cmdbRequests: number;
  calls: number;
  seedMs: number;
}

async function measure(count: number, dir: string): Promise<Row> {
  const emu = await startIdoitEmulator({
    stateFile: path.join(dir, `bench-${count}.json`),
    apiKey: 'bench-key',
    users: [{ username: 'bench', password: 'pw' }],
    nets: [{ title: 'bench-net', cidr: '10.128.0.0/16', gateway: '10.128.0.1' }],
  });
  try {
    const site = testSite(emu.url, [
      { title: 'bench-net', cidr: '10.128.0.0/16', gateway: '10.128.0.1', dnsServers: [] },
    ]);
    const t0 = performance.now();
    const seeder = createIdoitClient(site, secret, { timeoutMs: 300_000 });
    await seedManagedSystems(seeder, count, 'bench-net', (10 << 24) + (128 << 16) + 256);
    await seeder.close();
    const seedMs = performance.now() - t0;

    const client = createIdoitClient(site, secret, { timeoutMs: 300_000 });
    await client.call('idoit.version');
    const ctx = testContext(site);
    emu.resetStats();
    let t = performance.now();
    const ipObs = await new IdoitIpamProvider({ client, site }).observe(ctx);
    const ipMs = performance.now() - t;
    const ipRequests = emu.stats().httpRequests;
    const ipCalls = emu.stats().calls;
    emu.resetStats();
    t = performance.now();
    const cmdbObs = await new IdoitCmdbProvider({ client, site }).observe(ctx);
    const cmdbMs = performance.now() - t;
    const cmdbRequests = emu.stats().httpRequests;
    await client.close();
    const managed = (o: { resources: { owned: boolean }[] }) => o.resources.filter((r) => r.owned).length;
    if (managed(ipObs) !== count || managed(cmdbObs) !== count)
      throw new Error(`observed ${managed(ipObs)}/${managed(cmdbObs)} of ${count} systems`);
    return { systems: count, ipMs, ipRequests, cmdbMs, cmdbRequests, calls: ipCalls + emu.stats().calls, seedMs };
  } finally {
    await emu.close();
  }
}

async function main(): Promise<void> {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-bench-'));
  const rows: Row[] = [];
  try {
    for (const n of counts.length ? counts : [1000, 10000]) rows.push(await measure(n, dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const ms = (x: number) => `${Math.round(x)} ms`;
  console.log(
    '| systems | ip observe | ip HTTP requests | cmdb observe | cmdb HTTP requests | JSON-RPC calls (both) | seeding |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.systems} | ${ms(r.ipMs)} | ${r.ipRequests} | ${ms(r.cmdbMs)} | ${r.cmdbRequests} | ${r.calls} | ${ms(r.seedMs)} |`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
