/**
 * `shipshape apply` through the CLI and the engine on a copy of the example repo: addresses from the i-doit
 * emulator, DNS on a real named (dev zones as bind-ssh files over SSH, live zones by RFC 2136), DHCP on
 * dhcpd (checked with dhcpd -t on "the server") and a real Kea. Then a tombstone removes what it made.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startKea, type TestKea } from '../helpers/kea';
import { copyLabExamples, LAB_EXAMPLES, provideOwnershipKey } from '../helpers/lab-site';
import { startNamed, type TestNamed } from '../helpers/named';
import { startSshd, type TestSshd } from '../helpers/sshd';

let sshd: TestSshd;
let named: TestNamed;
let kea: TestKea;
let emu: IdoitEmulator;
let repo: string;
let work: string;
const frag = (z: string) => join(sshd.dir, `${z}.shipshape`);

beforeAll(async () => {
  work = tempDir('e2e');
  sshd = await startSshd();
  named = await startNamed([
    { name: 'dev.example.com', records: 'gw IN A 198.51.100.1\n', include: frag('dev.example.com') },
    { name: '100.51.198.in-addr.arpa', include: frag('100.51.198.in-addr.arpa') },
    { name: 'live.example.com', dynamic: true },
    { name: '113.0.203.in-addr.arpa', dynamic: true },
  ]);
  kea = await startKea([], '203.0.113.0/24', '203.0.113.200 - 203.0.113.250');
  emu = await startIdoitEmulator({
    stateFile: join(work, 'idoit.json'),
    apiKey: 'lab-key',
    nets: [
      { title: 'dev-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1' },
      { title: 'live-net', cidr: '203.0.113.0/24', gateway: '203.0.113.1' },
    ],
  } as never);
  process.env.SHIPSHAPE_E2E_IDOIT_KEY = 'lab-key';

  repo = join(work, 'repo');
  mkdirSync(repo);
  copyLabExamples(repo);
  writeFileSync(join(work, 'tsig.secret'), named.ddnsSecret);
  const dhcpdConf = join(sshd.dir, 'dhcpd.conf');
  const include = join(sshd.dir, 'shipshape-hosts.conf');
  writeFileSync(
    dhcpdConf,
    `ddns-update-style none;\nsubnet 198.51.100.0 netmask 255.255.255.0 { range 198.51.100.200 198.51.100.250; }\ninclude "${include}";\n`,
  );
  const restart = join(sshd.dir, 'restart-dhcpd');
  writeFileSync(restart, `#!/bin/sh\nexec /usr/sbin/dhcpd -t -cf ${dhcpdConf} -lf /dev/null -pf /dev/null\n`);
  chmodSync(restart, 0o755);

  const doc = parseDocument(readFileSync(join(LAB_EXAMPLES, 'shipshape.yaml'), 'utf8'));
  const spec = doc.get('spec') as any;
  // No VMs and no lab systems here, so nothing to specialise: the roles run over SSH on the lab's systems
  // (test/e2e/lab.test.ts), which this test does not start.
  for (const k of ['vms', 'specialise']) spec.delete(k);
  for (const step of ['ipam', 'cmdb']) spec.setIn([step, 'url'], emu.endpoint);
  for (const step of ['ipam', 'cmdb']) spec.setIn([step, 'apiKey'], '${env:SHIPSHAPE_E2E_IDOIT_KEY}');
  // The site's ownership key (.lab, as in the example), the test's SSH key and TSIG secret.
  spec.set('secrets', doc.createNode({ folders: ['.lab', sshd.dir, work] }));
  const ssh = {
    host: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    privateKey: `\${file:${sshd.clientKeyPath}}`,
    hostKeyFingerprint: sshd.hostFingerprint,
  };
  const server = { host: '127.0.0.1', port: named.port };
  const tsig = { name: 'ddns-key', algorithm: 'hmac-sha256', secret: `\${file:${join(work, 'tsig.secret')}}` };
  const bind = (name: string) => ({
    name,
    backend: 'bind-ssh',
    server,
    ssh,
    fragmentPath: frag(name),
    zoneFile: named.zoneFile(name),
    reloadCommand: `/usr/sbin/rndc -s 127.0.0.1 -p ${named.rndcPort} -k ${named.rndcKeyFile} reload {zone}`,
  });
  spec.set(
    'dns',
    doc.createNode({
      zones: [
        bind('dev.example.com'),
        bind('100.51.198.in-addr.arpa'),
        { name: 'live.example.com', backend: 'rfc2136', server, tsig },
        { name: '113.0.203.in-addr.arpa', backend: 'rfc2136', server, tsig },
      ],
    }),
  );
  spec.set(
    'dhcp',
    doc.createNode({
      servers: [
        {
          name: 'dhcp-dev',
          backend: 'isc',
          nets: ['dev-net'],
          ssh,
          includePath: include,
          configPath: dhcpdConf,
          restartCommand: restart,
        },
        {
          name: 'dhcp-live',
          backend: 'kea',
          nets: ['live-net'],
          ssh,
          controlSocket: kea.socket,
          configPath: kea.configPath,
        },
      ],
    }),
  );
  writeFileSync(join(repo, 'shipshape.yaml'), doc.toString());
  provideOwnershipKey(repo); // no `lab up` here, which would generate it
});

afterAll(async () => {
  await emu?.close?.();
  for (const d of [kea, named, sshd]) await d?.stop();
  for (const d of [work, kea?.dir, named?.dir, sshd?.dir]) if (d) removeDir(d);
});

const q = () => named.resolver();
const code = <T>(p: Promise<T>) => p.catch((e: NodeJS.ErrnoException) => e.code);

test('shipshape apply creates the DNS records and DHCP reservations of the example systems, and a tombstone removes them', async () => {
  const state = join(work, 'state');
  const first = await runCli(['apply', '-C', repo, '--state-dir', state, '--max-deletes', '20']);
  expect(first.err + first.out).not.toMatch(/failed/);
  expect({ code: first.code, err: first.code === 0 ? '' : first.err }).toEqual({ code: 0, err: '' });

  const web1 = (await q().resolve4('web-dev-01.dev.example.com'))[0]!;
  expect(web1).toMatch(/^198\.51\.100\.\d+$/);
  expect(await q().reverse(web1)).toEqual(['web-dev-01.dev.example.com']);
  expect(await q().resolveCname('shop.dev.example.com')).toEqual(['web-dev-01.dev.example.com']);
  expect(await q().resolve4('web-dev-02.dev.example.com')).toEqual(['198.51.100.20']);
  expect(await q().resolve4('gw.dev.example.com')).toEqual(['198.51.100.1']);
  const live1 = (await q().resolve4('shop-live-01.live.example.com'))[0]!;
  expect(await q().reverse(live1)).toEqual(['shop-live-01.live.example.com']);
  expect(await q().resolveCname('www.live.example.com')).toEqual(['shop-live-01.live.example.com']);
  const hosts = readFileSync(join(sshd.dir, 'shipshape-hosts.conf'), 'utf8');
  expect(hosts).toContain(`fixed-address ${web1};`);
  expect(hosts).toContain('fixed-address 198.51.100.20;');
  const res = (await kea.command('config-get')).arguments.Dhcp4.subnet4[0].reservations as any[];
  expect(res.find((r) => r.hostname === 'shop-live-01')).toMatchObject({
    'hw-address': '00:50:56:10:00:01',
    'ip-address': live1,
  });

  const again = await runCli(['apply', '-C', repo, '--state-dir', state]);
  expect(again.out).toMatch(/No changes/);

  writeFileSync(
    join(repo, 'systems/dev/web-dev-02.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: web-dev-02\nspec:\n  state: absent\n  network: { net: dev-net }\n',
  );
  const gone = await runCli(['apply', '-C', repo, '--state-dir', state, '--max-deletes', '20']);
  expect(gone.code).toBe(0);
  expect(await code(q().resolve4('web-dev-02.dev.example.com'))).toBe('ENOTFOUND');
  expect(await code(q().reverse('198.51.100.20'))).toBe('ENOTFOUND');
  expect(readFileSync(join(sshd.dir, 'shipshape-hosts.conf'), 'utf8')).not.toContain('198.51.100.20');
  expect(await q().resolve4('web-dev-01.dev.example.com')).toEqual([web1]);
}, 240_000); // three applies; bounded
