/**
 * Observe reads every managed system in a constant number of requests: counted at the emulator for
 * 10 and for 1,000 systems, for both the ip and the cmdb provider.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { IdoitCmdbProvider } from '../../src/providers/idoit/cmdb';
import { seedManagedSystems, testContext, testSite } from '../support/idoit-fixtures';
import { IdoitIpamProvider } from '../../src/providers/idoit/ipam';
import { createIdoitClient } from '../../src/providers/idoit/site-client';
import { EMULATED_VERSIONS } from './emulated';

const SECRETS: Record<string, string> = {
  '${env:IDOIT_API_KEY}': 'lab-key',
  '${env:IDOIT_USER}': 'shipshape',
  '${env:IDOIT_PASSWORD}': 'pw',
};
const secret = async (r: { ref: string }) => SECRETS[r.ref] ?? '';
describe.each(EMULATED_VERSIONS)('i-doit API add-on %s', (apiVersion) => {
  let dir: string;
  const emus: IdoitEmulator[] = [];

  async function requestsToObserve(
    count: number,
  ): Promise<{ ip: number; cmdb: number; ipRoundTrips: number; cmdbRoundTrips: number; managed: number }> {
    const emu = await startIdoitEmulator({
      stateFile: path.join(dir, `${apiVersion}-n${count}.json`),
      apiKey: 'lab-key',
      users: [{ username: 'shipshape', password: 'pw' }],
      nets: [{ title: 'big-net', cidr: '10.128.0.0/16', gateway: '10.128.0.1' }],
      apiVersion,
    });
    emus.push(emu);
    const site = testSite(emu.url, [
      { title: 'big-net', cidr: '10.128.0.0/16', gateway: '10.128.0.1', dnsServers: [] },
    ]);
    const seeder = createIdoitClient(site, secret);
    await seedManagedSystems(seeder, count, 'big-net', (10 << 24) + (128 << 16) + 256);
    await seeder.close();

    const client = createIdoitClient(site, secret);
    await client.call('idoit.version'); // the run's login, so only observe is counted below
    const ctx = testContext(site);
    emu.resetStats();
    const ipObs = await new IdoitIpamProvider({ client, site }).observe(ctx);
    const ip = emu.stats().httpRequests;
    emu.resetStats();
    const cmdbObs = await new IdoitCmdbProvider({ client, site }).observe(ctx);
    const cmdb = emu.stats().httpRequests;
    await client.close();
    expect(
      cmdbObs.resources.filter((r) => r.owned).every((r) => r.fields.cpu === 2 && r.fields.memoryMiB === 4096),
    ).toBe(true);
    return {
      ip,
      cmdb,
      ipRoundTrips: ipObs.roundTrips,
      cmdbRoundTrips: cmdbObs.roundTrips,
      managed: ipObs.resources.filter((r) => r.owned).length,
    };
  }

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idoit-observe-'));
  });
  afterAll(async () => {
    for (const e of emus) await e.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('observes 1,000 systems in as many requests as 10', async () => {
    const small = await requestsToObserve(10);
    const large = await requestsToObserve(1000);
    expect(small.managed).toBe(10);
    expect(large.managed).toBe(1000);
    expect(large).toEqual({ ...small, managed: 1000 });
    expect(large.ip).toBe(1);
    expect(large.cmdb).toBe(1);
    expect(large.ipRoundTrips).toBe(1);
  });
});
