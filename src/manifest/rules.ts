/**
 * Cross-file rules over the expanded systems. Every rule runs over every system and reports every
 * violation: one validate run shows all problems.
 */
import type { ValidateFunction } from 'ajv';
import { suggest } from './ajv-messages';
import { reportAjvErrors } from './ajv-messages';
import type { OsEntry, RoleDef } from './catalog';
import { fileStart } from './diagnostics';
import type { Diagnostics } from './diagnostics';
import { cidrContains, ipToInt, parseCidr } from '../net/ipv4';
import type { SiteFacts } from './site-facts';
import { TAG } from './refs';
import { formatSource } from './types';
import type { DesiredSystem, SourceRef } from './types';
import { derivedMac, normalizeMac } from './mac';
import { locate } from './yaml-file';
import type { ParsedFile, PathSeg } from './yaml-file';

export interface ExpandedSystem {
  desired: DesiredSystem;
  /** The file and YAML path the roles list came from (system or a profile), for locating param errors. */
  rolesOrigin?: { pf: ParsedFile; yamlPath: PathSeg[] };
  /** False when a profile in the system's chain is unknown, invalid or in a cycle. */
  chainComplete: boolean;
}

/**
 * What the uniqueness rules need of a system: an expanded one, or what a system file that does not
 * fit its schema still says plainly (`identOf`), so a clash is reported in the same run as the
 * file's own errors and not only after they are fixed.
 */
export type Ident = Pick<DesiredSystem, 'name' | 'state' | 'file' | 'sources'> & {
  network: { ip: string; mac: string };
  /** An invalid file's own plain references (profile, OS, net, roles), each with where it is written. */
  refs?: { kind: 'profile' | 'OS' | 'net' | 'role'; name: string; at: SourceRef }[];
};

/**
 * The name, explicit address and MAC a system file states, and its profile, OS, net and role names,
 * where they are plain and well formed (the file's schema errors are reported on their own).
 */
export function identOf(pf: ParsedFile): Ident | undefined {
  const doc = asRecord(pf.value);
  const name = asRecord(doc?.metadata)?.name;
  const spec = asRecord(doc?.spec);
  if (typeof name !== 'string' || !HOSTNAME.test(name)) return undefined;
  const network = asRecord(spec?.network);
  const ip = typeof network?.ip === 'string' && ipToInt(network.ip) !== null ? network.ip : 'auto';
  const explicitMac = typeof network?.mac === 'string' && MAC.test(network.mac) ? network.mac : undefined;
  const sources: Record<string, SourceRef> = { name: locate(pf, ['metadata', 'name']) };
  if (ip !== 'auto') sources['network.ip'] = locate(pf, ['spec', 'network', 'ip']);
  sources['network.mac'] = explicitMac ? locate(pf, ['spec', 'network', 'mac']) : sources.name;
  const refs: NonNullable<Ident['refs']> = [];
  const ref = (kind: NonNullable<Ident['refs']>[number]['kind'], v: unknown, at: PathSeg[]) => {
    if (typeof v === 'string' && v !== '') refs.push({ kind, name: v, at: locate(pf, at) });
  };
  ref('profile', spec?.profile, ['spec', 'profile']);
  ref('OS', spec?.os, ['spec', 'os']);
  ref('net', network?.net, ['spec', 'network', 'net']);
  if (Array.isArray(spec?.roles))
    spec.roles.forEach((r: unknown, i) => {
      const raw = typeof r === 'string' ? r : asRecord(r)?.name;
      if (typeof raw === 'string') ref('role', raw.split('@')[0], ['spec', 'roles', i]);
    });
  return {
    name,
    state: spec?.state === 'absent' ? 'absent' : 'present',
    file: pf.rel,
    sources,
    network: { ip, mac: explicitMac ? normalizeMac(explicitMac) : derivedMac(name) },
    refs,
  };
}

