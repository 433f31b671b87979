/** A second sshd on a free 127.0.0.1 port: own host key, key-only root login with a test key (see reference 4.1/4.2). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { SshEndpoint } from '../../src/manifest/site';
import { fingerprint } from '../../src/transport/host-key';
import { freePort, requireBinary, run, startDaemon, tempDir, type Daemon } from './daemon';

export interface TestSshd extends Daemon {
  dir: string;
  port: number;
  clientKeyPath: string;
  hostFingerprint: string;
  knownHostsPath: string;
  /** An endpoint pinned to this server's host key; the key is read through `${file:…}`. */
  endpoint(over?: Partial<SshEndpoint>): SshEndpoint;
}

function bannerSeen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 1000);
    s.once('data', (d) => { clearTimeout(t); s.destroy(); resolve(d.toString().startsWith('SSH-2.0-')); });
    s.once('error', () => { clearTimeout(t); resolve(false); });
  });
}

export function keygen(path: string, comment: string): string {
  run(requireBinary('/usr/bin/ssh-keygen', 'openssh-client'), ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

export function fingerprintOfPubLine(line: string): string {
  return fingerprint(Buffer.from(line.split(/\s+/)[1]!, 'base64'));
}

export async function startSshd(): Promise<TestSshd> {
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  const dir = tempDir('sshd');
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostPub = keygen(join(dir, 'host_ed25519_key'), 'test host');
  const clientPub = keygen(join(dir, 'client_ed25519'), 'deploy client');
  writeFileSync(join(dir, 'authorized_keys'), clientPub + '\n', { mode: 0o600 });
  const port = await freePort();
  mkdirSync(join(dir, 'home'), { recursive: true });
  const conf = join(dir, 'sshd_config');
  writeFileSync(conf, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${dir}/host_ed25519_key`, `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`, 'StrictModes no', 'PubkeyAuthentication yes',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password',
    'UsePAM no', 'MaxStartups 200', 'AllowStreamLocalForwarding yes', 'Subsystem sftp internal-sftp', 'LogLevel VERBOSE',
    // root's ~/.bashrc on these machines runs `pyenv init` (seconds per command under load); a session
    // HOME of its own keeps every exec lean: 3.7 s → 0.5 s per command measured here.
    `SetEnv HOME=${dir}/home`, '',
  ].join('\n'));
  run(sshd, ['-t', '-f', conf]);
  const knownHostsPath = join(dir, 'known_hosts');
  writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${hostPub}\n`);
  const d = await startDaemon('sshd', sshd, ['-D', '-e', '-f', conf], join(dir, 'sshd.log'), () => bannerSeen(port));
  const hostFingerprint = fingerprintOfPubLine(hostPub);
  const clientKeyPath = join(dir, 'client_ed25519');
  return {
    ...d, dir, port, clientKeyPath, hostFingerprint, knownHostsPath,
    endpoint: (over = {}) => ({ host: '127.0.0.1', port, user: 'root', privateKey: { ref: `\${file:${clientKeyPath}}` }, hostKeyFingerprint: hostFingerprint, ...over }),
  };
}

/** Reads `${file:ABS}` secrets (the tests' stand-in for the site's secret resolver). */
export async function readFileSecret(ref: { ref: string }): Promise<string> {
  const m = /^\$\{file:(.+)\}$/.exec(ref.ref);
  if (!m) throw new Error(`test secret reader only reads \${file:…}, got ${ref.ref}`);
  return readFileSync(m[1]!, 'utf8');
}
