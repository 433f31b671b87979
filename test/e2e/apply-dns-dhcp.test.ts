/**
 * `shipshape apply` through the CLI and the engine on a copy of the example repo: addresses from the i-doit
 * emulator, DNS on a real named (dev zones as bind-ssh files over SSH, live zones by RFC 2136), DHCP on
 * dhcpd (checked with dhcpd -t on "the server") and a real Kea. Then a tombstone removes what it made.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startDnsDhcpSite, type DnsDhcpSite } from '../helpers/dns-dhcp-site';

let world: DnsDhcpSite;
let work: string;

beforeAll(async () => {
  work = tempDir('e2e');
  world = await startDnsDhcpSite(work);
});

afterAll(async () => {
  await world?.stop();
  if (work) removeDir(work);
});

const q = () => world.named.resolver();
const code = <T>(p: Promise<T>) => p.catch((e: NodeJS.ErrnoException) => e.code);

test('shipshape apply creates the DNS records and DHCP reservations of the example systems, and a tombstone removes them', async () => {
  const state = join(work, 'state');
  const first = await runCli(['apply', '-C', world.repo, '--state-dir', state, '--max-deletes', '20']);
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
  const hosts = readFileSync(world.dhcpHosts, 'utf8');
  expect(hosts).toContain(`fixed-address ${web1};`);
  expect(hosts).toContain('fixed-address 198.51.100.20;');
  const res = (await world.kea.command('config-get')).arguments.Dhcp4.subnet4[0].reservations as any[];
  expect(res.find((r) => r.hostname === 'shop-live-01')).toMatchObject({
    'hw-address': '00:50:56:10:00:01',
    'ip-address': live1,
  });

  const again = await runCli(['apply', '-C', world.repo, '--state-dir', state]);
  expect(again.out).toMatch(/No changes/);

  writeFileSync(
    join(world.repo, 'systems/dev/web-dev-02.yaml'),
    'apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: web-dev-02\nspec:\n  state: absent\n  network: { net: dev-net }\n',
  );
  const gone = await runCli(['apply', '-C', world.repo, '--state-dir', state, '--max-deletes', '20']);
  expect(gone.code).toBe(0);
  expect(await code(q().resolve4('web-dev-02.dev.example.com'))).toBe('ENOTFOUND');
  expect(await code(q().reverse('198.51.100.20'))).toBe('ENOTFOUND');
  expect(readFileSync(world.dhcpHosts, 'utf8')).not.toContain('198.51.100.20');
  expect(await q().resolve4('web-dev-01.dev.example.com')).toEqual([web1]);
}, 240_000); // three applies; bounded
