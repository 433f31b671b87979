/** A second sshd on a free 127.0.0.1 port: own host key, key-only root login with a test key (see reference 4.1/4.2). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SshEndpoint } from '../../src/manifest/site';
import { fingerprint } from '../../src/transport/host-key';
import { sshBannerSeen as bannerSeen, sshdConf } from '../../src/lab/configs';
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

export function keygen(path: string, comment: string): string {
  run(requireBinary('/usr/bin/ssh-keygen', 'openssh-client'), [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    comment,
    '-f',
    path,
  ]);
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
  writeFileSync(
    conf,
    sshdConf({
      port,
      hostKey: `${dir}/host_ed25519_key`,
      pidFile: `${dir}/sshd.pid`,
      authorizedKeys: `${dir}/authorized_keys`,
      sessionHome: `${dir}/home`,
    }),
  );
  run(sshd, ['-t', '-f', conf]);
  const knownHostsPath = join(dir, 'known_hosts');
  writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${hostPub}\n`);
  const d = await startDaemon('sshd', sshd, ['-D', '-e', '-f', conf], join(dir, 'sshd.log'), () => bannerSeen(port));
  const hostFingerprint = fingerprintOfPubLine(hostPub);
  const clientKeyPath = join(dir, 'client_ed25519');
  return {
    ...d,
    dir,
    port,
    clientKeyPath,
    hostFingerprint,
    knownHostsPath,
    endpoint: (over = {}) => ({
      host: '127.0.0.1',
      port,
      user: 'root',
      privateKey: { ref: `\${file:${clientKeyPath}}` },
      hostKeyFingerprint: hostFingerprint,
      ...over,
    }),
  };
}

/** Reads `${file:ABS}` secrets (the tests' stand-in for the site's secret resolver). */
export async function readFileSecret(ref: { ref: string }): Promise<string> {
  const m = /^\$\{file:(.+)\}$/.exec(ref.ref);
  if (!m) throw new Error(`test secret reader only reads \${file:…}, got ${ref.ref}`);
  return readFileSync(m[1]!, 'utf8');
}
