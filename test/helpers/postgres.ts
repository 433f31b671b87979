/**
 * A real PostgreSQL server for tests (Debian's postgresql package): a fresh cluster in a temp dir,
 * TCP on a free 127.0.0.1 port, password authentication (scram-sha-256) for the `shipshape` role.
 * initdb and postgres refuse to run as root, so as root they run as the `postgres` user the
 * package creates (setpriv execs in place: the pid we stop is the postmaster itself).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeDir, startDaemon, tempDir, type Daemon } from './daemon';
import { requireBinary } from '../../src/lab/process';
import { Client } from 'pg';

export interface Postgres {
  port: number;
  /** postgresql://shipshape:PASSWORD@127.0.0.1:PORT/shipshape */
  url: string;
  password: string;
  daemon: Daemon;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  return requireBinary(join(root, versions[0] ?? 'VERSION', 'bin'), 'postgresql');
}

export async function startPostgres(): Promise<Postgres> {
  const bin = binDir();
  const dir = tempDir('pg');
  const data = join(dir, 'data');
  const password = 'pg-test-' + Math.random().toString(36).slice(2);
  writeFileSync(join(dir, 'pw'), password + '\n');
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim() : '';
  const gid = asRoot ? execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim() : '';
  if (asRoot) {
    chownSync(dir, Number(ids), Number(gid));
    chownSync(join(dir, 'pw'), Number(ids), Number(gid));
  }
  const as = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', cmd, ...args]] : [cmd, args];
  const [icmd, iargs] = as(join(bin, 'initdb'), [
    '-D',
    data,
    '--username=shipshape',
    `--pwfile=${join(dir, 'pw')}`,
    '--auth=scram-sha-256',
    '--no-sync',
  ]);
  execFileSync(icmd, iargs, { stdio: 'pipe', cwd: dir });
  const port = await freePort();
  const [cmd, args] = as(join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
  ]);
  const base = `postgresql://shipshape:${password}@127.0.0.1:${port}`;
  const ready = async () => {
    const c = new Client({ connectionString: `${base}/postgres` });
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const daemon = await startDaemon('postgres', cmd, args, join(dir, 'postgres.log'), ready);
  const c = new Client({ connectionString: `${base}/postgres` });
  await c.connect();
  await c.query('CREATE DATABASE shipshape');
  await c.end();
  return {
    port,
    url: `${base}/shipshape`,
    password,
    daemon,
    stop: async () => {
      await daemon.stop();
      removeDir(dir);
    },
  };
}
