/**
 * Zone files over SSH (BIND): shipshape owns one $INCLUDEd fragment per zone; the operator's zone file is
 * only touched to bump its SOA serial. Deploy = render → named-checkzone here → upload to temp names →
 * named-checkzone on the server → keep the previous files → move into place → reload → wait until the
 * server serves the new serial; any failure after the move puts the previous files back and reloads.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../engine/contract';
import { shq, SshCommandError, type SshSession } from '../../../transport/ssh';
import type { BindSshZone } from './index';
import { allFailed, type BackendDeps, type ZoneBackend, type ZoneObservation } from '../backend';
import { axfr, checkZoneLocally, servedSerial, waitForSerial } from '../dns-tools';
import { MANAGED_TYPES, nameServersOf, normalName, recordKey, type DnsRecord } from '../records';
import {
  handLines,
  moveOutHandLines,
  whyNotMovable,
  findSoaSerial,
  systemsOnLines,
  includesFragment,
  missingIncludeHint,
  nextSerial,
  parseFragment,
  redirectInclude,
  renderFragment,
  replaceSerial,
} from '../zone-text';

/** Exit code of the deploy script when only the reload failed (the files are in place: roll back). */
const RELOAD_FAILED = 12;

export class ZoneDeployError extends Error {
  override readonly name = 'ZoneDeployError';
}

export class BindSshBackend implements ZoneBackend {
  readonly adopts = true;
  private zoneText = '';
  private zoneSha = '';
  /** Every reload this backend ran (tests and benches count them). */
  reloads = 0;
  /** The last fragment named-checkzone passed here (check() before deploy). */
  private checkedFragment: string | undefined;

  constructor(
    readonly zone: BindSshZone,
    private readonly deps: BackendDeps,
  ) {
    if (!zone.ssh || !zone.fragmentPath || !zone.zoneFile) {
      throw new UserError(
        `dns zone ${zone.name}: backend bind-ssh needs ssh, fragmentPath and zoneFile in shipshape.yaml`,
      );
    }
  }

  private get paths() {
    return { z: this.zone.zoneFile!, f: this.zone.fragmentPath! };
  }

  private session(): Promise<SshSession> {
    return this.deps.pool.get(this.zone.ssh);
  }

  async observe(): Promise<ZoneObservation> {
    const { z, f } = this.paths;
    // The files over SFTP and the zone transfer are independent reads: all at once. SFTP, not an exec:
    // no shell and no process on the server, and every zone and DHCP server on this login shares one channel.
    const read = async () => {
      const ssh = await this.session();
      const [zone, fragment] = await Promise.all([
        ssh.readFile(z, { missingOk: true, timeoutMs: 60_000 }),
        ssh.readFile(f, { missingOk: true, timeoutMs: 60_000 }),
      ]);
      if (!zone)
        throw new UserError(
          `dns zone ${this.zone.name}: the zone file ${z} does not exist on ${ssh.name}; set zoneFile to the file named loads the zone from`,
        );
      return { ssh, zone, fragment: fragment?.toString('utf8') ?? '' };
    };
    const [{ ssh, zone, fragment: fragmentText }, served] = await Promise.all([
      read(),
      axfr(this.zone, this.deps.readSecret),
    ]);
    // The deploy refuses a zone file whose sha256 (on the server) is no longer this one.
    this.zoneSha = createHash('sha256').update(zone).digest('hex');
    this.zoneText = zone.toString('utf8');
    const fragment = parseFragment(fragmentText);
    if (!includesFragment(this.zoneText, f)) {
      throw new UserError(`dns zone ${this.zone.name} on ${ssh.name}: ${missingIncludeHint(this.zoneText, f, z)}`);
    }
    if (!findSoaSerial(this.zoneText))
      throw new UserError(`dns zone ${this.zone.name}: no SOA serial found in ${z} on ${ssh.name}`);
    const key = (r: { name: string; type: string; value: string }) => `${r.name} ${r.type} ${r.value}`;
    const servedKeys = new Set(served.map(key));
    const apex = normalName(this.zone.name);
    // Adoption: where each hand record is written, and our records the zone file still writes too.
    const lines = handLines(this.zoneText, apex);
    const handKeys = new Set(lines.map(recordKey));
    const owned = new Map<string, DnsRecord[]>();
    const ownedKeys = new Set<string>();
    const fileDiffers = new Map<string, string>();
    for (const [system, recs] of fragment) {
      const live = recs.filter((x) => servedKeys.has(key(x)));
      // The fragment file says one thing and named serves another (a hand edit not reloaded, or a reload that
      // failed): what named serves under the names of this system's block, and not from the operator's own
      // lines, is still served from shipshape's fragment as named last loaded it, so it stays this system's.
      const names = new Set(recs.map((x) => x.name));
      const fileKeys = new Set(recs.map(key));
      const notInFile = served.filter(
        (x) => names.has(x.name) && MANAGED_TYPES.includes(x.type) && !fileKeys.has(key(x)) && !handKeys.has(key(x)),
      ) as DnsRecord[];
      const notServed = recs.filter((x) => !servedKeys.has(key(x)));
      if (notServed.length || notInFile.length)
        fileDiffers.set(
          system,
          `${f} on ${ssh.name} ${notServed.length ? `holds ${notServed.map(recordKey).join(', ')}` : `lacks ${notInFile.map(recordKey).join(', ')}`}, named serves ${notInFile.length ? notInFile.map(recordKey).join(', ') : 'none of it'} (the file was changed after the zone was last loaded)`,
        );
      for (const x of [...live, ...notInFile]) ownedKeys.add(key(x));
      if (live.length + notInFile.length) owned.set(system, [...live, ...notInFile]);
    }
    const foreign = served.filter((x) => !ownedKeys.has(key(x)) && x.name !== apex);
    const leftover = new Map<string, DnsRecord[]>();
    for (const [system, recs] of owned) {
      const copies = recs.filter((x) => handKeys.has(recordKey(x)));
      if (copies.length) leftover.set(system, copies);
    }
    const unmovable = new Map<string, string>();
    for (const x of foreign.filter((r) => MANAGED_TYPES.includes(r.type))) {
      const why = whyNotMovable(this.zoneText, apex, x, z, lines);
      if (why) unmovable.set(recordKey(x), why);
    }
    return {
      owned,
      foreign,
      nameServers: nameServersOf(served, apex),
      roundTrips: 2,
      leftover,
      unmovable,
      ...(fileDiffers.size ? { fileDiffers } : {}),
    };
  }

