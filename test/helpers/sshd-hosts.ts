/**
 * Several SSH "hosts" on one machine: one sshd per loopback address (127.0.0.2, 127.0.0.3, …), all on
 * the same free port, each with its own host key, key-only root login with one test client key
 * (reference dns-dhcp-ssh.md 4.4 A). They share this machine's file system, so tests give each host
 * its own root prefix.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sshBannerSeen, sshdConf } from '../../src/lab/configs';
import { requireBinary, run, startDaemon, tempDir, type Daemon } from './daemon';
import { fingerprintOfPubLine, keygen } from './sshd';

const END = '@@shipshape-test-command-end@@';

export interface TestHost {
  address: string;
  hostPub: string;
  hostFingerprint: string;
  daemon: Daemon;
}

export interface TestHosts {
  dir: string;
  /** Every command any client ran on any host, in order (only with `recordCommands`). */
  commands(): string[];
  port: number;
  clientKeyPath: string;
  hosts: TestHost[];
  stop(): Promise<void>;
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** A port that is free on every one of the addresses. */
async function sharedFreePort(addresses: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, addresses[0], () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    if ((await Promise.all(addresses.map((a) => canListen(a, port)))).every(Boolean)) return port;
  }
  throw new Error(`no port free on all of ${addresses.join(', ')}`);
}

/** With `recordCommands`, a ForceCommand wrapper logs every command before it runs it, so a test can prove what ran. */
export async function startSshdHosts(addresses: string[], opts: { recordCommands?: boolean } = {}): Promise<TestHosts> {
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = tempDir('sshd-hosts');
  const log = join(dir, 'commands.log');
  const recorder = join(dir, 'record-command');
  if (opts.recordCommands) {
    writeFileSync(log, '');
    writeFileSync(
      recorder,
      `#!/bin/sh\nprintf '%s\\n${END}\\n' "$SSH_ORIGINAL_COMMAND" >> ${log}\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`,
      { mode: 0o755 },
    );
  }
  const clientPub = keygen(join(dir, 'client_ed25519'), 'shipshape specialise');
  writeFileSync(join(dir, 'authorized_keys'), clientPub + '\n', { mode: 0o600 });
  mkdirSync(join(dir, 'home'));
  const port = await sharedFreePort(addresses);
  const hosts: TestHost[] = [];
  const stop = async () => {
    await Promise.all(hosts.map((h) => h.daemon.stop()));
  };
  try {
    for (const address of addresses) {
      const n = address.replace(/\./g, '-');
      const hostPub = keygen(join(dir, `host_${n}`), `host ${address}`);
      const conf = join(dir, `sshd_config_${n}`);
      writeFileSync(
        conf,
        sshdConf({
          port,
          listen: address,
          hostKey: `${dir}/host_${n}`,
          pidFile: `${dir}/sshd_${n}.pid`,
          authorizedKeys: `${dir}/authorized_keys`,
          sessionHome: `${dir}/home`,
        }) + (opts.recordCommands ? `ForceCommand ${recorder}\n` : ''),
      );
      run(sshd, ['-t', '-f', conf]);
      const daemon = await startDaemon(
        `sshd ${address}`,
        sshd,
        ['-D', '-e', '-f', conf],
        join(dir, `sshd_${n}.log`),
        () => sshBannerSeen(port, address),
      );
      hosts.push({ address, hostPub, hostFingerprint: fingerprintOfPubLine(hostPub), daemon });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const commands = () =>
    opts.recordCommands
      ? readFileSync(log, 'utf8')
          .split(`${END}\n`)
          .map((c) => c.replace(/\n$/, ''))
          .filter(Boolean)
      : [];
  return { dir, port, clientKeyPath: join(dir, 'client_ed25519'), hosts, stop, commands };
}
