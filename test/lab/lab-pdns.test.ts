/**
 * A lab site whose zones name `backend: powerdns`: `lab up` starts a pdns_server for them (free ports, its
 * own key generated into .lab/), `apply` writes the systems' records through its API, `lab world` reads
 * them back over DNS, `lab down` stops it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { freePort, removeDir, tempDir } from '../helpers/daemon';
import { labState } from '../../src/lab/record';
import { BASE_FILES, system } from '../manifest/tmp-repo';

let dir: string;
let dnsPort: number;
let apiPort: number;

beforeAll(async () => {
  dir = tempDir('lab-pdns');
  dnsPort = await freePort();
  apiPort = await freePort();
  const zone = (name: string) => `      - name: ${name}
        backend: powerdns
        url: http://127.0.0.1:${apiPort}
        apiKey: \${file:.lab/pdns/api.key}
        server: { host: 127.0.0.1, port: ${dnsPort} }
`;
  const files: Record<string, string> = {
    ...Object.fromEntries(Object.entries(BASE_FILES).filter(([f]) => f !== 'shipshape.yaml')),
    'shipshape.yaml': `apiVersion: shipshape.dev/v1
kind: Site
spec:
  lab: true
  secrets: { folders: [.lab] }
  nets:
    dev-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: dev.example.com, reverseZone: 100.51.198.in-addr.arpa }
  dns:
    zones:
${zone('dev.example.com')}${zone('100.51.198.in-addr.arpa')}`,
    'systems/web-01.yaml': system(
      'web-01',
      'profile: base',
      'network: { net: dev-net, ip: 198.51.100.21 }',
      'dns: { aliases: [www] }',
    ),
  };
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
});
afterAll(async () => {
  await runCli(['lab', 'down', '-C', dir]);
  removeDir(dir);
});

test('lab up starts pdns_server for the powerdns zones; apply writes the records; lab world shows them; lab down stops it', async () => {
  const up = await runCli(['lab', 'up', '-C', dir]);
  expect(up.err).toBe('');
  expect(up.code).toBe(0);
  expect(labState(dir).daemons.map((d) => [d.name, d.running])).toEqual([['pdns_server', true]]);

  const apply = await runCli(['apply', '-C', dir]);
  expect(apply.code).toBe(0);
  expect(apply.out).toMatch(/Applied: 1 created/);
  const q = new Resolver({ timeout: 2000, tries: 1 });
  q.setServers([`127.0.0.1:${dnsPort}`]);
  expect(await q.resolve4('web-01.dev.example.com')).toEqual(['198.51.100.21']);
  expect(await q.reverse('198.51.100.21')).toEqual(['web-01.dev.example.com']);
  expect(await q.resolveCname('www.dev.example.com')).toEqual(['web-01.dev.example.com']);

  const world = await runCli(['lab', 'world', '-C', dir]);
  expect(world.out).toMatch(/web-01.*198\.51\.100\.21/);

  const again = await runCli(['plan', '-C', dir, '--detailed-exitcode']);
  expect(again.code).toBe(0);

  const down = await runCli(['lab', 'down', '-C', dir]);
  expect(down.code).toBe(0);
  expect(labState(dir).daemons.every((d) => !d.running)).toBe(true);
});
