/** A kea-dhcp4 that serves nothing ("interfaces": []) but answers on its control socket, in its own temp dir. */
import { existsSync, writeFileSync } from 'node:fs';
import { keaCommand, keaConf } from '../../src/lab/configs';
import { join } from 'node:path';
import { requireBinary, startDaemon, tempDir, type Daemon } from './daemon';

export interface TestKea extends Daemon {
  dir: string;
  configPath: string;
  socket: string;
  command(command: string, args?: object): Promise<{ result: number; text?: string; arguments?: any }>;
}

export { keaCommand };

export async function startKea(
  operatorReservations: object[],
  subnet = '192.0.2.0/24',
  pool = '192.0.2.100 - 192.0.2.199',
): Promise<TestKea> {
  return startKeaWith(({ socket, dir }) =>
    keaConf({
      socket,
      leaseFile: join(dir, 'leases4.csv'),
      subnets: [{ id: 1, subnet, pools: [{ pool }], reservations: operatorReservations }],
    }),
  );
}

/** A kea-dhcp4 started with the config file text `config` writes (an operator's file, comments and all). */
export async function startKeaWith(config: (at: { socket: string; dir: string }) => string): Promise<TestKea> {
  const kea = requireBinary('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server');
  const dir = tempDir('kea');
  const socket = join(dir, 'kea4-ctrl.sock');
  const configPath = join(dir, 'kea-dhcp4.conf');
  writeFileSync(configPath, config({ socket, dir }));
  const env = { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir };
  const d = await startDaemon(
    'kea-dhcp4',
    kea,
    ['-c', configPath],
    join(dir, 'kea.log'),
    async () => existsSync(socket) && (await keaCommand(socket, { command: 'status-get' }, 1000)).result === 0,
    env,
  );
  return {
    ...d,
    dir,
    configPath,
    socket,
    command: (command, args) => keaCommand(socket, args ? { command, arguments: args } : { command }),
  };
}