/** An invalid system file's references that name nothing the repo declares (or a file with errors of its own). */
function checkInvalidReferences(ctx: RuleContext, id: Ident, diags: Diagnostics): void {
  for (const r of id.refs ?? []) {
    const [known, broken, where] =
      r.kind === 'profile'
        ? [ctx.profileNames, ctx.broken.profiles, 'declare it in profiles/']
        : r.kind === 'OS'
          ? [new Set(Object.keys(ctx.os)), ctx.broken.os, `add os/${r.name}/os.yaml or use a catalog entry`]
          : r.kind === 'role'
            ? [new Set(Object.keys(ctx.roles)), ctx.broken.roles, `add roles/${r.name}/role.yaml`]
            : [ctx.facts.netNames, new Set<string>(), 'declare it under nets: in shipshape.yaml'];
    if (!known || known.has(r.name) || broken.has(r.name) || diags.hasErrorAt(r.at)) continue;
    diags.error(
      r.at,
      (r.kind === 'net' ? ctx.elsewhere?.net(r.name, id.name) : undefined) ?? unknownRef(r.kind, r.name, known, where),
    );
  }
}

const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAC = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;
const asRecord = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

export interface RuleContext {
  systems: ExpandedSystem[];
  /** System files that do not fit their schema: only their name, address, MAC and plain references take part (`identOf`). */
  invalid?: Ident[];
  /** What shipshape.yaml declares (read even from an invalid site, as far as it is usable). */
  facts: SiteFacts;
  os: Record<string, OsEntry>;
  roles: Record<string, RoleDef>;
  /** Compiled params schemas per role (roles whose schema does not compile are absent). */
  roleParams: Map<string, ValidateFunction>;
  profileNames: Set<string>;
  /** The profile a (loaded) profile extends, to name the broken link of a chain. */
  profileParent?: (name: string) => string | undefined;
  /** Names whose files exist but failed to load (their own errors say why), per kind. */
  broken: { profiles: Set<string>; os: Set<string>; roles: Set<string> };
  /** Repos with several sites: the message for a net or domain that another site has (sites.ts). */
  elsewhere?: {
    net(net: string, system: string): string | undefined;
    zone(domain: string, system: string): string | undefined;
  };
}

function src(s: Pick<DesiredSystem, 'sources' | 'file'>, field: string): SourceRef {
  return s.sources[field] ?? s.sources.name ?? fileStart(s.file);
}

function unknownRef(kind: string, name: string, known: Iterable<string>, where: string): string {
  const list = [...known];
  const hint = suggest(name, list);
  return `unknown ${kind} \`${name}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}: ${where}`;
}

/**
 * Reports each later occurrence of a key, pointing back at the first. Where and what are worked out
 * only for a clash: at thousands of systems, building every sentence up front was most of the rule's cost.
 */
function uniqueBy<T>(
  items: Iterable<T>,
  key: (it: T) => string,
  describe: (it: T) => { at: SourceRef; what: string },
  diags: Diagnostics,
  hint = '',
): void {
  const first = new Map<string, T>();
  for (const it of items) {
    const k = key(it);
    const f = first.get(k);
    if (f === undefined) {
      first.set(k, it);
      continue;
    }
    const [a, b] = [describe(it), describe(f)];
    diags.error(a.at, `${a.what} clashes with ${b.what} (${formatSource(b.at)})${hint}`);
  }
}

/** Which link of a profile's `extends` chain breaks it, in words (the profile rules report it at the link). */
function brokenLink(ctx: RuleContext, start: string): string {
  const seen: string[] = [];
  for (let name = start; ;) {
    seen.push(name);
    const parent = ctx.profileParent?.(name);
    if (parent === undefined) break;
    if (seen.includes(parent))
      return `it is in the inheritance cycle ${[...seen.slice(seen.indexOf(parent)), parent].join(' → ')} (see profiles/)`;
    if (!ctx.profileNames.has(parent))
      return ctx.broken.profiles.has(parent)
        ? `\`${name}\` extends \`${parent}\`, which has errors (see its file in profiles/)`
        : `\`${name}\` extends \`${parent}\`, which no file in profiles/ declares`;
    name = parent;
  }
  return 'a profile it extends is unknown, has errors or is part of a cycle (see profiles/)';
}

