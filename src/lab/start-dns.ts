/**
 * The lab's BIND: one named on 127.0.0.1 serving every zone of the site. bind-ssh zones get the main zone
 * file the operator would keep (SOA, NS) with an $INCLUDE of shipshape's fragment, both where the site says
 * they live on "the server" (the SSH target); rfc2136 zones are dynamic, signed with the site's TSIG key.
 * rndc listens on a free port; `<zone dir>/rndc` wraps it for the zones' reloadCommand.
 */
import { labZones, type LabZone } from './backends';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { dirname, join } from 'node:path';
import { namedConf, soaHeader } from './configs';
import { own, ownedDir, track, type LabContext } from './context';
import { freePort, LabError, requireBinary, run, startDetached, waitReady } from './process';

const keySecret = (keyText: string) => /secret "([^"]+)"/.exec(keyText)![1]!;

export async function startLabNamed(c: LabContext): Promise<void> {
  const zones = labZones(c.site);
  if (zones.length === 0) return;
  const named = requireBinary('/usr/sbin/named', 'bind9');
  const keygen = requireBinary('/usr/sbin/tsig-keygen', 'bind9');
  const servers = new Set(zones.map((z) => `${z.server.host}:${z.server.port}`));
  if (servers.size !== 1 || zones[0]!.server.host !== '127.0.0.1') {
    throw new LabError(`dns.zones: the lab runs one named on 127.0.0.1; the zones name ${[...servers].join(', ')}`);
  }
  const port = zones[0]!.server.port;
  const dir = join(c.dir, 'bind');
  const work = join(dir, 'work');
  const zonesDir = join(dir, 'zones');
  rmSync(zonesDir, { recursive: true, force: true }); // dynamic zones and their journals start clean
  for (const d of [work, zonesDir]) mkdirSync(d, { recursive: true });

  const rndcKeyFile = join(dir, 'rndc.key');
  writeFileSync(rndcKeyFile, run(keygen, ['-a', 'hmac-sha256', 'rndc-key']), { mode: 0o600 });
  const rndcPort = await freePort();
  const tsigKeys = new Map<string, string>();
  for (const z of zones.filter((x) => x.backend === 'rfc2136')) {
    if (!z.tsig) throw new LabError(`dns zone ${z.name}: an rfc2136 zone needs tsig in the lab`);
    const t = z.tsig;
    const secret = c.creds.provide(t.secret, `dns zone ${z.name} tsig.secret`, () =>
      keySecret(run(keygen, ['-a', t.algorithm, t.name])),
    );
    tsigKeys.set(t.name, `key "${t.name}" { algorithm ${t.algorithm}; secret "${secret}"; };\n`);
  }
  const tsigFile = join(dir, 'tsig-keys.conf');
  writeFileSync(tsigFile, [...tsigKeys.values()].join(''), { mode: 0o600 });

  const forward = zones.find((z) => !z.name.endsWith('.arpa'))?.name ?? zones[0]!.name;
  const body = (z: LabZone) =>
    soaHeader(z.name, 2024010101, `ns1.${forward}.`) + (z.name === forward ? 'ns1 IN A 127.0.0.1\n' : '');
  const decls = zones.map((z) => {
    if (z.backend === 'rfc2136') {
      const file = join(zonesDir, `db.${z.name}`);
      writeFileSync(file, body(z));
      return { name: z.name, file, updateKey: z.tsig!.name };
    }
    if (!z.zoneFile || !z.fragmentPath)
      throw new LabError(`dns zone ${z.name}: a bind-ssh zone needs zoneFile and fragmentPath`);
    ownedDir(c, dirname(z.zoneFile));
    ownedDir(c, dirname(z.fragmentPath));
    writeFileSync(z.fragmentPath, '; shipshape deploys its records here\n');
    writeFileSync(z.zoneFile, body(z) + `$INCLUDE ${z.fragmentPath}\n`);
    own(c, z.fragmentPath);
    own(c, z.zoneFile);
    return { name: z.name, file: z.zoneFile };
  });
  writeRndcWrappers(c, zones, rndcPort, rndcKeyFile);

  const conf = join(dir, 'named.conf');
  writeFileSync(
    conf,
    namedConf({
      workDir: work,
      port,
      rndcPort,
      includes: [rndcKeyFile, tsigFile],
      rndcKeyName: 'rndc-key',
      zones: decls,
    }),
  );
  run(requireBinary('/usr/bin/named-checkconf', 'bind9-utils'), ['-z', conf]);
  const log = join(dir, 'named.log');
  const p = startDetached(named, ['-g', '-c', conf], log);
  track(c, 'named', p, `127.0.0.1:${port} (udp+tcp), rndc 127.0.0.1:${rndcPort}`, log);
  const r = new Resolver({ timeout: 1000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  await waitReady('named', p, log, async () => (await r.resolveSoa(forward)).serial > 0);
  c.progress(`named: 127.0.0.1:${port} — zones ${zones.map((z) => `${z.name} (${z.backend})`).join(', ')}`);
}

/**
 * bind-ssh zones reload through `reloadCommand`; the lab's named takes rndc on its own port with its own key,
 * so the lab puts an `rndc` wrapper beside each zone file (readable key copy, owned by the SSH user).
 */
function writeRndcWrappers(c: LabContext, zones: LabZone[], rndcPort: number, rndcKeyFile: string): void {
  const rndc = requireBinary('/usr/sbin/rndc', 'bind9-utils');
  for (const z of zones.filter((x) => x.backend === 'bind-ssh')) {
    const wrapper = join(dirname(z.zoneFile!), 'rndc');
    if (!z.reloadCommand?.startsWith(wrapper + ' ')) {
      throw new LabError(
        `dns zone ${z.name}: set reloadCommand: "${wrapper} reload {zone}" (the lab's named takes rndc on its own port)`,
      );
    }
    const key = join(dirname(z.zoneFile!), 'rndc.key');
    writeFileSync(key, readFileSync(rndcKeyFile), { mode: 0o600 });
    own(c, key);
    writeFileSync(
      wrapper,
      `#!/bin/sh\n# the lab's named: rndc on 127.0.0.1:${rndcPort}\nexec ${rndc} -s 127.0.0.1 -p ${rndcPort} -k ${key} "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    own(c, wrapper);
  }
}