  async check(after: Map<string, DnsRecord[]>, changed: Set<string>): Promise<Map<string, Error>> {
    const failed = new Map<string, Error>();
    const target = new Map(after);
    // Each round drops the systems whose lines the checker named; a problem on no system's line fails them all.
    for (let round = 0; round < 5; round++) {
      const fragment = renderFragment(this.zone.name, target, this.deps.commit);
      const problem = await this.checkLocally(fragment);
      if (!problem) {
        this.checkedFragment = fragment;
        return failed;
      }
      const culprits = systemsOnLines(
        fragment,
        [...problem.matchAll(/fragment:(\d+)/g)].map((m) => Number(m[1])),
      );
      const blamed = culprits.size > 0 ? culprits : new Set([...changed].filter((s) => !failed.has(s)));
      for (const s of blamed) {
        const lines = problem.split('\n').filter(
          (l) =>
            !/fragment:\d+/.test(l) ||
            [
              ...systemsOnLines(
                fragment,
                [...l.matchAll(/fragment:(\d+)/g)].map((m) => Number(m[1])),
              ),
            ].includes(s),
        );
        failed.set(
          s,
          new ZoneDeployError(
            `zone ${this.zone.name}: the records of ${s} were refused by named-checkzone before deploy (nothing of it reached the server):\n${lines.join('\n')}`,
          ),
        );
        target.delete(s);
      }
      if (culprits.size === 0) return failed;
    }
    return failed;
  }

  async apply(
    _before: Map<string, DnsRecord[]>,
    after: Map<string, DnsRecord[]>,
    changed: Set<string>,
  ): Promise<Map<string, Error>> {
    try {
      await this.deploy(renderFragment(this.zone.name, after, this.deps.commit));
      return new Map();
    } catch (e) {
      return allFailed(changed, e as Error);
    }
  }

