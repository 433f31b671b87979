/**
 * Several sites in one repo: `sites/<name>.yaml`, each a full site config (the schema of shipshape.yaml),
 * with profiles, roles and the OS catalog shared. Which site a system belongs to, and the mistakes only
 * visible across sites: a net or DNS zone of another site, and one DNS name declared in two sites that
 * serve the same zone (each site would write it, and the last apply wins).
 */
import { suggest } from './ajv-messages';
import type { Diagnostics } from './diagnostics';
import { fileStart } from './diagnostics';
import type { LoadedProfile, LoadedSystem } from './expand';
import { profileChain } from './expand';
import type { ExpandedSystem } from './rules';
import type { SiteFacts } from './site-facts';
import { formatSource, type SourceRef } from './types';
import { locate } from './yaml-file';

/** One site file as read: its name (the file's base name), where it is, and the facts systems are checked against. */
export interface SiteFile {
  name: string;
  file: string;
  facts: SiteFacts;
}

/** What a system says about its site, nearest first: `spec.site`, a profile's `site`, the folder systems/<site>/. */
export function siteOf(
  sys: LoadedSystem,
  profiles: Map<string, LoadedProfile>,
  siteNames: Set<string>,
  diags: Diagnostics,
): string | undefined {
  const spec = sys.manifest.spec;
  const declared: { site: string; at: SourceRef } | undefined =
    spec.site !== undefined
      ? { site: spec.site, at: locate(sys.pf, ['spec', 'site']) }
      : profileChain(spec.profile, profiles)
          .chain.filter((p) => p.manifest.spec.site !== undefined)
          .map((p) => ({ site: p.manifest.spec.site!, at: locate(p.pf, ['spec', 'site']) }))[0];
  const parts = sys.pf.rel.split('/');
  const folder = parts.length > 2 && siteNames.has(parts[1]!) ? parts[1] : undefined;
  const name = sys.manifest.metadata.name;
  if (declared && !siteNames.has(declared.site)) {
    const hint = suggest(declared.site, [...siteNames]);
    diags.error(
      declared.at,
      `unknown site \`${declared.site}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}: sites are sites/<name>.yaml (${[...siteNames].join(', ')})`,
    );
    return undefined;
  }
  if (declared && folder && declared.site !== folder) {
    diags.error(
      declared.at,
      `system \`${name}\` lives in systems/${folder}/ but says site \`${declared.site}\`: move the file to systems/${declared.site}/ or drop the site`,
    );
    return undefined;
  }
  const site = declared?.site ?? folder;
  if (site === undefined)
    diags.error(
      locate(sys.pf, ['metadata', 'name']),
      `system \`${name}\` belongs to no site: set spec.site (one of ${[...siteNames].join(', ')}), use a profile that sets it, or put the file under systems/<site>/`,
    );
  return site;
}

/** The messages for a net or domain a system's own site lacks but another site has (rules.ts asks). */
export function elsewhere(own: SiteFile, all: SiteFile[]) {
  const others = all.filter((s) => s !== own);
  return {
    net(net: string, system: string): string | undefined {
      const o = others.find((s) => s.facts.netNames?.has(net));
      if (!o) return undefined;
      const mine = [...(own.facts.netNames ?? [])];
      return `net \`${net}\` belongs to site \`${o.name}\` (${o.file}), but system \`${system}\` is in site \`${own.name}\` (${own.file}): use a net of ${own.name}${mine.length ? ` (${mine.join(', ')})` : ''}, or move the system to site ${o.name}`;
    },
    zone(domain: string, system: string): string | undefined {
      const inZone = (s: SiteFile) => (s.facts.zoneNames ?? []).find((z) => domain === z || domain.endsWith(`.${z}`));
      const o = others.find(inZone);
      if (!o) return undefined;
      return `domain \`${domain}\` is in zone ${inZone(o)} of site \`${o.name}\` (${o.file}), but system \`${system}\` is in site \`${own.name}\`, which serves no zone for it: add the zone to ${own.file} or move the system to site ${o.name}`;
    },
  };
}

/**
 * One DNS name in two sites that both serve its zone: both sites would write the record. Names in
 * zones only one site serves may repeat (two datacentres may each have a `web-01.dc1.example.com`-style
 * name of their own zone, and the same short host name in different zones is fine).
 */
export function checkSharedDns(groups: Map<string, ExpandedSystem[]>, sites: SiteFile[], diags: Diagnostics): void {
  const zoneOf = (site: SiteFile, name: string) =>
    (site.facts.zoneNames ?? [])
      .filter((z) => name === z || name.endsWith(`.${z}`))
      .sort((a, b) => b.length - a.length)[0];
  const byName = new Map<string, { site: SiteFile; at: SourceRef; what: string }>();
  for (const site of sites) {
    for (const { desired: s } of groups.get(site.name) ?? []) {
      if (s.state !== 'present' || s.dns.domain === '') continue;
      const names: [string, SourceRef, string][] = [
        [`${s.name}.${s.dns.domain}`, s.sources.name ?? fileStart(s.file), `DNS name ${s.name}.${s.dns.domain}`],
        ...s.dns.aliases.map((a, i): [string, SourceRef, string] => [
          `${a}.${s.dns.domain}`,
          s.sources[`dns.aliases[${i}]`] ?? fileStart(s.file),
          `alias ${a}.${s.dns.domain}`,
        ]),
      ];
      for (const [fqdn, at, what] of names) {
        const first = byName.get(fqdn);
        if (!first) {
          byName.set(fqdn, { site, at, what: `${what} of \`${s.name}\`` });
          continue;
        }
        if (first.site === site) continue; // reported by the site's own rules
        const zone = zoneOf(site, fqdn);
        if (!zone || zoneOf(first.site, fqdn) !== zone) continue;
        diags.error(
          at,
          `${what} of \`${s.name}\` (site ${site.name}) clashes with ${first.what} (site ${first.site.name}, ${formatSource(first.at)}): both sites serve zone ${zone}, so both would write it; rename one of them`,
        );
      }
    }
  }
}
