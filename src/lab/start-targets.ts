/**
 * The SSH targets: one sshd on 127.0.0.1 standing in for the DNS and DHCP servers of the site (key-only
 * login as the site's SSH user; host key kept in .lab/ssh so known_hosts stays valid), and the DHCP servers
 * behind it: dhcpd's configuration (checked with `dhcpd -t` by the restart command; dhcpd does not serve:
 * nothing boots over the network in vcsim) and a kea-dhcp4 on its control socket, serving no interface.
 */
import { labDhcpServers, labZones } from './backends';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { parseSecretRef } from '../manifest/secrets';
import type { SshEndpoint } from '../manifest/site';
import { fingerprint } from '../transport/host-key';
import { keaCommand, keaConf, sshBannerSeen, sshdConf } from './configs';
import { inRepo, own, ownedDir, track, type LabContext, type LabUser } from './context';
import { LabError, requireBinary, run, startDetached, waitReady } from './process';

function endpoints(c: Pick<LabContext, 'site'>): SshEndpoint[] {
  return [...labZones(c.site).flatMap((z) => (z.ssh ? [z.ssh] : [])), ...labDhcpServers(c.site).map((s) => s.ssh)];
}

/** The SSH user of the site's targets, looked up on this machine; undefined when the site has no SSH target. */
export function labUser(c: Pick<LabContext, 'site'>): LabUser | undefined {
  const eps = endpoints(c);
  if (eps.length === 0) return undefined;
  const where = new Set(eps.map((e) => `${e.user}@${e.host}:${e.port}`));
  if (where.size !== 1 || eps[0]!.host !== '127.0.0.1') {
    throw new LabError(
      `the lab runs one sshd on 127.0.0.1 for one user; the site's SSH targets are ${[...where].join(', ')}`,
    );
  }
  const name = eps[0]!.user;
  try {
    return {
      name,
      uid: Number(run('/usr/bin/id', ['-u', name]).trim()),
      gid: Number(run('/usr/bin/id', ['-g', name]).trim()),
    };
  } catch {
    throw new LabError(
      `the site's SSH user "${name}" does not exist on this machine: create it with ` +
        `\`useradd --system --create-home --shell /bin/sh -p '*' ${name}\` (scripts/lab.sh does this)`,
    );
  }
}

/** The one folder holding every path the site puts on the SSH targets (the servers' files in the lab). */
function targetRoot(c: LabContext): string {
  const paths = [
    ...labZones(c.site).flatMap((z) => [z.zoneFile, z.fragmentPath]),
    ...labDhcpServers(c.site).flatMap((s) => [
      s.includePath,
      s.configPath,
      s.controlSocket,
      s.restartCommand?.split(' ')[0],
    ]),
  ].filter((p): p is string => !!p);
  if (paths.some((p) => !isAbsolute(p)))
    throw new LabError(
      'the paths on the SSH targets (zoneFile, fragmentPath, includePath, configPath, controlSocket) must be absolute',
    );
  let common = dirname(paths[0]!);
  for (const p of paths) while (!(p + sep).startsWith(common + sep) && common !== sep) common = dirname(common);
  if (common === sep)
    throw new LabError(
      "keep the lab servers' files (zone files, DHCP configs) under one folder, e.g. /var/lib/shipshape-lab/",
    );
  return common;
}

function keygen(path: string, comment: string): string {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
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
  }
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

