/** What every part of `lab up` shares: the site, the lab's folder, the record, the credentials, progress output. */
import { chownSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { SiteConfig } from '../manifest/site';
import type { LabCredentials } from './credentials';
import { recordDaemon, type LabRecord } from './record';
import { LabError, type DetachedProcess } from './process';

export interface LabUser {
  name: string;
  uid: number;
  gid: number;
}

export interface LabContext {
  site: SiteConfig;
  root: string;
  /** <root>/.lab */
  dir: string;
  record: LabRecord;
  creds: LabCredentials;
  progress: (line: string) => void;
  /** The SSH targets' login user (owns the files shipshape writes over SSH); undefined without SSH targets. */
  user?: LabUser;
}

export const inRepo = (c: LabContext, p: string) => (isAbsolute(p) ? p : join(c.root, p));

export function track(c: LabContext, name: string, p: DetachedProcess, where: string, log: string): void {
  recordDaemon(c.root, c.record, { name, pid: p.pid, start: p.start, where, log });
}

/** mkdir -p, owned by the lab user (so shipshape, logged in over SSH, may write there). */
export function ownedDir(c: LabContext, dir: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true, mode });
  if (c.user) chownSync(dir, c.user.uid, c.user.gid);
  return dir;
}

export function own(c: LabContext, file: string): void {
  if (c.user) chownSync(file, c.user.uid, c.user.gid);
}

/** host:port from a URL, only on loopback: the lab never listens elsewhere. */
export function loopbackPort(what: string, url: string, defaultPort: number): number {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1')
    throw new LabError(`${what}: ${url} is not on 127.0.0.1: the lab only listens on loopback`);
  return Number(u.port || defaultPort);
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 1000);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}
