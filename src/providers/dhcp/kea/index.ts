/** The `kea` DHCP backend: Kea DHCPv4 driven through its control socket, reached over SSH. */
import type { SshEndpoint } from '../../../manifest/site';
import { defineBackend, sshEndpoint, type RawSsh } from '../../plugin';
import schema from './schema.json';
import { KeaBackend } from './server';

export type KeaServer = {
  name: string;
  backend: 'kea';
  nets: string[];
  ssh: SshEndpoint;
  /** Path of Kea's control socket on the server. */
  controlSocket: string;
  /** The config file Kea was started with (`kea-dhcp4 -t`, `config-write`). */
  configPath: string;
  /**
   * The operator accepts that config-write replaces configPath with plain JSON, dropping its comments
   * and inlining its `<?include?>`s; without it a file that has them is refused before anything is applied.
   */
  rewriteConfigFile?: boolean;
};

interface Raw {
  name: string;
  nets: string[];
  ssh: RawSsh;
  controlSocket: string;
  configPath: string;
  rewriteConfigFile?: boolean;
}

export const kea = defineBackend({
  kind: 'dhcp',
  id: 'kea',
  schema,
  config(section): KeaServer {
    const r = section as unknown as Raw;
    return {
      name: r.name,
      backend: 'kea',
      nets: [...r.nets],
      ssh: sshEndpoint(r.ssh),
      controlSocket: r.controlSocket,
      configPath: r.configPath,
      ...(r.rewriteConfigFile ? { rewriteConfigFile: true } : {}),
    };
  },
  connect: (server, deps) => new KeaBackend(server, deps),
});
