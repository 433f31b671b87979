/** The `bind-ssh` DNS backend: a fragment file shipshape owns, $INCLUDEd by the operator's zone file, deployed over SSH. */
import type { SshEndpoint } from '../../../manifest/site';
import { defineBackend, sshEndpoint, tsigKey, type RawSsh, type RawTsig } from '../../plugin';
import type { ServedZone } from '../dns-tools';
import schema from './schema.json';
import { BindSshBackend } from './zone';

export type BindSshZone = ServedZone & {
  backend: 'bind-ssh';
  ssh: SshEndpoint;
  /** Absolute path of the fragment shipshape owns on the server (the operator's zone file $INCLUDEs it). */
  fragmentPath: string;
  /** The operator's main zone file on the server (its SOA serial is bumped on every change). */
  zoneFile: string;
  /** Run on the server after a deploy; `{zone}` is the zone name. Default `/usr/sbin/rndc reload {zone}`. */
  reloadCommand?: string;
};

interface Raw {
  name: string;
  server: { host: string; port: number };
  ssh: RawSsh;
  fragmentPath: string;
  zoneFile: string;
  reloadCommand?: string;
  tsig?: RawTsig;
}

export const bindSsh = defineBackend({
  kind: 'dns',
  id: 'bind-ssh',
  schema,
  config(section): BindSshZone {
    const r = section as unknown as Raw;
    return {
      name: r.name,
      backend: 'bind-ssh',
      server: { ...r.server },
      ssh: sshEndpoint(r.ssh),
      fragmentPath: r.fragmentPath,
      zoneFile: r.zoneFile,
      ...(r.reloadCommand !== undefined ? { reloadCommand: r.reloadCommand } : {}),
      ...(r.tsig ? { tsig: tsigKey(r.tsig) } : {}),
    };
  },
  connect: (zone, deps) => new BindSshBackend(zone, deps),
});
