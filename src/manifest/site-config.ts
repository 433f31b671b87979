/** shipshape.yaml (validated raw form) → SiteConfig, and the site's own consistency rules. */
import { displayPath } from './ajv-messages';
import type { Diagnostics } from './diagnostics';
import { cidrContains, intToIp, ipToInt, parseCidr } from '../net/ipv4';
import { BACKENDS, backendFor } from '../providers/backends';
import type { BackendKind } from '../providers/plugin';
import type { SiteManifest } from './raw';
import { secretPolicy } from './secrets';
import { stepConcurrency } from './concurrency';
import { asList, asMap } from './site-facts';
import type { SiteFacts } from './site-facts';
import type { BackendSection, DhcpServerSection, NetSite, SiteConfig, ZoneSection } from './site';
import type { SourceRef } from './types';
import { locate } from './yaml-file';
import type { ParsedFile, PathSeg } from './yaml-file';

/** A backend section as validated → its backend's config (defaults applied), keeping `backend`. */
function section<K extends BackendKind>(kind: K, raw: BackendSection): BackendSection {
  return { ...(backendFor(kind, raw.backend).config(raw) as object), backend: raw.backend };
}

export function buildSite(root: string, m: SiteManifest, file?: string): SiteConfig {
  const s = m.spec;
  const nets: Record<string, NetSite> = {};
  for (const [title, n] of Object.entries(s.nets)) {
    const net: NetSite = {
      title,
      cidr: n.cidr,
      dnsServers: [...(n.dnsServers ?? [])],
      reserved: [...(n.reserved ?? [])],
    };
    if (n.gateway !== undefined) net.gateway = n.gateway;
    if (n.domain !== undefined) net.domain = n.domain;
    if (n.reverseZone !== undefined) net.reverseZone = n.reverseZone;
    nets[title] = net;
  }
  const site: SiteConfig = {
    root,
    ...(file ? { file } : {}),
    lab: s.lab ?? false,
    secrets: secretPolicy(s.secrets),
    nets,
    dns: { zones: (s.dns?.zones ?? []).map((z) => section('dns', z) as ZoneSection) },
    dhcp: { servers: (s.dhcp?.servers ?? []).map((d) => section('dhcp', d) as DhcpServerSection) },
    defaults: {
      concurrency: s.defaults?.concurrency ?? 4,
      maxDeletes: s.defaults?.maxDeletes ?? 3,
      stepConcurrency: stepConcurrency(s.defaults),
    },
  };
  if (s.vms) site.vms = section('vms', s.vms);
  if (s.ipam) site.ipam = section('ipam', s.ipam);
  if (s.cmdb) site.cmdb = section('cmdb', s.cmdb);
  if (s.shards)
    site.shards = Object.fromEntries(
      Object.entries(s.shards).map(([name, sh]) => [
        name,
        { nets: [...sh.nets], zones: [...(sh.zones ?? [])], dhcpServers: [...(sh.dhcpServers ?? [])] },
      ]),
    );
  if (s.ownership) site.ownership = { siteId: s.ownership.siteId, key: { ref: s.ownership.key } };
  if (s.provisioning) {
    const p = s.provisioning;
    site.provisioning = {
      listen: p.listen,
      baseUrl: p.baseUrl,
      mirrors: { ...(p.mirrors ?? {}) },
      localMirrors: { ...(p.localMirrors ?? {}) },
      timezone: p.timezone ?? 'Etc/UTC',
      installTimeoutMinutes: p.installTimeoutMinutes ?? 60,
      failedLogMaxKiB: p.failedLogMaxKiB ?? 256,
      hostKeyFrom: p.hostKeyFrom ?? 'guestinfo',
    };
    if (p.tls) site.provisioning.tls = { certFile: p.tls.certFile, keyFile: p.tls.keyFile };
    if (p.rootPasswordHash !== undefined) site.provisioning.rootPasswordHash = { ref: p.rootPasswordHash };
    if (p.sshPublicKeyFile !== undefined) site.provisioning.sshPublicKeyFile = p.sshPublicKeyFile;
  }
  if (s.specialise) {
    const sp = s.specialise;
    site.specialise = {
      user: sp.user,
      port: sp.port ?? 22,
      privateKey: { ref: sp.privateKey },
      connectTimeoutSeconds: sp.connectTimeoutSeconds ?? 10,
      commandTimeoutSeconds: sp.commandTimeoutSeconds ?? 600,
    };
    if (sp.knownHosts !== undefined) site.specialise.knownHosts = sp.knownHosts;
    if (sp.rootPrefix !== undefined) site.specialise.rootPrefix = sp.rootPrefix;
  }
  return site;
}

/**
 * Cross-checks inside shipshape.yaml. Runs on the raw value even when the schema failed (every access is
 * guarded), so a typo in one place does not hide an inconsistency elsewhere.
 */
