/**
 * The example lab site (examples/lab/shipshape.yaml) rewritten for a test's own lab: free ports, every
 * server-side file under the test's `targets` folder. The lab e2e, the status-page test and the chaos
 * harness all start their labs from it, so the three always test the site the README's lab runs.
 */
import { cpSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { parseDocument, type Document, type YAMLMap } from 'yaml';
import { LabCredentials } from '../../src/lab/credentials';
import { freePort } from '../../src/lab/process';
import { PACKAGE_ROOT } from '../../src/lab/vcsim';

/** From the repo root, not from this file: the chaos harness runs compiled under .cache/chaos-build. */
export const LAB_EXAMPLES = join(PACKAGE_ROOT, 'examples', 'lab');

/** Every folder of the example repo (all but shipshape.yaml, which each test rewrites for its own lab). */
export const LAB_FOLDERS = ['systems', 'profiles', 'os', 'roles', 'environments'] as const;

/** The example repo's folders copied into `repo`, so a test's repo never misses one a later change added. */
export function copyLabExamples(repo: string): void {
  for (const d of LAB_FOLDERS) cpSync(join(LAB_EXAMPLES, d), join(repo, d), { recursive: true });
}

/**
 * The secret behind the site's `ownership.key` (in `repo`'s shipshape.yaml), generated as `lab up` does: for
 * tests that use the example site but skip `lab up`. Nothing when the site has no ownership key.
 */
export function provideOwnershipKey(repo: string): void {
  const spec = parseDocument(readFileSync(join(repo, 'shipshape.yaml'), 'utf8')).get('spec') as YAMLMap | undefined;
  const key = spec?.getIn(['ownership', 'key']);
  if (typeof key === 'string') new LabCredentials(repo).provide({ ref: key }, 'ownership.key');
}

/** Where the test's daemons listen (the chaos harness passes its fault proxies for vcsim, i-doit and SSH). */
export interface LabEndpoints {
  vcsim: number;
  idoit: number;
  ssh: number;
  dns: number;
  prov: number;
}

/** A free port for each of the lab's daemons. */
export async function freeLabEndpoints(): Promise<LabEndpoints> {
  return {
    vcsim: await freePort(),
    idoit: await freePort(),
    dns: await freePort(),
    ssh: await freePort(),
    prov: await freePort(),
  };
}

export function labSiteYaml(at: LabEndpoints, targets: string, tweak?: (spec: YAMLMap) => void): string {
  const doc = parseDocument(readFileSync(join(LAB_EXAMPLES, 'shipshape.yaml'), 'utf8'));
  const spec = doc.get('spec') as YAMLMap;
  spec.setIn(['vms', 'url'], `https://127.0.0.1:${at.vcsim}/sdk`);
  for (const step of ['ipam', 'cmdb']) spec.setIn([step, 'url'], `http://127.0.0.1:${at.idoit}/src/jsonrpc.php`);
  spec.setIn(['provisioning', 'listen'], `127.0.0.1:${at.prov}`);
  spec.setIn(['provisioning', 'baseUrl'], `http://127.0.0.1:${at.prov}`);
  for (const os of ['debian12', 'rocky9'])
    spec.setIn(['provisioning', 'mirrors', os], `http://127.0.0.1:${at.prov}/mirror/${os}`);
  const ssh = {
    host: '127.0.0.1',
    port: at.ssh,
    user: userInfo().username,
    privateKey: '${file:.lab/ssh/id_ed25519}',
    knownHosts: '.lab/ssh/known_hosts',
  };
  setDnsDhcp(doc, spec, {
    ssh,
    server: { host: '127.0.0.1', port: at.dns },
    tsig: { name: 'shipshape-key', algorithm: 'hmac-sha256', secret: '${file:.lab/bind/tsig.secret}' },
    fragmentPath: (zone) => join(targets, 'bind', `${zone}.shipshape`),
    zoneFile: (zone) => join(targets, 'bind', `${zone}.zone`),
    reloadCommand: `${join(targets, 'bind', 'rndc')} reload {zone}`,
    isc: {
      includePath: join(targets, 'dhcpd', 'shipshape.conf'),
      configPath: join(targets, 'dhcpd', 'dhcpd.conf'),
      restartCommand: join(targets, 'dhcpd', 'restart'),
    },
    kea: {
      controlSocket: join(targets, 'kea', 'kea4-ctrl-socket'),
      configPath: join(targets, 'kea', 'kea-dhcp4.conf'),
    },
  });
  spec.setIn(['specialise', 'rootPrefix'], join(targets, 'systems', '{system}'));
  // The lab systems answer in their own namespaces; the lab routes to them by this port, so labs run by
  // tests at the same time each reach only their own systems (src/lab/systems.ts).
  spec.setIn(['specialise', 'port'], at.ssh);
  tweak?.(spec);
  return doc.toString();
}

/** Where a test's DNS and DHCP servers are, and how shipshape reaches them. */
export interface DnsDhcpTargets {
  /** The SSH login of "the server" for the bind-ssh zones and both DHCP servers. */
  ssh: Record<string, unknown>;
  /** The name server (queries, AXFR, RFC 2136 updates). */
  server: { host: string; port: number };
  tsig: { name: string; algorithm: string; secret: string };
  fragmentPath(zone: string): string;
  zoneFile(zone: string): string;
  reloadCommand: string;
  isc: { includePath: string; configPath: string; restartCommand: string };
  kea: { controlSocket: string; configPath: string };
}

/**
 * The example site's DNS zones and DHCP servers (spec.dns, spec.dhcp) on a test's servers: the dev zones
 * as bind-ssh files, the live zones by RFC 2136; dhcpd for dev-net, Kea for live-net. One place, so every
 * test that runs the example site's DNS and DHCP runs the same backends for the same zones and nets.
 */
export function setDnsDhcp(doc: Document, spec: YAMLMap, t: DnsDhcpTargets): void {
  const bind = (name: string) => ({
    name,
    backend: 'bind-ssh',
    server: t.server,
    ssh: t.ssh,
    fragmentPath: t.fragmentPath(name),
    zoneFile: t.zoneFile(name),
    reloadCommand: t.reloadCommand,
  });
  const rfc2136 = (name: string) => ({ name, backend: 'rfc2136', server: t.server, tsig: t.tsig });
  spec.set(
    'dns',
    doc.createNode({
      zones: [
        bind('dev.example.com'),
        bind('100.51.198.in-addr.arpa'),
        rfc2136('live.example.com'),
        rfc2136('113.0.203.in-addr.arpa'),
      ],
    }),
  );
  spec.set(
    'dhcp',
    doc.createNode({
      servers: [
        { name: 'dhcp-dev', backend: 'isc', nets: ['dev-net'], ssh: t.ssh, ...t.isc },
        { name: 'dhcp-live', backend: 'kea', nets: ['live-net'], ssh: t.ssh, ...t.kea },
      ],
    }),
  );
}