function checkReferences(ctx: RuleContext, e: ExpandedSystem, diags: Diagnostics): void {
  const s = e.desired;
  if (s.profile !== undefined && ctx.broken.profiles.has(s.profile) && !ctx.profileNames.has(s.profile)) {
    diags.error(
      src(s, 'profile'),
      `profile \`${s.profile}\` has errors (see its file in profiles/): the system cannot be expanded until they are fixed`,
      { cause: `profile:${s.profile}`, system: s.name },
    );
  } else if (s.profile !== undefined && !ctx.profileNames.has(s.profile)) {
    diags.error(src(s, 'profile'), unknownRef('profile', s.profile, ctx.profileNames, 'declare it in profiles/'));
  } else if (s.profile !== undefined && !e.chainComplete) {
    diags.error(src(s, 'profile'), `profile \`${s.profile}\` cannot be expanded: ${brokenLink(ctx, s.profile)}`, {
      cause: `profile:${s.profile}`,
      system: s.name,
    });
  }
  if (s.os !== '' && !Object.hasOwn(ctx.os, s.os) && ctx.broken.os.has(s.os)) {
    diags.error(src(s, 'os'), `OS \`${s.os}\` has errors (see os/${s.os}/os.yaml): fix them first`, {
      cause: `os:${s.os}`,
      system: s.name,
    });
  } else if (s.os !== '' && !Object.hasOwn(ctx.os, s.os)) {
    diags.error(
      src(s, 'os'),
      unknownRef('OS', s.os, Object.keys(ctx.os), `add os/${s.os}/os.yaml or use a catalog entry`),
    );
  } else if (s.os !== '' && s.state === 'present' && ctx.facts.templates && !Object.hasOwn(ctx.facts.templates, s.os)) {
    diags.error(
      src(s, 'os'),
      `OS \`${s.os}\` has no VM template: add it to ${ctx.facts.templatesPath ?? 'vms.templates'} in shipshape.yaml`,
    );
  }
  s.roles.forEach((r, i) => {
    if (Object.hasOwn(ctx.roles, r.name)) return;
    if (ctx.broken.roles.has(r.name))
      diags.error(
        src(s, `roles[${i}]`),
        `role \`${r.name}\` has errors (see roles/${r.name}/role.yaml): fix them first`,
        { cause: `role:${r.name}`, system: s.name },
      );
    else
      diags.error(
        src(s, `roles[${i}]`),
        unknownRef('role', r.name, Object.keys(ctx.roles), `add roles/${r.name}/role.yaml`),
      );
  });
  const nets = ctx.facts.netNames;
  if (nets && s.network.net !== '' && !nets.has(s.network.net)) {
    diags.error(
      src(s, 'network.net'),
      ctx.elsewhere?.net(s.network.net, s.name) ??
        unknownRef('net', s.network.net, nets, 'declare it under nets: in shipshape.yaml'),
    );
  }
}

function checkAddress(ctx: RuleContext, s: DesiredSystem, diags: Diagnostics): void {
  const net = Object.hasOwn(ctx.facts.nets, s.network.net) ? ctx.facts.nets[s.network.net] : undefined;
  const ip = ipToInt(s.network.ip);
  if (!net || ip === null) return;
  const c = parseCidr(net.cidr);
  if (!c) return;
  const at = src(s, 'network.ip');
  if (!cidrContains(c, ip)) diags.error(at, `ip ${s.network.ip} is outside net \`${net.title}\` (${net.cidr})`);
  else if (ip === c.network)
    diags.error(at, `ip ${s.network.ip} is the network address of ${net.cidr}, not a host address`);
  else if (ip === c.broadcast)
    diags.error(at, `ip ${s.network.ip} is the broadcast address of ${net.cidr}, not a host address`);
  else if (s.network.ip === net.gateway) diags.error(at, `ip ${s.network.ip} is the gateway of net \`${net.title}\``);
  else if ((Object.hasOwn(ctx.facts.reserved, net.title) ? ctx.facts.reserved[net.title] : []).includes(s.network.ip)) {
    diags.error(
      at,
      `ip ${s.network.ip} is reserved in net \`${net.title}\` (nets.${net.title}.reserved in shipshape.yaml)`,
    );
  }
}

function checkDomain(ctx: RuleContext, s: DesiredSystem, diags: Diagnostics): void {
  const zones = ctx.facts.zoneNames ?? [];
  if (s.dns.domain === '') return;
  const covered = zones.length === 0 || zones.some((z) => s.dns.domain === z || s.dns.domain.endsWith(`.${z}`));
  if (!covered)
    diags.error(
      src(s, 'dns.domain'),
      ctx.elsewhere?.zone(s.dns.domain, s.name) ??
        `domain \`${s.dns.domain}\` is in no DNS zone of shipshape.yaml (dns.zones): add the zone or fix the domain`,
    );
  const fqdn = `${s.name}.${s.dns.domain}`;
  if (fqdn.length > 253)
    diags.error(src(s, 'dns.domain'), `${fqdn} is ${fqdn.length} characters long; a DNS name may have at most 253`);
}