export function checkSite(pf: ParsedFile, facts: SiteFacts, osNames: Set<string>, diags: Diagnostics): void {
  const spec = asMap(asMap(pf.value)?.spec) ?? {};
  const at = (...p: PathSeg[]): SourceRef => locate(pf, ['spec', ...p]);
  for (const [title, n] of Object.entries(facts.nets)) {
    const c = parseCidr(n.cidr);
    if (!c) continue;
    if (c.hostBitsSet)
      diags.error(
        at('nets', title, 'cidr'),
        `net \`${title}\`: ${n.cidr} has host bits set (did you mean ${intToIp(c.network)}/${c.prefix}?)`,
      );
    const g = n.gateway === undefined ? null : ipToInt(n.gateway);
    if (g !== null && (!cidrContains(c, g) || g === c.network || g === c.broadcast)) {
      diags.error(
        at('nets', title, 'gateway'),
        `net \`${title}\`: gateway ${n.gateway} is not a host address inside ${n.cidr}`,
      );
    }
    (Object.hasOwn(facts.reserved, title) ? facts.reserved[title] : []).forEach((ip, i) => {
      const v = ipToInt(ip);
      if (v !== null && !cidrContains(c, v))
        diags.error(at('nets', title, 'reserved', i), `reserved address ${ip} is outside net \`${title}\` (${n.cidr})`);
    });
  }
  const known = facts.netNames;
  const zones = asList(asMap(spec.dns)?.zones);
  const servers = asList(asMap(spec.dhcp)?.servers);
  const sshChecks: [Record<string, unknown>, PathSeg[]][] = [];
  zones.forEach((z, i) => {
    const e = asMap(asMap(z)?.ssh);
    if (e) sshChecks.push([e, ['dns', 'zones', i, 'ssh']]);
  });
  servers.forEach((d, i) => {
    const e = asMap(asMap(d)?.ssh);
    if (e) sshChecks.push([e, ['dhcp', 'servers', i, 'ssh']]);
  });
  for (const [e, p] of sshChecks) {
    const n = (e.hostKeyFingerprint !== undefined ? 1 : 0) + (e.knownHosts !== undefined ? 1 : 0);
    if (n !== 1) {
      diags.error(
        locate(pf, ['spec', ...p], { key: true }),
        `${displayPath(['spec', ...p])} needs exactly one of hostKeyFingerprint or knownHosts (the SSH host key is always verified)`,
      );
    }
  }
  // i-doit's API key (and the user's password) travel with every request: only over TLS, except on a lab site.
  for (const sec of ['ipam', 'cmdb'] as const) {
    const b = asMap(spec[sec]);
    if (b?.backend === 'idoit' && typeof b.url === 'string' && /^http:/i.test(b.url) && spec.lab !== true) {
      diags.error(
        at(sec, 'url'),
        `${sec}.url is plain http: the i-doit API key would cross the network in clear text. Use https:// (with ${sec}.tls.caFile or ${sec}.tls.thumbprint for a private CA or a self-signed certificate); only a lab site (lab: true) may use http`,
      );
    }
  }
  const sp = asMap(spec.specialise);
  if (sp?.rootPrefix !== undefined && spec.lab !== true) {
    diags.error(
      at('specialise', 'rootPrefix'),
      'specialise.rootPrefix is for labs and tests only (several test hosts on one machine); a real site sets no prefix, or sets lab: true',
    );
  }
  dupes(
    zones.map((z) => asMap(z)?.name),
    (i) => at('dns', 'zones', i, 'name'),
    'DNS zone',
    diags,
  );
  dupes(
    servers.map((d) => asMap(d)?.name),
    (i) => at('dhcp', 'servers', i, 'name'),
    'DHCP server',
    diags,
  );
  servers.forEach((d, i) =>
    asList(asMap(d)?.nets).forEach((net, j) => {
      if (typeof net === 'string' && known && !known.has(net)) {
        diags.error(
          at('dhcp', 'servers', i, 'nets', j),
          `DHCP server \`${String(asMap(d)?.name)}\` serves net \`${net}\`, which is not declared in spec.nets`,
        );
      }
    }),
  );
  for (const [field, sub] of [
    ['provisioning', 'mirrors'],
    ['provisioning', 'localMirrors'],
  ] as const) {
    for (const os of Object.keys(asMap(asMap(spec[field])?.[sub]) ?? {})) {
      if (!osNames.has(os))
        diags.error(
          locate(pf, ['spec', field, sub, os], { key: true }),
          `${field}.${sub} names OS \`${os}\`, which has no os/${os}/os.yaml`,
        );
    }
  }
  const sections: [BackendKind, unknown, PathSeg[]][] = [
    ['vms', spec.vms, ['vms']],
    ['ipam', spec.ipam, ['ipam']],
    ['cmdb', spec.cmdb, ['cmdb']],
    ...zones.map((z, i): [BackendKind, unknown, PathSeg[]] => ['dns', z, ['dns', 'zones', i]]),
    ...servers.map((d, i): [BackendKind, unknown, PathSeg[]] => ['dhcp', d, ['dhcp', 'servers', i]]),
  ];
  for (const [kind, raw, p] of sections) {
    const sec = asMap(raw);
    const b = BACKENDS.find((x) => x.kind === kind && x.id === sec?.backend);
    if (!sec || !b) continue; // an unknown backend is a schema error
    if (b.labOnly && spec.lab !== true) {
      diags.error(
        at(...p, 'backend'),
        `backend \`${b.id}\` is a lab stand-in: only a site with \`lab: true\` may use it`,
      );
    }
    for (const [key, what] of Object.entries(b.labOnlyKeys ?? {})) {
      if (sec[key] !== undefined && spec.lab !== true)
        diags.error(at(...p, key), `${displayPath([...p, key])} ${what}: remove it, or set lab: true`);
    }
    for (const key of b.osKeys ?? []) {
      for (const os of Object.keys(asMap(sec[key]) ?? {})) {
        if (!osNames.has(os))
          diags.error(
            locate(pf, ['spec', ...p, key, os], { key: true }),
            `${displayPath([...p, key])} names OS \`${os}\`, which has no os/${os}/os.yaml`,
          );
      }
    }
  }
}

function dupes(names: unknown[], at: (i: number) => SourceRef, what: string, diags: Diagnostics): void {
  const first = new Map<string, number>();
  names.forEach((n, i) => {
    if (typeof n !== 'string') return;
    const f = first.get(n);
    if (f === undefined) first.set(n, i);
    else diags.error(at(i), `${what} \`${n}\` is declared twice (first at line ${at(f).line})`);
  });
}