export async function startLabSshd(c: LabContext): Promise<void> {
  const eps = endpoints(c);
  if (eps.length === 0 || !c.user) return;
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  const ep = eps[0]!;
  const dir = join(c.dir, 'ssh');
  mkdirSync(dir, { recursive: true });
  const hostPub = keygen(join(dir, 'host_ed25519_key'), 'shipshape lab host');
  const keyRef = parseSecretRef(ep.privateKey.ref);
  if (keyRef?.source !== 'file')
    throw new LabError('ssh.privateKey: the lab site reads the SSH key from a file, ${file:.lab/ssh/id_ed25519}');
  const clientPub = keygen(inRepo(c, keyRef.key), 'shipshape-lab-client'); // one word: the key also goes into answer files, whose key check allows no spaces
  const hostFp = fingerprint(Buffer.from(hostPub.split(/\s+/)[1]!, 'base64'));
  for (const e of eps) {
    if (e.knownHosts) writeFileSync(inRepo(c, e.knownHosts), `[127.0.0.1]:${e.port} ${hostPub}\n`);
    else if (e.hostKeyFingerprint !== hostFp)
      throw new LabError(
        `ssh.hostKeyFingerprint: the lab's sshd has ${hostFp}; use knownHosts: .lab/ssh/known_hosts instead`,
      );
  }
  const root = ownedDir(c, targetRoot(c));
  // sshd reads authorized keys as the user: keep them under the target root, which the user owns.
  const authorized = join(ownedDir(c, join(root, '.ssh'), 0o700), 'authorized_keys');
  writeFileSync(authorized, clientPub + '\n', { mode: 0o600 });
  own(c, authorized);
  const conf = join(dir, 'sshd_config');
  writeFileSync(
    conf,
    sshdConf({
      port: ep.port,
      hostKey: join(dir, 'host_ed25519_key'),
      pidFile: join(dir, 'sshd.pid'),
      authorizedKeys: authorized,
      // As on a real DNS or DHCP server, the login's shell reads its own rc files, not this machine's root's
      // (here `pyenv init`: 0.6 CPU-s on every check, reload and deploy command).
      sessionHome: ownedDir(c, join(root, 'home'), 0o700),
    }),
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  run(sshd, ['-t', '-f', conf]);
  const log = join(dir, 'sshd.log');
  const p = startDetached(sshd, ['-D', '-e', '-f', conf], log);
  track(c, 'sshd', p, `${c.user.name}@127.0.0.1:${ep.port}`, log);
  await waitReady('sshd', p, log, () => sshBannerSeen(ep.port));
  c.progress(
    `sshd: ${c.user.name}@127.0.0.1:${ep.port} — stands in for the DNS and DHCP servers (files under ${root})`,
  );
}

function mask(cidr: string): { net: string; mask: string } {
  const [net, bits] = cidr.split('/') as [string, string];
  const m = (0xffffffff << (32 - Number(bits))) >>> 0;
  return { net, mask: [24, 16, 8, 0].map((s) => (m >>> s) & 255).join('.') };
}

export async function startLabDhcp(c: LabContext): Promise<void> {
  for (const s of labDhcpServers(c.site)) {
    const nets = s.nets.map((n) => c.site.nets[n]).filter((n) => !!n);
    if (s.backend === 'isc') {
      if (!s.includePath || !s.configPath || !s.restartCommand)
        throw new LabError(`dhcp server ${s.name}: an isc server needs includePath, configPath and restartCommand`);
      const dhcpd = requireBinary('/usr/sbin/dhcpd', 'isc-dhcp-server');
      ownedDir(c, dirname(s.configPath));
      writeFileSync(s.includePath, '# shipshape writes its host reservations here\n');
      const subnets = nets
        .map((n) => {
          const m = mask(n.cidr);
          return `subnet ${m.net} netmask ${m.mask} { }\n`;
        })
        .join('');
      writeFileSync(
        s.configPath,
        `# the lab's dhcpd.conf (checked with dhcpd -t; dhcpd does not serve in the lab)\nddns-update-style none;\n${subnets}include "${s.includePath}";\n`,
      );
      const restart = s.restartCommand.split(' ')[0]!;
      writeFileSync(
        restart,
        `#!/bin/sh\n# The lab checks the configuration instead of restarting a serving dhcpd (no VM boots over the network in vcsim).\nexec ${dhcpd} -t -q -cf ${s.configPath} -lf /dev/null -pf /dev/null\n`,
      );
      chmodSync(restart, 0o755);
      for (const f of [s.includePath, s.configPath, restart]) own(c, f);
      run(dhcpd, ['-t', '-q', '-cf', s.configPath, '-lf', '/dev/null', '-pf', '/dev/null']);
      c.progress(`dhcpd (${s.name}): ${s.configPath} — checked with dhcpd -t, does not serve in the lab`);
    } else {
      if (!s.configPath || !s.controlSocket)
        throw new LabError(`dhcp server ${s.name}: a kea server needs configPath and controlSocket`);
      const kea = requireBinary('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server');
      const dir = ownedDir(c, dirname(s.configPath), 0o750);
      rmSync(s.controlSocket, { force: true });
      rmSync(join(dir, 'leases4.csv'), { force: true });
      writeFileSync(
        s.configPath,
        keaConf({
          socket: s.controlSocket,
          leaseFile: join(dir, 'leases4.csv'),
          subnets: nets.map((n, i) => ({ id: i + 1, subnet: n.cidr, pools: [], reservations: [] })),
        }),
      );
      own(c, s.configPath);
      const log = join(c.dir, `kea-${s.name}.log`);
      // umask 000: the socket must be writable for the SSH user; its folder (0750, the user's) keeps others out.
      const p = startDetached(kea, ['-c', s.configPath], log, {
        umask: '000',
        env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir },
      });
      track(c, `kea-dhcp4 (${s.name})`, p, s.controlSocket, log);
      await waitReady(
        `kea-dhcp4 (${s.name})`,
        p,
        log,
        async () =>
          existsSync(s.controlSocket!) &&
          (await keaCommand(s.controlSocket!, { command: 'status-get' }, 1000)).result === 0,
      );
      c.progress(`kea-dhcp4 (${s.name}): control socket ${s.controlSocket} — serves no interface in the lab`);
    }
  }
}
