/**
 * A built lab system answers SSH on its own address from a network namespace of its own, with the host key
 * the installer stand-in reports; a second lab cannot take the same address; `lab down` (stopLabSystems)
 * and the next `lab up` (removeStaleNamespaces, for a lab that crashed) leave no namespace behind.
 * Needs root (network namespaces), as CI and the lab do.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../../src/manifest/site';
import { publicKeyPolicy } from '../../src/transport/host-key';
import { SshPool } from '../../src/transport/ssh';
import {
  moveLabSystem,
  netnsName,
  readLabSystems,
  removeStaleNamespaces,
  startLabSystem,
  stopLabSystems,
} from '../../src/lab/systems';
import { freePort } from '../../src/lab/process';
import { removeDir, tempDir } from '../helpers/daemon';
import { keygen } from '../helpers/sshd';

const namespaces = () => execFileSync('/usr/sbin/ip', ['netns', 'list'], { encoding: 'utf8' });
let work: string;
/** The lab systems' SSH port: each lab has its own, as each test lab does (src/lab/systems.ts routes by it). */
let port: number;

function labSite(name: string): SiteConfig {
  const root = join(work, name);
  mkdirSync(join(root, '.lab', 'ssh'), { recursive: true });
  writeFileSync(join(root, '.lab', 'lab.json'), '{"daemons":[]}'); // a running lab, as far as the sweep can tell
  if (!existsSync(join(root, '.lab/ssh/id_ed25519'))) keygen(join(root, '.lab/ssh/id_ed25519'), 'shipshape');
  return {
    root,
    lab: true,
    nets: {
      'dev-net': { title: 'dev-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1', dnsServers: [] },
    },
    dns: { zones: [] },
    dhcp: { servers: [] },
    defaults: { concurrency: 4, maxDeletes: 3 },
    specialise: {
      user: 'root',
      port,
      privateKey: { ref: '${file:.lab/ssh/id_ed25519}' },
      rootPrefix: join(root, 'systems', '{system}'),
      connectTimeoutSeconds: 10,
      commandTimeoutSeconds: 30,
    },
    provisioning: { baseUrl: 'http://127.0.0.1:1', listen: '127.0.0.1:1', sshPublicKeyFile: '.lab/ssh/id_ed25519.pub' },
  } as unknown as SiteConfig;
}

beforeAll(async () => {
  work = tempDir('lab-systems');
  port = await freePort();
});
afterAll(async () => {
  for (const n of ['one', 'two', 'crashed'])
    if (existsSync(join(work, n))) await stopLabSystems(join(work, n), () => {});
  removeDir(work);
});

test('a built lab system answers SSH on its own address inside its namespace, with the reported key only', async () => {
  const site = labSite('one');
  const hostKey = await startLabSystem(site, 'web-01', '198.51.100.41');
  expect(hostKey).toMatch(/^ssh-ed25519 AAAA\S+ web-01$/);
  expect(namespaces()).toContain(netnsName(site.root, 'web-01'));

  const endpoint = { host: '198.51.100.41', port, user: 'root', privateKey: site.specialise!.privateKey };
  const real = new SshPool({
    readSecret: async () => readFileSync(join(site.root, '.lab/ssh/id_ed25519'), 'utf8'),
    root: site.root,
    connectTimeoutMs: 10_000,
  });
  try {
    const s = await real.get(endpoint, publicKeyPolicy(hostKey));
    // The command ran in the system's namespace: its only non-loopback address is the system's.
    const addrs = (await s.exec('ip -4 -o addr show scope global', { label: 'addresses', timeoutMs: 10_000 })).stdout;
    expect(addrs).toMatch(/eth0\s+inet 198\.51\.100\.41\/24/);
    expect(addrs.trim().split('\n')).toHaveLength(1);
    // Another key than the reported one is refused: no trust on first use.
    const other = keygen(join(work, 'other_key'), 'other');
    await expect(real.get(endpoint, publicKeyPolicy(other))).rejects.toThrow(/host key/i);
  } finally {
    await real.closeAll();
  }
}, 60_000);

test('another lab cannot take an address this lab holds; its own next system on that address replaces the old one', async () => {
  const two = labSite('two');
  await expect(startLabSystem(two, 'web-09', '198.51.100.41')).rejects.toThrow(
    /198\.51\.100\.41 on SSH port \d+ is already routed to another lab's system/,
  );
  expect(namespaces()).not.toContain(netnsName(two.root, 'web-09'));
  const one = labSite('one');
  // Same lab, same address, another system: the address was released, so the old system is gone.
  await startLabSystem(one, 'web-02', '198.51.100.41');
  expect(readLabSystems(one.root).map((r) => r.system)).toEqual(['web-02']);
  expect(namespaces()).not.toContain(netnsName(one.root, 'web-01'));
}, 60_000);

test('lab down removes its systems; the next lab up removes the namespaces of a lab that crashed', async () => {
  const one = labSite('one');
  const lines: string[] = [];
  await stopLabSystems(one.root, (l) => lines.push(l));
  expect(lines).toEqual(['lab system web-02 (198.51.100.41): namespace removed']);
  expect(namespaces()).not.toContain(netnsName(one.root, 'web-02'));
  // Its routes and the rules that chose them are gone too (its own table: other labs on this machine may
  // route the same documentation address in theirs).
  expect(
    execFileSync('/usr/sbin/ip', ['-4', 'route', 'show', 'table', 'all', '198.51.100.41/32'], { encoding: 'utf8' }),
  ).not.toContain(`table ${20_000 + port} `);
  expect(execFileSync('/usr/sbin/ip', ['-4', 'rule', 'list'], { encoding: 'utf8' })).not.toContain(`dport ${port} `);

  const crashed = labSite('crashed');
  await startLabSystem(crashed, 'db-01', '198.51.100.42');
  const ns = netnsName(crashed.root, 'db-01');
  rmSync(crashed.root, { recursive: true, force: true }); // the test that ran it died with its temp folder
  const swept: string[] = [];
  removeStaleNamespaces((l) => swept.push(l));
  expect(swept).toContain(`removed namespace ${ns}: its lab is no longer running`);
  expect(namespaces()).not.toContain(ns);
}, 60_000);

test('a system moved to a new address comes up there even while its old namespace outlives its deletion', async () => {
  const two = labSite('two');
  await startLabSystem(two, 'web-03', '198.51.100.43');
  const ns = netnsName(two.root, 'web-03');
  // Something outside the namespace holds it open (as a process killed in it does until it has exited):
  // `ip netns del` then leaves the namespace, and its veth, alive for a while.
  const holder = spawn('/bin/sh', ['-c', `exec 3< /run/netns/${ns}; exec sleep 60`], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    await moveLabSystem(two, 'web-03', '198.51.100.44');
    expect(readLabSystems(two.root).map((r) => [r.system, r.ip])).toEqual([['web-03', '198.51.100.44']]);
  } finally {
    holder.kill('SIGKILL');
  }
}, 60_000);
