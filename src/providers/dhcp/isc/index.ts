/** The `isc` DHCP backend: ISC dhcpd with an include file shipshape owns, checked with `dhcpd -t` and deployed over SSH. */
import type { SshEndpoint } from '../../../manifest/site';
import { defineBackend, sshEndpoint, type RawSsh } from '../../plugin';
import schema from './schema.json';
import { IscBackend } from './server';

export type IscServer = {
  name: string;
  backend: 'isc';
  nets: string[];
  ssh: SshEndpoint;
  /** Absolute path of the include file shipshape owns on the server. */
  includePath: string;
  /** The main dhcpd.conf on the server (for `dhcpd -t -cf`). */
  configPath: string;
  /** Restarts dhcpd after a successful check. */
  restartCommand: string;
};

interface Raw {
  name: string;
  nets: string[];
  ssh: RawSsh;
  includePath: string;
  configPath: string;
  restartCommand: string;
}

export const isc = defineBackend({
  kind: 'dhcp',
  id: 'isc',
  schema,
  config(section): IscServer {
    const r = section as unknown as Raw;
    return {
      name: r.name,
      backend: 'isc',
      nets: [...r.nets],
      ssh: sshEndpoint(r.ssh),
      includePath: r.includePath,
      configPath: r.configPath,
      restartCommand: r.restartCommand,
    };
  },
  connect: (server, deps) => new IscBackend(server, deps),
});
