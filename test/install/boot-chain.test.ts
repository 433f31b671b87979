/**
 * The real boot chain, offline: QEMU (TCG, user-mode networking with restrict=on, so the guest can
 * reach nothing but our forwarded port) boots the generated per-system ISO; iPXE runs the baked-in
 * script (static address), fetches /boot/<mac> from our provisioning server, loads Debian 12's
 * installer kernel and initrd (debian-installer-12-netboot-amd64) from the server's local mirror,
 * and the installer then requests its preseed file. The server's request log proves each link.
 * Bounded: QEMU is killed by pid at the first preseed fetch, or after SHIPSHAPE_BOOTCHAIN_BOUND_S
 * (default 600 s). Measured on 2 cores under TCG: 144 s from QEMU start to the preseed fetch with
 * the machine otherwise idle; 5 to 8 minutes while other test files compete for the cores (almost all
 * of it the installer's own start-up: the kernel, then d-i's hardware detection).
 * `-vga none`: without a framebuffer console to draw, d-i does not spend its time on fbcon scrolling.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadRepo } from '../../src/manifest';
import type { DesiredSystem } from '../../src/manifest/types';
import type { SiteConfig } from '../../src/manifest/site';
import { startAttempt } from '../../src/providers/install/attempt';
import { checkIpxe, checkPreseed } from '../../src/providers/install/checks';
import { buildBootIso } from '../../src/providers/install/iso';
import { readTemplate, renderInstall } from '../../src/providers/install/render';
import { InstallStore } from '../../src/providers/install/store';
import { startProvisioningServer, type ProvisioningServer } from '../../src/provisioning/server';

const ROOT = path.join(__dirname, '..', '..', 'examples', 'lab');
const NETBOOT = '/usr/lib/debian-installer/images/12/amd64/text';
const GUEST_HOST = '10.0.2.100:8080'; // a QEMU guestfwd address, forwarded to the server on 127.0.0.1
const MAC = '00:50:56:2a:0b:0c';
const BOUND_MS = Number(process.env.SHIPSHAPE_BOOTCHAIN_BOUND_S ?? 600) * 1000;
jest.setTimeout(BOUND_MS + 60_000);

let dir: string;
let srv: ProvisioningServer | undefined;
let qemu: ChildProcess | undefined;
const stopQemu = () => {
  if (!qemu?.pid || qemu.exitCode !== null || qemu.signalCode !== null) return;
  try {
    process.kill(qemu.pid, 'SIGKILL');
  } catch {
    // already gone
  }
};
process.on('exit', stopQemu);
afterAll(async () => {
  stopQemu();
  await srv?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

it('QEMU boots the ISO; iPXE and the Debian installer fetch script, kernel, initrd and preseed from our server', async () => {
  const q = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
  if (q.error)
    throw new Error(
      'qemu-system-x86_64 is not installed: install the Debian package qemu-system-x86 (scripts/install-system-deps.sh); this test needs it',
    );
  await fs.access(`${NETBOOT}/debian-installer/amd64/linux`).catch(() => {
    throw new Error(
      `${NETBOOT} is missing: install the Debian package debian-installer-12-netboot-amd64 (scripts/install-system-deps.sh)`,
    );
  });

  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-bootchain-'));
  // The local mirror mimics a Debian archive, so os/debian12/os.yaml's kernel/initrd paths work unchanged.
  const netboot = path.join(dir, 'mirror', 'dists', 'bookworm', 'main', 'installer-amd64', 'current', 'images');
  await fs.mkdir(netboot, { recursive: true });
  await fs.symlink(NETBOOT, path.join(netboot, 'netboot'));

  const log: string[] = [];
  const store = new InstallStore(path.join(dir, 'state'));
  srv = await startProvisioningServer({
    listen: '127.0.0.1:0',
    stateDir: store.dir,
    localMirrors: { debian12: path.join(dir, 'mirror') },
    // The guest reaches the server through a loopback proxy (QEMU guestfwd): its requests arrive from 127.0.0.1.
    labLoopback: true,
    log: { info: () => {}, warn: () => {}, error: (o) => log.push(`error ${JSON.stringify(o)}`), debug: () => {} },
    onRequest: (e) => log.push(`${e.method} ${e.path} ${e.status}`),
  });

  const repo = await loadRepo(ROOT);
  const base = repo.systems.find((s) => s.name === 'web-dev-02')!;
  const system: DesiredSystem = {
    ...base,
    name: 'qemu-01',
    os: 'debian12',
    network: { ...base.network, net: 'qemu-net', ip: '10.0.2.15', mac: MAC },
  };
  const site: SiteConfig = {
    ...repo.site!,
    nets: {
      'qemu-net': {
        title: 'qemu-net',
        cidr: '10.0.2.0/24',
        gateway: '10.0.2.2',
        dnsServers: ['10.0.2.3'],
        domain: 'dev.example.com',
      },
    },
    provisioning: {
      ...repo.site!.provisioning!,
      baseUrl: `http://${GUEST_HOST}`,
      mirrors: { debian12: `http://${GUEST_HOST}/mirror/debian12` },
    },
  };
  const os12 = repo.os.debian12!;
  const template = await readTemplate(os12, ROOT);
  let isoScript = '';
  await startAttempt(store, {
    system: system.name,
    mac: MAC,
    os: 'debian12',
    bootPath: 'iso',
    tokenTtlMs: BOUND_MS,
    now: new Date(),
    render: async (t) => {
      const r = renderInstall({
        system,
        os: os12,
        site,
        resolved: { ip: '10.0.2.15', mac: MAC },
        bootPath: 'iso',
        token: t,
        secrets: {
          sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0bootchaintestkeyxxxxxxxxxxxxxxxxxxxxxxxxxx test',
        },
        template,
      });
      expect(await checkPreseed(r.answerFile)).toEqual([]);
      expect(checkIpxe(r.bootScript)).toEqual([]);
      isoScript = r.isoScript!;
      return r;
    },
  });
  const iso = await buildBootIso({ system: system.name, script: isoScript, outDir: dir });

  const serial: string[] = [];
  const proxy = path.join(__dirname, 'guest-proxy.js');
  qemu = spawn(
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg,thread=multi',
      '-m',
      '1024',
      '-smp',
      '2',
      '-nographic',
      '-vga',
      'none',
      '-no-reboot',
      '-monitor',
      'none',
      '-boot',
      'd',
      '-cdrom',
      iso,
      '-netdev',
      `user,id=n0,restrict=on,guestfwd=tcp:${GUEST_HOST}-cmd:${process.execPath} ${proxy} ${srv.port}`,
      '-device',
      `e1000,netdev=n0,mac=${MAC}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  qemu.stdout!.on('data', (d: Buffer) => serial.push(d.toString()));
  qemu.stderr!.on('data', (d: Buffer) => serial.push(d.toString()));

  const t0 = Date.now();
  const short = `/install/${MAC.replace(/:/g, '-')}`;
  const deadline = Date.now() + BOUND_MS;
  while (Date.now() < deadline && qemu.exitCode === null && !log.some((l) => l.startsWith(`GET ${short} 200`)))
    await new Promise((r) => setTimeout(r, 500));
  stopQemu();

  const chain = [
    'GET /boot/00-50-56-2a-0b-0c 200',
    'GET /mirror/debian12/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64/linux 200',
    'GET /mirror/debian12/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64/initrd.gz 200',
    `GET ${short} 200`,
  ];
  const seen = chain.map((c) => log.indexOf(c));
  if (seen.some((i) => i < 0)) {
    throw new Error(
      `boot chain incomplete after ${Math.round((BOUND_MS - (deadline - Date.now())) / 1000)} s.\nserver log:\n${log.join('\n')}\nconsole tail:\n${serial.join('').slice(-1500)}`,
    );
  }
  // How long the chain took goes to the console (measured, never asserted).
  console.log(`boot chain: QEMU start to preseed fetch in ${Math.round((Date.now() - t0) / 1000)} s`);
  expect(seen).toEqual([...seen].sort((a, b) => a - b));
  expect((await store.get('qemu-01'))!.state).toBe('installing');
});
