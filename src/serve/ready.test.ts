/** /readyz's probes: every endpoint the site names, by the key an operator fixes. */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../test/helpers/daemon';
import type { SiteConfig } from '../manifest/site';
import { readiness, siteEndpoints } from './ready';

test('names each endpoint by its site-config key and says which ones do not answer', async () => {
  const up = createServer((s) => s.end()).listen(0, '127.0.0.1');
  await new Promise((r) => up.once('listening', r));
  const open = (up.address() as AddressInfo).port;
  const closed = await freePort();
  const site = {
    vms: { backend: 'vsphere', url: `https://127.0.0.1:${open}/sdk` },
    ipam: { backend: 'idoit', url: `http://127.0.0.1:${closed}/src/jsonrpc.php` },
    cmdb: { backend: 'idoit', url: `http://127.0.0.1:${closed}/src/jsonrpc.php` },
    dns: { zones: [{ name: 'a.example', backend: 'rfc2136', server: { host: '127.0.0.1', port: open } }] },
    dhcp: { servers: [] },
  } as unknown as SiteConfig;
  try {
    expect(siteEndpoints(site).map((e) => `${e.key} ${e.port}`)).toEqual([`vms.url ${open}`, `ipam.url ${closed}`]); // one probe per host:port
    const states = await readiness(() => site)();
    expect(states!.map((s) => [s.key, s.reachable, s.error])).toEqual([
      ['vms.url', true, undefined],
      ['ipam.url', false, 'ECONNREFUSED'],
    ]);
    expect(await readiness(() => undefined)()).toBeUndefined();
  } finally {
    up.close();
  }
});
