/**
 * Configuration text and readiness probes for the daemons of the lab (and of the tests, which start the
 * same daemons attached): named, sshd, kea-dhcp4, dhcpd. One source, so the lab runs what the tests test.
 */
import { connect } from 'node:net';

export function soaHeader(zone: string, serial = 2024010101, ns = `ns1.${zone}.`): string {
  return `$TTL 300\n@ IN SOA ${ns} hostmaster.${zone}. ( ${serial} 3600 600 86400 300 )\n  IN NS ${ns}\n`;
}

export interface NamedZoneDecl {
  name: string;
  file: string;
  /** Accept RFC 2136 updates signed with this key name. */
  updateKey?: string;
}

export interface NamedConfOptions {
  workDir: string;
  port: number;
  rndcPort: number;
  /** Key files to include (rndc key first: the controls statement names `rndcKeyName`). */
  includes: string[];
  rndcKeyName: string;
  zones: NamedZoneDecl[];
}

/** A primary-only named on 127.0.0.1 (reference 2.1–2.4): no recursion, queries and AXFR from loopback only. */
export function namedConf(o: NamedConfOptions): string {
  const zones = o.zones.map(
    (z) =>
      `zone "${z.name}" { type primary; file "${z.file}"; ${z.updateKey ? `update-policy { grant ${z.updateKey} zonesub ANY; };` : ''} };`,
  );
  return `${o.includes.map((f) => `include "${f}";`).join('\n')}
options {
  directory "${o.workDir}"; pid-file "${o.workDir}/named.pid"; session-keyfile "${o.workDir}/session.key";
  managed-keys-directory "${o.workDir}"; listen-on port ${o.port} { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; allow-query { 127.0.0.0/8; }; allow-transfer { 127.0.0.0/8; }; dnssec-validation no; notify no;
};
controls { inet 127.0.0.1 port ${o.rndcPort} allow { 127.0.0.1; } keys { "${o.rndcKeyName}"; }; };
${zones.join('\n')}
`;
}

export interface SshdConfOptions {
  port: number;
  hostKey: string;
  pidFile: string;
  authorizedKeys: string;
  /** A HOME of its own for sessions (keeps the login user's shell rc out of every command). */
  sessionHome?: string;
  /** Default 127.0.0.1; a lab system's sshd listens on its own address inside its namespace. */
  listen?: string;
}

/** Key-only logins on 127.0.0.1 (reference 4.1/4.2); no PAM, so the account needs a usable (not locked) entry. */
export function sshdConf(o: SshdConfOptions): string {
  return [
    `Port ${o.port}`,
    `ListenAddress ${o.listen ?? '127.0.0.1'}`,
    `HostKey ${o.hostKey}`,
    `PidFile ${o.pidFile}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    'StrictModes no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'MaxStartups 200',
    'AllowStreamLocalForwarding yes',
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    // root's ~/.bashrc on these machines runs `pyenv init` (seconds per command under load); a session
    // HOME of its own keeps every exec lean: 3.7 s → 0.5 s per command measured here.
    ...(o.sessionHome ? [`SetEnv HOME=${o.sessionHome}`] : []),
    '',
  ].join('\n');
}

/** The SSH server answers with its banner. */
export function sshBannerSeen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 1000);
    s.once('data', (d) => {
      clearTimeout(t);
      s.destroy();
      resolve(d.toString().startsWith('SSH-2.0-'));
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export interface KeaSubnet {
  id: number;
  subnet: string;
  pools: { pool: string }[];
  reservations: object[];
}

/** A kea-dhcp4 that serves no interface ("interfaces": []) but answers on its control socket. */
export function keaConf(o: { socket: string; leaseFile: string; subnets: KeaSubnet[] }): string {
  return JSON.stringify(
    {
      Dhcp4: {
        'interfaces-config': { interfaces: [] },
        'control-socket': { 'socket-type': 'unix', 'socket-name': o.socket },
        'lease-database': { type: 'memfile', persist: true, name: o.leaseFile, 'lfc-interval': 0 },
        'valid-lifetime': 600,
        subnet4: o.subnets,
        loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'INFO' }],
      },
    },
    null,
    2,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kea's answers are open-ended JSON
export function keaCommand(socketPath: string, cmd: object, timeoutMs = 5000): Promise<any> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(socketPath, () => s.write(JSON.stringify(cmd)));
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      reject(new Error('kea command timeout'));
    });
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e);
      }
    });
  });
}
