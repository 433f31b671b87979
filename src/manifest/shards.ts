/**
 * Shards within a site: parts that separate workers reconcile at the same time (`--shard NAME`), each
 * with its own run lock. A shard owns its nets, DNS zones and DHCP servers; a system belongs to the
 * shard of its net. Two workers can only run side by side if they never write the same thing, so the
 * partition is checked here, each finding as file:line:col with what to do:
 *
 * - every net, zone and DHCP server of a sharded site is in exactly one shard (none in two, none left out);
 * - a DHCP server serves only nets of its own shard, and a net's domain and reverse zone are its shard's;
 * - a system's DNS zone is its net's shard's, and it depends (tier `dependsOn`, cross-references) only on
 *   systems of its own shard: separate workers cannot wait for each other;
 * - a tombstone names its net: the shard of that net carries it out.
 */
import type { Diagnostics } from './diagnostics';
import { fileStart } from './diagnostics';
import type { SiteConfig } from './site';
import { asList, asMap, type SiteFacts } from './site-facts';
import type { DesiredSystem, SourceRef } from './types';
import { locate, type ParsedFile } from './yaml-file';

type Owned = 'nets' | 'zones' | 'dhcpServers';
const WHAT: Record<Owned, string> = { nets: 'net', zones: 'DNS zone', dhcpServers: 'DHCP server' };