const REFERENCE = new RegExp(TAG.source);
const holdsReference = (v: unknown) => typeof v === 'string' && REFERENCE.test(v);

function checkRoleParams(ctx: RuleContext, e: ExpandedSystem, diags: Diagnostics): void {
  e.desired.roles.forEach((r, i) => {
    const validate = ctx.roleParams.get(r.name);
    if (!validate || !e.rolesOrigin || validate(r.params)) return;
    // A cross-reference (`{{ systems.db-01.ip }}`) stands for a value known at apply time: its format, pattern,
    // length or enum is checked on the resolved value (src/providers/specialise/role-model.ts). Its type is
    // checked here: a reference always resolves to a string.
    const errors = (validate.errors ?? []).filter((err) => err.keyword === 'type' || !holdsReference(err.data));
    if (!errors.length) return;
    const { pf, yamlPath } = e.rolesOrigin;
    const prefix = `role ${r.name} params`;
    const before = diags.list.length;
    reportAjvErrors(errors, pf, [...yamlPath, i, 'params'], diags, `roles[${i}].params`);
    for (const d of diags.list.slice(before)) d.message = `${prefix}: ${d.message}`;
  });
}

export function checkSystems(ctx: RuleContext, diags: Diagnostics): void {
  // A duplicated name is reported once; its equal derived MAC and DNS name would only repeat it.
  const seen = new Set<string>();
  const idents: Ident[] = [...ctx.systems.map((e) => e.desired), ...(ctx.invalid ?? [])];
  const unique = idents.filter((s) => s.state === 'present' && !seen.has(s.name) && seen.add(s.name));
  const first = new Set(unique);
  const present = ctx.systems.map((e) => e.desired).filter((s) => first.has(s));
  uniqueBy(
    idents,
    (s) => s.name,
    (s) => ({ at: src(s, 'name'), what: `system \`${s.name}\`` }),
    diags,
  );
  uniqueBy(
    unique.filter((s) => s.network.ip !== 'auto'),
    (s) => s.network.ip,
    (s) => ({ at: src(s, 'network.ip'), what: `ip ${s.network.ip} of \`${s.name}\`` }),
    diags,
  );
  uniqueBy(
    unique,
    (s) => s.network.mac,
    (s) => ({
      at: src(s, 'network.mac'),
      what: `${s.sources['network.mac'] === s.sources.name ? 'derived MAC' : 'MAC'} ${s.network.mac} of \`${s.name}\``,
    }),
    diags,
    ': set spec.network.mac to a free address on one of them',
  );
  // DNS names: each system's own name, then every alias (in that order, so a clash names the alias).
  const names: { key: string; s: DesiredSystem; alias?: number }[] = [];
  for (const s of present) if (s.dns.domain) names.push({ key: `${s.name}.${s.dns.domain}`, s });
  // An alias with a dot is a full name (as the DNS step writes it); a bare one lies in the system's domain,
  // so without a domain (reported elsewhere) it has no name to clash with.
  const aliasFqdn = (a: string, domain: string) => (a.includes('.') ? a : domain ? `${a}.${domain}` : undefined);
  for (const s of present)
    s.dns.aliases.forEach((a, i) => {
      const key = aliasFqdn(a, s.dns.domain);
      if (key !== undefined) names.push({ key, s, alias: i });
    });
  uniqueBy(
    names,
    (n) => n.key,
    ({ s, alias }) =>
      alias === undefined
        ? { at: src(s, 'name'), what: `DNS name ${s.name}.${s.dns.domain}` }
        : {
            at: src(s, `dns.aliases[${alias}]`),
            what: `alias ${aliasFqdn(s.dns.aliases[alias]!, s.dns.domain)} of \`${s.name}\``,
          },
    diags,
  );
  for (const id of ctx.invalid ?? []) checkInvalidReferences(ctx, id, diags);
  for (const e of ctx.systems) {
    checkReferences(ctx, e, diags);
    if (e.desired.state !== 'present') continue;
    checkAddress(ctx, e.desired, diags);
    checkDomain(ctx, e.desired, diags);
    checkRoleParams(ctx, e, diags);
  }
}
