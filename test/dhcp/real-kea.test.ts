/**
 * The kea backend against a real kea-dhcp4 started from a file as operators write it: `#`, `//` and
 * `/* *\/` comments, an `<?include?>`, reservations in a shared network's subnet (id 7, not ours to
 * choose), global reservations, an upper-case hw-address, a client-id reservation, and a subnet with
 * `reservations-in-subnet: false`. Kea itself loads it (the daemon starts from it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeaServer } from '../../src/providers/dhcp/kea';
import { DhcpProvider } from '../../src/providers/dhcp/provider';
import { SshPool } from '../../src/transport/ssh';
import { removeDir } from '../helpers/daemon';
import { startKeaWith, type TestKea } from '../helpers/kea';
import { readFileSecret, startSshd, type TestSshd } from '../helpers/sshd';
import { context, runStage, site, system } from '../helpers/systems';

let sshd: TestSshd;
let kea: TestKea;
let pool: SshPool;
let original: string;

beforeAll(async () => {
  sshd = await startSshd();
  kea = await startKeaWith(({ socket, dir }) => {
    writeFileSync(
      join(dir, 'reservations.json'),
      `// the lab's machines, kept apart\n{ "hw-address": "52:54:00:AA:00:02", "ip-address": "192.0.2.22", "hostname": "incl" }\n`,
    );
    return `// kea-dhcp4.conf of the office -- edited by hand, see the wiki
{
  "Dhcp4": {
    # this test serves no interface
    "interfaces-config": { "interfaces": [] },
    "control-socket": { "socket-type": "unix", "socket-name": "${socket}" },
    "lease-database": { "type": "memfile", "persist": false },
    /* printers are reserved globally,
       whatever subnet they sit in */
    "reservations": [ { "hw-address": "52:54:00:aa:00:09", "ip-address": "192.0.2.9", "hostname": "printer" } ],
    "shared-networks": [ {
      "name": "office",
      "subnet4": [ {
        "id": 7, "subnet": "192.0.2.0/24", "pools": [ { "pool": "192.0.2.100 - 192.0.2.199" } ],
        "reservations": [
          { "hw-address": "52:54:00:AA:00:01", "ip-address": "192.0.2.21", "hostname": "LEGACY01" },
          <?include "${join(dir, 'reservations.json')}"?>,
          { "client-id": "01:52:54:00:aa:00:03", "ip-address": "192.0.2.23" }
        ]
      } ]
    } ],
    "subnet4": [ { "id": 100, "subnet": "198.51.100.0/24", "reservations-in-subnet": false } ]
  }
}
`;
  });
  original = readFileSync(kea.configPath, 'utf8');
  pool = new SshPool({ readSecret: readFileSecret, root: sshd.dir });
});
afterAll(async () => {
  await pool?.closeAll();
  await kea?.stop();
  await sshd?.stop();
  for (const d of [sshd?.dir, kea?.dir]) if (d) removeDir(d);
});

const server = (over: Partial<KeaServer> = {}): KeaServer => ({
  name: 'dhcp-kea',
  backend: 'kea',
  nets: ['office', 'dmz'],
  ssh: sshd.endpoint(),
  controlSocket: kea.socket,
  configPath: kea.configPath,
  ...over,
});
const officeSite = (over: Partial<KeaServer> = {}) =>
  site({
    root: sshd.dir,
    nets: {
      office: { title: 'office', cidr: '192.0.2.0/24', dnsServers: [] },
      dmz: { title: 'dmz', cidr: '198.51.100.0/24', dnsServers: [] },
    },
    dhcp: { servers: [server(over)] },
  });
const WANT: Record<string, { ip: string; mac: string; net?: string }> = {
  web01: { ip: '192.0.2.11', mac: '00:50:56:00:00:11' },
  printer2: { ip: '192.0.2.12', mac: '52:54:00:aa:00:09' },
  legacy: { ip: '192.0.2.13', mac: '52:54:00:aa:00:01' },
  incl2: { ip: '192.0.2.22', mac: '00:50:56:00:00:14' },
  thin: { ip: '192.0.2.23', mac: '00:50:56:00:00:15' },
  dmz01: { ip: '198.51.100.10', mac: '00:50:56:00:00:16', net: 'dmz' },
};
const sys = (name: string) =>
  system(name, { net: WANT[name]!.net ?? 'office', domain: 'office.example.test', mac: WANT[name]!.mac });
const provider = () => new DhcpProvider({ readSecret: readFileSecret, pool });
const running = async () => (await kea.command('config-get')).arguments.Dhcp4;
const officeReservations = async () => (await running())['shared-networks'][0].subnet4[0].reservations as any[];

test("the plan sees reservations in shared networks, global ones, upper-case MACs, the include's and client-id ones", async () => {
  const p = provider();
  const s = officeSite();
  await p.observe(context(s));
  const refused = Object.fromEntries(
    Object.keys(WANT).map((n) => [n, p.foreseeCreate(sys(n), p.desired(sys(n), WANT[n]!, s)!).map((c) => c.refused)]),
  );
  await p.close();
  const held = (what: string, by: string, name: string, tail = '') =>
    `${what} is already reserved on dhcp-kea by reservation ${by}${tail}, not a system of this repo; remove or change that reservation, or give ${name} another ${what.split(' ')[0]}`;
  expect(refused).toEqual({
    web01: [],
    printer2: [held('MAC 52:54:00:aa:00:09', 'printer in the global reservations', 'printer2')],
    legacy: [held('MAC 52:54:00:aa:00:01', 'LEGACY01 in subnet 192.0.2.0/24 (shared network office)', 'legacy')],
    incl2: [
      held(
        'address 192.0.2.22',
        'incl in subnet 192.0.2.0/24 (shared network office)',
        'incl2',
        ' (MAC 52:54:00:aa:00:02)',
      ),
    ],
    thin: [held('address 192.0.2.23', '01525400AA0003 in subnet 192.0.2.0/24 (shared network office)', 'thin')],
    dmz01: [],
  });
});

test('a config file with comments and an include is refused before anything is applied, saying what would be lost', async () => {
  const before = await running();
  const r = await runStage(provider(), [sys('web01')], (x) => WANT[x.name]!, context(officeSite()));
  expect(r.failed.map((f) => f.system)).toEqual(['web01']);
  const msg = r.failed[0]!.error.message;
  expect(msg).toContain(`${kea.configPath}:17: <?include "${join(kea.dir, 'reservations.json')}"?>`);
  expect(msg).toContain('the comments on line 1, 4, 8');
  expect(msg).toContain('rewriteConfigFile: true');
  expect(await running()).toEqual(before);
  expect(readFileSync(kea.configPath, 'utf8')).toBe(original);
});

test('with rewriteConfigFile the reservation lands in the shared network subnet; the operator ones stay; the original is kept', async () => {
  const s = officeSite({ rewriteConfigFile: true });
  const r = await runStage(provider(), [sys('web01'), sys('dmz01')], (x) => WANT[x.name]!, context(s));
  // The dmz subnet takes no reservations: said, not written where Kea ignores it.
  expect(r.failed.map((f) => f.system)).toEqual(['dmz01']);
  expect(r.failed[0]!.error.message).toContain(
    'subnet 198.51.100.0/24 has reservations-in-subnet false (or reservation-mode disabled/global), so Kea would ignore a reservation there',
  );
  const again = await runStage(provider(), [sys('web01')], (x) => WANT[x.name]!, context(s));
  expect(again.failed).toEqual([]);
  expect(again.created).toEqual([]);
  expect(again.unchanged).toEqual(['web01']);
  const res = await officeReservations();
  expect(res.map((x) => x.hostname || x['client-id']).sort()).toEqual(['01525400AA0003', 'LEGACY01', 'incl', 'web01']);
  expect((await running()).reservations.map((x: any) => x.hostname)).toEqual(['printer']);
  expect(readFileSync(`${kea.configPath}.shipshape-orig`, 'utf8')).toBe(original);
  expect(JSON.parse(readFileSync(kea.configPath, 'utf8')).Dhcp4['shared-networks'][0].subnet4[0].id).toBe(7);
});
