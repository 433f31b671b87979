/** Connection and login errors end with the site-config key to check and where its secret comes from. */
import { freePort } from '../../test/helpers/daemon';
import type { SiteConfig } from '../manifest/site';
import { VimClient } from '../providers/vsphere/client';
import { IdoitAuthError } from '../providers/idoit/errors';
import { InvalidLoginError } from '../providers/vsphere/soap/faults';
import { describeError } from './errors';
import { rememberSite } from './hints';

const site = (url: string) =>
  ({
    vms: { backend: 'vsphere', url, username: '${env:VC_USER}', password: '${env:VC_PASSWORD}' },
    ipam: {
      backend: 'idoit',
      url: 'http://cmdb.example.com/src/jsonrpc.php',
      apiKey: '${file:/etc/shipshape/idoit.key}',
    },
    dns: { zones: [] },
    dhcp: { servers: [] },
  }) as unknown as SiteConfig;

test('a refused vCenter connection names vms.url, without a stack or an error class', async () => {
  const url = `https://127.0.0.1:${await freePort()}/sdk`;
  rememberSite(site(url));
  const c = new VimClient({ url, username: 'u', password: 'p', retries: 0, timeoutMs: 5000 } as ConstructorParameters<
    typeof VimClient
  >[0]);
  const e = await c.serviceContent().then(
    () => undefined,
    (x: unknown) => x,
  );
  const text = describeError(e, false);
  expect(text).toMatch(/^error: vSphere \S+ to https:\/\/127\.0\.0\.1:\d+\/sdk: ECONNREFUSED/);
  expect(text).not.toMatch(/TransientError/);
  expect(text).toContain(`hint: shipshape cannot reach vCenter: check vms.url in shipshape.yaml (${url})`);
});

test('a refused login names the variables the password and key are read from', () => {
  rememberSite(site('https://vc.example.com/sdk'));
  const login = describeError(
    new InvalidLoginError('InvalidLogin', 'vSphere Login: InvalidLogin', undefined, {}),
    false,
  );
  expect(login).toContain(
    'hint: vCenter refused the login: check vms.username (read from ${env:VC_USER}) and vms.password (read from ${env:VC_PASSWORD})',
  );
  const idoit = describeError(new IdoitAuthError('http://cmdb.example.com/src/jsonrpc.php', 'Invalid API key.'), false);
  expect(idoit).toContain('hint: ipam.apiKey is read from ${file:/etc/shipshape/idoit.key}');
});
