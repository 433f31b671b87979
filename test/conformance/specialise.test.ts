/**
 * The specialise step through the conformance suite, against real sshd "hosts" on 127.0.0.2 and
 * 127.0.0.3 (test/helpers/sshd-hosts.ts): every test system is a root prefix on 127.0.0.2, reached
 * with the site's key and pinned by the site's known_hosts; its role writes a file with a parameter.
 *
 * What is not shipshape's, and what an operator expects of it:
 * - a machine whose role record (`var/lib/shipshape/roles.json`) is not shipshape's (another tool's
 *   file, or another system's record): reported not owned; a manifest that names it is refused
 *   (`foreign-record`) and the file stays as it was: shipshape never overwrites someone's state;
 * - a machine whose host key is not the one known_hosts holds for its address: refused (`host-key`)
 *   before anything is sent; shipshape never trusts a key on first use, whatever the plan says.
 * A tombstone never touches either: a deleted system's record goes with its machine.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Provider, ProviderContext, Resolved } from '../../src/engine/contract';
import { loadRepo, formatDiagnostic, type LoadResult } from '../../src/manifest';
import type { SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import { SpecialiseProvider } from '../../src/providers/specialise/provider';
import { removeDir, tempDir } from '../helpers/daemon';
import { keygen } from '../helpers/sshd';
import { startSshdHosts, type TestHosts } from '../helpers/sshd-hosts';
import { context, system as baseSystem } from '../helpers/systems';
import { conformance } from './suite';

const ROLE = `apiVersion: shipshape.dev/v1
kind: Role
metadata: { name: test/level }
spec:
  params:
    type: object
    additionalProperties: false
    properties: { level: { type: integer, default: 1 } }
  steps:
    - file: { path: /etc/level/level.conf, template: templates/level.conf, mode: "0644" }
  check: |
    test -e "$SHIPSHAPE_ROOT/etc/level/level.conf"
`;
const THEIRS = '{"managedBy":"ansible","roles":{"nginx":{"version":"1.2"}}}\n';

let net: TestHosts;
let repo: string;
let targets: string;
let loaded: LoadResult;
let good: SiteConfig;
let bad: SiteConfig;

/** The suite's systems the manifest declares besides a run's own (the engine hands the provider all of them). */
const KNOWN = [0, 1, 2, 3, 4, 5].map((n) => `c-${n}`);

function system(n: number | string, changed = false): DesiredSystem {
  const name = typeof n === 'number' ? `c-${n}` : n;
  return {
    ...baseSystem(name, { net: 'lo-net', domain: 'conf.example.test' }),
    network: { net: 'lo-net', ip: name === 'unknown-key' ? '127.0.0.3' : '127.0.0.2', mac: '00:50:56:00:00:01' },
    roles: [{ name: 'test/level', params: changed ? { level: 2 } : {} }],
  };
}
/** The site's manifest: the known systems, with a run's own declarations (changed, absent) in their place. */
const manifest = (run: DesiredSystem[] = []) =>
  [...KNOWN.map((n) => system(Number(n.slice(2)))), system('theirs'), system('unknown-key')]
    .filter((s) => !run.some((r) => r.name === s.name))
    .concat(run);
const provider = (s: SiteConfig, run?: DesiredSystem[]) =>
  new SpecialiseProvider({ site: s, roles: loaded.roles, systems: manifest(run) });

conformance({
  name: 'specialise/ssh',
  async start() {
    net = await startSshdHosts(['127.0.0.2', '127.0.0.3']);
    repo = tempDir('conf-specialise-repo');
    targets = tempDir('conf-specialise-targets');
    mkdirSync(join(repo, 'roles/test/level/templates'), { recursive: true });
    writeFileSync(join(repo, 'roles/test/level/role.yaml'), ROLE);
    writeFileSync(join(repo, 'roles/test/level/templates/level.conf'), 'level = {{ params.level }}\n');
    // 127.0.0.3's line holds a key that host does not have: the operator's machine of unknown key.
    const stranger = keygen(join(net.dir, 'stranger'), 'not-that-host');
    writeFileSync(
      join(repo, 'known_hosts'),
      `[127.0.0.2]:${net.port} ${net.hosts[0]!.hostPub}\n[127.0.0.3]:${net.port} ${stranger}\n`,
    );
    keygen(join(net.dir, 'wrong-client'), 'not-authorised');
    const siteYaml = (key: string) =>
      [
        'apiVersion: shipshape.dev/v1',
        'kind: Site',
        'spec:',
        '  lab: true',
        `  secrets: { folders: [${net.dir}] }`,
        '  nets:',
        '    lo-net: { cidr: 127.0.0.0/24, domain: conf.example.test }',
        '  specialise:',
        '    user: root',
        `    port: ${net.port}`,
        `    privateKey: \${file:${key}}`,
        '    knownHosts: known_hosts',
        `    rootPrefix: ${targets}/{system}`,
        '    connectTimeoutSeconds: 5',
        '    commandTimeoutSeconds: 30',
        '',
      ].join('\n');
    const load = async (key: string) => {
      writeFileSync(join(repo, 'shipshape.yaml'), siteYaml(key));
      const r = await loadRepo(repo);
      if (!r.ok || !r.site) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
      return r;
    };
    bad = (await load(join(net.dir, 'wrong-client'))).site!;
    loaded = await load(net.clientKeyPath);
    good = loaded.site!;
    mkdirSync(join(targets, 'theirs/var/lib/shipshape'), { recursive: true });
    writeFileSync(join(targets, 'theirs/var/lib/shipshape/roles.json'), THEIRS);
  },
  async stop() {
    await net?.stop();
    if (net) removeDir(net.dir);
    if (repo) removeDir(repo);
    if (targets) removeDir(targets);
  },
  provider: (systems) => provider(good, systems) as Provider,
  bad: () => {
    const p = provider(bad);
    const s = system(5);
    const c: ProviderContext = context(bad);
    return { provider: p as Provider, ctx: c, act: () => p.create(s, p.desired(s, resolved(s))!, resolved(s), c) };
  },
  ctx: () => context(good),
  system: (n, changed) => system(n, changed),
  resolved: (s) => resolved(s),
  foreignName: 'theirs',
  isForeign: (r) => r.system === 'theirs',
  collider: () => [system('theirs'), system('unknown-key')],
  colliderCode: /^refused$/,
  // The operator's files: the other tool's record as it was, and nothing written under the unknown-key machine.
  evidence: async () => ({
    record: readFileSync(join(targets, 'theirs/var/lib/shipshape/roles.json'), 'utf8'),
    unknownKey: existsSync(join(targets, 'unknown-key')) ? readdirSync(join(targets, 'unknown-key')) : [],
  }),
  notApplicable: {
    roundTrips:
      'observe is one SSH connection and one command per host, hosts in parallel: there is no API across machines to batch, so round trips are the number of hosts by nature (README: Plan, observe, drift)',
    forged:
      'the role record carries no site seal: it lives on the machine shipshape logs into as root, and whoever can write it there can already change the machine; a record that is not shipshape\'s is the "unowned" case',
  },
});

function resolved(s: DesiredSystem): Resolved {
  return { ip: s.network.ip, mac: s.network.mac };
}