/** Which shard owns each net, zone and DHCP server, read from the site file as far as it is usable. */
export interface ShardFacts {
  names: string[];
  owner: Record<Owned, Map<string, string>>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The longest declared zone that `domain` is in (or is). */
export function zoneOf(domain: string, zones: readonly string[]): string | undefined {
  return zones.filter((z) => domain === z || domain.endsWith(`.${z}`)).sort((a, b) => b.length - a.length)[0];
}

/** Checks the site file's `shards:`; returns who owns what (undefined: the site declares no shards). */
export function checkShards(pf: ParsedFile, facts: SiteFacts, diags: Diagnostics): ShardFacts | undefined {
  const spec = asMap(asMap(pf.value)?.spec);
  const shards = asMap(spec?.shards);
  if (!spec || !shards) return undefined;
  const servers = asList(asMap(spec.dhcp)?.servers).map((s) => ({
    name: str(asMap(s)?.name),
    nets: asList(asMap(s)?.nets).filter((n): n is string => typeof n === 'string'),
  }));
  const declared: Record<Owned, string[]> = {
    nets: [...(facts.netNames ?? [])],
    zones: facts.zoneNames ?? [],
    dhcpServers: servers.map((s) => s.name).filter((n): n is string => n !== undefined),
  };
  const where: Record<Owned, string> = { nets: 'nets', zones: 'dns.zones', dhcpServers: 'dhcp.servers' };
  const owner: ShardFacts['owner'] = { nets: new Map(), zones: new Map(), dhcpServers: new Map() };
  const firstAt = new Map<string, SourceRef>();
  const names = Object.keys(shards);
  for (const shard of names) {
    const sh = asMap(shards[shard]);
    for (const kind of ['nets', 'zones', 'dhcpServers'] as const) {
      asList(sh?.[kind]).forEach((v, i) => {
        const name = str(v);
        if (name === undefined) return; // the schema says what is wrong with it
        const at = locate(pf, ['spec', 'shards', shard, kind, i]);
        if (!declared[kind].includes(name)) {
          diags.error(
            at,
            `shard \`${shard}\` names ${WHAT[kind]} \`${name}\`, which ${where[kind]} does not declare${declared[kind].length ? ` (declared: ${declared[kind].join(', ')})` : ''}: fix the name or declare it`,
          );
          return;
        }
        const other = owner[kind].get(name);
        if (other !== undefined) {
          const first = firstAt.get(`${kind}/${name}`)!;
          diags.error(
            at,
            `${WHAT[kind]} \`${name}\` is in shard \`${other}\` (${first.file}:${first.line}:${first.col}) and in shard \`${shard}\`: shards own disjoint ${WHAT[kind]}s (two workers would write it at the same time); remove it from one of them`,
          );
          return;
        }
        owner[kind].set(name, shard);
        firstAt.set(`${kind}/${name}`, at);
      });
    }
  }
  const shardsAt = locate(pf, ['spec', 'shards'], { key: true });
  for (const kind of ['nets', 'zones', 'dhcpServers'] as const)
    for (const name of declared[kind])
      if (!owner[kind].has(name))
        diags.error(
          shardsAt,
          `${WHAT[kind]} \`${name}\` is in no shard: on a site with shards every net, DNS zone and DHCP server belongs to exactly one; add it to the ${kind} of one of ${names.join(', ')}`,
        );
  // What a shard's worker writes must be its shard's: the DHCP servers of its nets, its nets' zones.
  servers.forEach((s, i) => {
    const mine = s.name !== undefined ? owner.dhcpServers.get(s.name) : undefined;
    if (mine === undefined) return;
    for (const net of s.nets) {
      const theirs = owner.nets.get(net);
      if (theirs !== undefined && theirs !== mine)
        diags.error(
          locate(pf, ['spec', 'dhcp', 'servers', i, 'nets', s.nets.indexOf(net)]),
          `DHCP server \`${s.name}\` is in shard \`${mine}\` but serves net \`${net}\` of shard \`${theirs}\`: a DHCP server belongs to the shard of the nets it serves; move the server or the net to one shard`,
        );
    }
  });
  for (const [net, n] of Object.entries(facts.nets)) {
    const mine = owner.nets.get(net);
    if (mine === undefined) continue;
    for (const key of ['domain', 'reverseZone'] as const) {
      const zone = n[key] !== undefined ? zoneOf(n[key], declared.zones) : undefined;
      const theirs = zone !== undefined ? owner.zones.get(zone) : undefined;
      if (theirs !== undefined && theirs !== mine)
        diags.error(
          locate(pf, ['spec', 'nets', net, key]),
          `net \`${net}\` is in shard \`${mine}\` but its ${key} is in zone ${zone} of shard \`${theirs}\`: a net's zones belong to its shard; move the zone or the net`,
        );
    }
  }
  return { names, owner };
}

/** The shard a system belongs to: its net's (undefined when the net is in none). */
export function shardOfSystem(s: DesiredSystem, shards: ShardFacts): string | undefined {
  return shards.owner.nets.get(s.network.net);
}

const src = (s: DesiredSystem, field: string): SourceRef => s.sources[field] ?? s.sources.name ?? fileStart(s.file);

/** A system's DNS zone in its own shard, and no dependency on a system of another shard. */
export function checkShardSystems(
  systems: DesiredSystem[],
  shards: ShardFacts,
  zones: readonly string[],
  diags: Diagnostics,
): void {
  const shardOf = new Map(systems.map((s) => [s.name, shardOfSystem(s, shards)]));
  for (const s of systems) {
    const mine = shardOf.get(s.name);
    // Without a net a tombstone is in no shard, so no shard's run would ever carry it out.
    if (s.state === 'absent' && s.network.net === '')
      diags.error(
        src(s, 'state'),
        `system \`${s.name}\` is declared absent but names no net: on a site with shards a tombstone's net says which shard's run deletes it; add \`network: { net: NAME }\` with the net it is in`,
      );
    if (mine === undefined || s.state !== 'present') continue;
    const zone = s.dns.domain !== '' ? zoneOf(s.dns.domain, zones) : undefined;
    const theirs = zone !== undefined ? shards.owner.zones.get(zone) : undefined;
    if (theirs !== undefined && theirs !== mine)
      diags.error(
        src(s, 'dns.domain'),
        `system \`${s.name}\` is in shard \`${mine}\` (net ${s.network.net}) but its domain ${s.dns.domain} is in zone ${zone} of shard \`${theirs}\`: use a domain of its shard's zones, or a net of shard ${theirs}`,
      );
    for (const dep of s.dependsOn ?? []) {
      const other = shardOf.get(dep);
      if (other !== undefined && other !== mine)
        diags.error(
          src(s, 'name'),
          `system \`${s.name}\` (shard \`${mine}\`) depends on \`${dep}\` (shard \`${other}\`): shards are reconciled by separate workers, which cannot wait for each other; put both systems' nets in one shard, or drop the dependency`,
        );
    }
  }
}

/** The site as one shard's worker sees it: only the shard's nets, DNS zones and DHCP servers. */
export function shardSite(site: SiteConfig, shard: string): SiteConfig {
  const own = site.shards?.[shard];
  if (!own) return site;
  return {
    ...site,
    nets: Object.fromEntries(Object.entries(site.nets).filter(([n]) => own.nets.includes(n))),
    dns: { ...site.dns, zones: site.dns.zones.filter((z) => own.zones.includes(z.name)) },
    dhcp: { ...site.dhcp, servers: site.dhcp.servers.filter((d) => own.dhcpServers.includes(d.name)) },
  };
}