  /** named-checkzone on this machine, with a stand-in SOA and NS around the fragment; null when it loads. */
  private async checkLocally(fragment: string): Promise<string | null> {
    const dir = await mkdtemp(join(tmpdir(), 'shipshape-zone-'));
    try {
      await writeFile(join(dir, 'fragment'), fragment);
      const wrapper = `$ORIGIN ${this.zone.name}.\n$TTL 300\n@ IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 300\n@ IN NS ns.invalid.\n$INCLUDE "${join(dir, 'fragment')}"\n`;
      await writeFile(join(dir, 'zone'), wrapper);
      return await checkZoneLocally(this.zone.name, join(dir, 'zone'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async deploy(fragment: string): Promise<void> {
    // check() ran named-checkzone on exactly this text in this commit: not a second time.
    const problem = fragment === this.checkedFragment ? null : await this.checkLocally(fragment);
    if (problem)
      throw new ZoneDeployError(
        `zone ${this.zone.name}: the rendered fragment was refused by named-checkzone before deploy (nothing changed on the server):\n${problem}`,
      );
    const { z, f } = this.paths;
    // Records the fragment now holds that the operator's file also writes (adopted ones) leave that
    // file in the same deploy; the fragment is moved into place first, so a crash in between leaves
    // the record written twice (named merges exact duplicates), never missing.
    const moved = moveOutHandLines(this.zoneText, normalName(this.zone.name), parseFragmentRecords(fragment), f);
    const soa = findSoaSerial(moved)!;
    const ssh = await this.session();
    // The served serial and the fragment's upload at once, then both zone file uploads at once.
    const [served, fn] = await Promise.all([servedSerial(this.zone).catch(() => 0), ssh.uploadTemp(f, fragment)]);
    const serial = nextSerial(soa.serial, served);
    const zoneText = replaceSerial(moved, soa, serial);
    const [zn, zc] = await Promise.all([
      ssh.uploadTemp(z, zoneText),
      ssh.uploadTemp(z, redirectInclude(zoneText, f, fn)),
    ]);
    const script = `set -u
Z=${shq(z)}; F=${shq(f)}; ZN=${shq(zn)}; FN=${shq(fn)}; ZC=${shq(zc)}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
fail() { rm -f "$ZN" "$FN" "$ZC"; echo "$2" >&2; exit "$1"; }
echo ${shq(this.zoneSha)}"  $Z" | sha256sum -c --status - || fail 11 "$Z was changed by someone else since shipshape read it; nothing was deployed, run apply again"
cd "$(dirname "$Z")" || fail 15 "cannot enter the zone file's directory"
out=$(named-checkzone -k fail ${shq(this.zone.name)} "$ZC" 2>&1) || fail 10 "named-checkzone on the server refused the new zone (nothing deployed): $out"
[ -e "$Z" ] && { chmod --reference="$Z" "$ZN"; chown --reference="$Z" "$ZN" 2>/dev/null; }
[ -e "$F" ] && { chmod --reference="$F" "$FN"; chown --reference="$F" "$FN" 2>/dev/null; }
if [ -e "$F" ]; then cp -p "$F" "$F.shipshape-prev"; else : > "$F.shipshape-prev"; fi || fail 13 "cannot keep the previous fragment"
cp -p "$Z" "$Z.shipshape-prev" || fail 13 "cannot keep the previous zone file"
rm -f "$ZC"
mv -f "$FN" "$F" && mv -f "$ZN" "$Z" || { cp -p "$F.shipshape-prev" "$F"; cp -p "$Z.shipshape-prev" "$Z"; fail 14 "could not move the new files into place; the previous ones are back"; }
( ${this.reloadCommand()} ) || exit ${RELOAD_FAILED}
`;
    // One exec does check, move and reload (each exec costs a login shell on the server).
    this.reloads++;
    const reloadError = await ssh.exec(script, { label: `deploy of zone ${this.zone.name}`, timeoutMs: 120_000 }).then(
      () => null,
      (e: Error) => {
        if (e instanceof SshCommandError && e.code === RELOAD_FAILED) return e;
        throw e;
      },
    );
    const loaded = !reloadError && (await waitForSerial(this.zone, serial, this.deps.reloadTimeoutMs ?? 10_000));
    if (loaded) {
      this.zoneText = zoneText;
      this.zoneSha = createHash('sha256').update(zoneText).digest('hex');
      return;
    }
    if (reloadError && /dynamic zone/.test(reloadError.message)) {
      // named never loaded our files (it keeps a dynamic zone in memory and its journal): put the previous
      // ones back without a reload, which it would refuse the same way.
      await this.rollback(ssh, false);
      throw new ZoneDeployError(
        `zone ${this.zone.name}: named refused \`rndc reload\`: the zone is dynamic (allow-update or update-policy in named.conf), so named owns ${z} and its journal; the previous files were put back, nothing changed. Use backend rfc2136 for this zone, or make it static in named.conf`,
      );
    }
    const why = reloadError
      ? `the reload failed: ${reloadError.message.replace(/^.*exited 12:\n?/, '')}`
      : `the server did not serve the new serial ${serial} within ${(this.deps.reloadTimeoutMs ?? 10_000) / 1000} s (named refused the file or did not reload; see its log)`;
    await this.rollback(ssh);
    throw new ZoneDeployError(
      `zone ${this.zone.name}: ${why}; the previous zone file and fragment were put back and reloaded`,
    );
  }

  private reloadCommand(): string {
    return (this.zone.reloadCommand ?? '/usr/sbin/rndc reload {zone}').replace(/\{zone\}/g, shq(this.zone.name));
  }

  private async rollback(ssh: SshSession, reload = true): Promise<void> {
    const { z, f } = this.paths;
    const restore = `export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; Z=${shq(z)}; F=${shq(f)}
cp --preserve=mode,ownership "$F.shipshape-prev" "$F" && cp --preserve=mode,ownership "$Z.shipshape-prev" "$Z" && touch "$F" "$Z" || exit 1
${reload ? this.reloadCommand() : ''}`;
    try {
      this.reloads++;
      await ssh.exec(restore, { label: `restore and reload of zone ${this.zone.name}` });
    } catch (e) {
      const detail = e instanceof SshCommandError ? e.message : String(e);
      throw new ZoneDeployError(
        `zone ${this.zone.name}: deploy failed AND restoring the previous files failed: ${detail}. Fix ${z} and ${f} by hand (copies end in .shipshape-prev)`,
      );
    }
  }
}

/** Every record of a fragment we rendered. */
function parseFragmentRecords(fragment: string): DnsRecord[] {
  return [...parseFragment(fragment).values()].flat();
}
