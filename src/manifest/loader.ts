/**
 * loadRepo: read every manifest of a repo, validate, expand profiles and check cross-file rules.
 * Never throws and never stops at the first problem: the result carries every diagnostic.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type { ValidateFunction } from 'ajv';
import { displayPath, pointerToPath } from './ajv-messages';
import { STEP_ACTIONS, type OsEntry, type RoleDef } from './catalog';
import { Diagnostics, fileStart } from './diagnostics';
import type { Diagnostic } from './diagnostics';
import { expandSystem } from './expand';
import type { LoadedSystem } from './expand';
import { isYamlName, mapLimit, readManifestText, walk } from './files';
import type { CachedParse, ManifestCache } from './cache';
import { checkRoleArtefacts } from './role-artefacts';

const READ_CONCURRENCY = 16;
import { indexProfiles } from './profiles';
import { applyEnvironments } from './environments';
import type {
  EnvironmentManifest,
  OsManifest,
  ProfileManifest,
  RoleManifest,
  SiteManifest,
  SystemManifest,
} from './raw';
import { checkSystems, identOf, type ExpandedSystem, type Ident } from './rules';
import { checkShards, checkShardSystems, shardOfSystem, shardSite, type ShardFacts } from './shards';
import { checkSharedDns, elsewhere, siteOf } from './sites';
import { compileOperatorSchema, operatorSchemaErrors, validateAgainstSchema } from './schemas';
import type { ManifestKind } from './schemas';
import { checkSecretRefs } from './secrets';
import { buildSite, checkSite } from './site-config';
import { asMap, dict, siteFacts } from './site-facts';
import type { SiteConfig } from './site';
import type { DesiredSystem } from './types';
import { locate, parseManifest } from './yaml-file';
import type { ParsedFile, PathSeg } from './yaml-file';

/** One site of a repo with sites/: its config (when valid) and its systems. */
export interface SiteSlice {
  name: string;
  /** `sites/<name>.yaml`. */
  file: string;
  site?: SiteConfig;
  systems: DesiredSystem[];
}

export interface LoadOptions {
  /** Repos with sites/: the site whose config and systems become `site` and `systems`. */
  site?: string;
  /** A shard of that site (shards.ts): `site` and `systems` become the shard's only. */
  shard?: string;
  /** Reuse what an earlier load with this cache read from files unchanged since (cache.ts; `serve`). */
  cache?: ManifestCache;
}

export interface LoadResult {
  /** False when any diagnostic is an error. */
  ok: boolean;
  /**
   * The site config: shipshape.yaml, or in a repo with sites/ the one named by `LoadOptions.site`
   * (then `systems` are that site's only). Validation always covers the whole repo.
   */
  site?: SiteConfig;
  /** Repos with sites/: every site, sorted by name. Absent for a repo with one shipshape.yaml. */
  sites?: SiteSlice[];
  /** Expanded systems sorted by name (tombstones included, state `absent`). */
  systems: DesiredSystem[];
  diagnostics: Diagnostic[];
  os: Record<string, OsEntry>;
  roles: Record<string, RoleDef>;
  /**
   * With `LoadOptions.shard`: its name, and the site's systems of its other shards (declared, so their
   * resources are never reported as orphans by this shard's run).
   */
  shard?: {
    name: string;
    others: string[];
    /** Each of `others` → its shard (the one to run first where it holds an address this shard wants). */
    shardOf: Record<string, string>;
    /** `others` as declared: what one of them left in this shard's zones and DHCP servers is this run's to remove. */
    elsewhere: DesiredSystem[];
  };
}

interface Loaded<T> {
  pf: ParsedFile;
  manifest: T;
}

class RepoReader {
  /** Files that exist but failed to load (unreadable, unparsable, invalid or misnamed). */
  readonly failed = new Set<string>();
  /** Of those, the files that parsed (invalid or misnamed): what they say plainly still takes part in cross-file rules. */
  readonly invalid = new Map<string, ParsedFile>();

  constructor(
    readonly root: string,
    readonly realRoot: string,
    readonly diags: Diagnostics,
    readonly cache?: ManifestCache,
  ) {}

  /** Reads and parses a file, then checks it against its schema; the parsed file is kept even when invalid. */
  async parse(rel: string, kind: ManifestKind): Promise<CachedParse | undefined> {
    const abs = path.join(this.root, rel);
    if (!this.cache) return this.read(abs, rel, kind, this.diags);
    const stamp = this.cache.stamp(abs);
    const hit = this.cache.get(abs, kind, stamp);
    const own = new Diagnostics(); // this file's own diagnostics, kept with it
    const diagnostics = hit?.diagnostics ?? own.list;
    const parsed = hit ? hit.parsed : await this.read(abs, rel, kind, own);
    if (!hit && stamp !== undefined) this.cache.set(abs, rel, { stamp, kind, parsed, diagnostics });
    this.diags.list.push(...diagnostics);
    return parsed;
  }

  private async read(
    abs: string,
    rel: string,
    kind: ManifestKind,
    diags: Diagnostics,
  ): Promise<CachedParse | undefined> {
    const text = await readManifestText(this.realRoot, abs, rel, diags);
    if (text === undefined) return undefined;
    const pf = parseManifest(rel, text, diags);
    return pf ? { pf, valid: validateAgainstSchema(kind, pf, diags) } : undefined;
  }

  /**
   * A file that parsed and fits its schema, with its name where its location says (`expected`). The
   * name is checked on an invalid file too, so one run reports both instead of the name after the fix.
   */
  async load<T>(rel: string, kind: ManifestKind, expected: string, what: string): Promise<Loaded<T> | undefined> {
    const p = await this.parse(rel, kind);
    if (p && this.nameMatches(p.pf, expected, what) && p.valid) return { pf: p.pf, manifest: p.pf.value as T };
    this.failed.add(rel);
    if (p) this.invalid.set(rel, p.pf);
    return undefined;
  }

  async exists(rel: string): Promise<boolean> {
    return fs.lstat(path.join(this.root, rel)).then(
      () => true,
      () => false,
    );
  }

  /**
   * The manifest's own name must match where it lives, so a name always leads to its file. A name
   * that is not a string is the schema's to report (as is one the schema already reported).
   */
  private nameMatches(pf: ParsedFile, expected: string, what: string): boolean {
    const name = asMap(asMap(pf.value)?.metadata)?.name;
    if (typeof name !== 'string' || name === expected) return true;
    const at = locate(pf, ['metadata', 'name']);
    const said = this.diags.hasErrorAt(at);
    if (!said)
      this.diags.error(
        at,
        `${what} name \`${name}\` does not match its location: expected \`${expected}\` (${pf.rel}); rename the file or fix the name`,
      );
    return false;
  }
}

interface SiteRead {
  name: string;
  file: string;
  parsed?: { pf: ParsedFile; valid: boolean };
}

/**
 * shipshape.yaml (one site), or sites/<name>.yaml (several; `multi`). Both at once is an error: which
 * one a system belongs to would be a guess.
 */
async function loadSites(r: RepoReader): Promise<{ multi: boolean; sites: SiteRead[] }> {
  const single = await r.exists('shipshape.yaml');
  if (!(await r.exists('sites'))) {
    if (!single) {
      r.diags.error(
        fileStart('shipshape.yaml'),
        'no shipshape.yaml at the repo root: every repo needs its site config',
      );
      return { multi: false, sites: [] };
    }
    const parsed = await r.parse('shipshape.yaml', 'site');
    const name = asMap(asMap(parsed?.pf.value)?.metadata)?.name;
    return { multi: false, sites: [{ name: typeof name === 'string' ? name : '', file: 'shipshape.yaml', parsed }] };
  }
  if (single)
    r.diags.error(
      fileStart('shipshape.yaml'),
      'the repo has both shipshape.yaml and sites/: a repo with several sites keeps each in sites/<name>.yaml; move shipshape.yaml to sites/<name>.yaml',
    );
  const files = await walk(r.realRoot, r.root, 'sites', { accept: isYamlName, warnOthers: true }, r.diags);
  const sites: SiteRead[] = [];
  for (const rel of files) {
    const name = baseName(rel);
    if (rel.split('/').length !== 2 || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) {
      r.diags.error(
        fileStart(rel),
        `${rel} is not loaded: a site is sites/<name>.yaml, the name of lower-case letters, digits and \`-\``,
      );
      continue;
    }
    const parsed = await r.parse(rel, 'site');
    const meta = asMap(asMap(parsed?.pf.value)?.metadata)?.name;
    if (parsed && meta !== undefined && meta !== name) {
      r.diags.error(
        locate(parsed.pf, ['metadata', 'name']),
        `site name \`${String(meta)}\` does not match its file: expected \`${name}\` (${rel})`,
      );
    }
    sites.push({ name, file: rel, parsed });
  }
  if (!sites.length) r.diags.error(fileStart('sites/'), 'sites/ holds no site: add sites/<name>.yaml');
  return { multi: true, sites };
}

async function loadOs(r: RepoReader): Promise<Record<string, OsEntry>> {
  const out = dict<OsEntry>();
  if (!(await r.exists('os'))) return out;
  for (const rel of await walk(
    r.realRoot,
    r.root,
    'os',
    { accept: (n) => n === 'os.yaml', warnOthers: false },
    r.diags,
  )) {
    const parts = rel.split('/');
    if (parts.length !== 3) {
      r.diags.error(fileStart(rel), `${rel} is not loaded: catalog entries live at os/<name>/os.yaml`);
      continue;
    }
    const l = await r.load<OsManifest>(rel, 'os', parts[1]!, 'OS');
    if (!l) continue;
    const s = l.manifest.spec;
    const answerFile = `os/${parts[1]}/${s.answerFile}`;
    if (!(await r.exists(answerFile))) {
      r.diags.error(
        locate(l.pf, ['spec', 'answerFile']),
        `OS \`${parts[1]}\`: answer-file template ${answerFile} does not exist; add it next to os.yaml`,
      );
      continue;
    }
    const entry: OsEntry = {
      name: parts[1],
      family: s.family,
      installer: s.installer,
      release: s.release,
      boot: { ...s.boot },
      answerFile,
      packages: [...(s.packages ?? [])],
      file: rel,
      source: locate(l.pf, ['metadata', 'name']),
    };
    if (s.vsphereTemplate !== undefined) entry.vsphereTemplate = s.vsphereTemplate;
    out[parts[1]] = entry;
  }
  return out;
}

async function loadRoles(
  r: RepoReader,
): Promise<{ roles: Record<string, RoleDef>; params: Map<string, ValidateFunction> }> {
  const roles = dict<RoleDef>();
  const params = new Map<string, ValidateFunction>();
  if (!(await r.exists('roles'))) return { roles, params };
  for (const rel of await walk(
    r.realRoot,
    r.root,
    'roles',
    { accept: (n) => n === 'role.yaml', warnOthers: false },
    r.diags,
  )) {
    const name = rel.slice('roles/'.length, -'/role.yaml'.length);
    const l = await r.load<RoleManifest>(rel, 'role', name, 'role');
    if (!l) continue;
    const schema = l.manifest.spec.params ?? { type: 'object' };
    const spec = l.manifest.spec;
    roles[name] = {
      name,
      paramsSchema: schema,
      steps: spec.steps ?? [],
      remove: spec.remove ?? [],
      file: rel,
      source: locate(l.pf, ['metadata', 'name']),
    };
    if (spec.check !== undefined) roles[name].check = spec.check;
    await checkRoleSteps(r, l.pf, name);
    const bad = `params schema of role \`${name}\` is not a valid JSON Schema`;
    const schemaErrors = operatorSchemaErrors(schema);
    if (schemaErrors) {
      // One sentence per offending node; the meta-schema's anyOf branches would otherwise repeat it.
      const byPath = new Map<string, string>();
      for (const e of schemaErrors)
        if (!byPath.has(e.instancePath)) byPath.set(e.instancePath, e.message ?? 'is invalid');
      for (const [ptr, msg] of byPath) {
        const p = pointerToPath(ptr);
        r.diags.error(locate(l.pf, ['spec', 'params', ...p]), `${bad}: ${displayPath(['params', ...p])} ${msg}`);
      }
      continue;
    }
    try {
      params.set(name, compileOperatorSchema(schema));
    } catch (e) {
      r.diags.error(locate(l.pf, ['spec', 'params'], { key: true }), `${bad}: ${(e as Error).message}`);
    }
  }
  return { roles, params };
}

/** Each step does exactly one thing, and the files it names exist in the role folder. */
async function checkRoleSteps(r: RepoReader, pf: ParsedFile, name: string): Promise<void> {
  const spec = (pf.value as RoleManifest).spec;
  for (const list of ['steps', 'remove'] as const) {
    (spec[list] ?? []).forEach((step, i) => {
      const actions = STEP_ACTIONS.filter((a) => step[a] !== undefined);
      if (actions.length !== 1) {
        const what = actions.length ? `has ${actions.map((a) => `\`${a}\``).join(' and ')}` : 'has none';
        r.diags.error(
          locate(pf, ['spec', list, i]),
          `role \`${name}\` ${list}[${i}] must have exactly one of ${STEP_ACTIONS.map((a) => `\`${a}\``).join(', ')}; it ${what}`,
        );
      }
      if (step.file && (step.file.source === undefined) === (step.file.template === undefined)) {
        r.diags.error(
          locate(pf, ['spec', list, i, 'file']),
          `role \`${name}\` ${list}[${i}].file needs exactly one of \`source\` (copied as is) or \`template\` (rendered)`,
        );
      }
      if (list === 'remove' && (step.file || step.deb)) {
        r.diags.error(
          locate(pf, ['spec', list, i]),
          `role \`${name}\` remove[${i}]: remove steps may use \`script\`, \`service\`, \`packages\` or \`absent\`, not \`file\` or \`deb\` (they are kept on the target to undo the role later)`,
        );
      }
    });
  }
  const refs: [string, PathSeg[]][] = [];
  (spec.steps ?? []).forEach((s, i) => {
    const f = s.file?.source ?? s.file?.template;
    if (f !== undefined)
      refs.push([f, ['spec', 'steps', i, 'file', s.file?.source !== undefined ? 'source' : 'template']]);
    // A versioned package (`files/shop_{{ version }}_all.deb`) is checked when a system names the version.
    if (s.deb !== undefined && !s.deb.includes('{{')) refs.push([s.deb, ['spec', 'steps', i, 'deb']]);
  });
  for (const [f, at] of refs) {
    if (!(await r.exists(path.posix.join('roles', name, f)))) {
      r.diags.error(locate(pf, at), `role \`${name}\` names ${f}, which does not exist: add roles/${name}/${f}`);
    }
  }
}

function baseName(rel: string): string {
  return path.posix.basename(rel).replace(/\.ya?ml$/, '');
}

async function loadAll<T extends { metadata: { name: string } }>(
  r: RepoReader,
  dir: string,
  kind: ManifestKind,
  what: string,
): Promise<{ loaded: Loaded<T>[]; files: string[] }> {
  if (!(await r.exists(dir))) return { loaded: [], files: [] }; // e.g. a repo without profiles/
  const files = await walk(r.realRoot, r.root, dir, { accept: isYamlName, warnOthers: true }, r.diags);
  // Files are read in parallel (I/O bound, thousands of systems); results keep the sorted order.
  const all = await mapLimit(files, READ_CONCURRENCY, (rel) => r.load<T>(rel, kind, baseName(rel), what));
  const loaded = all.filter((l): l is Loaded<T> => l !== undefined);
  return { loaded, files };
}

async function load(dir: string, diags: Diagnostics, opts: LoadOptions): Promise<LoadResult> {
  const root = path.resolve(dir);
  let realRoot: string;
  try {
    realRoot = await fs.realpath(root);
  } catch {
    diags.error(fileStart('.'), `repo directory ${root} does not exist`);
    return { ok: false, systems: [], diagnostics: diags.sorted(), os: {}, roles: {} };
  }
  const r = new RepoReader(root, realRoot, diags, opts.cache);
  const siteFiles = await loadSites(r);
  const os = await loadOs(r);
  const { roles, params } = await loadRoles(r);
  const profileFiles = await loadAll<ProfileManifest>(r, 'profiles', 'profile', 'profile');
  const brokenProfiles = new Set(profileFiles.files.filter((f) => r.failed.has(f)).map(baseName));
  const profiles = indexProfiles(profileFiles.loaded, brokenProfiles, diags);
  let systemFiles: LoadedSystem[] = [];
  if (!(await r.exists('systems'))) {
    diags.warning(
      fileStart('systems/'),
      'no systems/ directory: the repo declares no systems (nothing will be created; nothing is deleted without a tombstone)',
    );
  } else {
    const found = await loadAll<SystemManifest>(r, 'systems', 'system', 'system');
    systemFiles = found.loaded;
    if (found.files.length === 0)
      diags.warning(
        fileStart('systems/'),
        'systems/ holds no manifests: the repo declares no systems (nothing is deleted without a tombstone)',
      );
  }
  const sites = siteFiles.sites.map((sf) => {
    const facts = siteFacts(sf.parsed?.pf);
    if (sf.parsed) checkSite(sf.parsed.pf, facts, new Set(Object.keys(os)), diags);
    if (sf.parsed) checkSecretRefs(sf.parsed.pf, root, diags);
    const site = sf.parsed?.valid ? buildSite(root, sf.parsed.pf.value as SiteManifest, sf.file) : undefined;
    const shards = sf.parsed ? checkShards(sf.parsed.pf, facts, diags) : undefined;
    return { name: sf.name, file: sf.file, facts, site, shards };
  });
  // Each system is expanded and checked against its own site's nets and zones.
  const siteNames = new Set(sites.map((s) => s.name));
  const groups = new Map<string, ExpandedSystem[]>(sites.map((s) => [s.name, []]));
  const orphans: ExpandedSystem[] = [];
  const noFacts = siteFacts(undefined);
  for (const sys of systemFiles) {
    const name = siteFiles.multi ? siteOf(sys, profiles, siteNames, diags) : sites[0]?.name;
    const site = sites.find((s) => s.name === name);
    const e = expandSystem(
      sys,
      { profiles, nets: (site?.facts ?? noFacts).nets, netSources: (site?.facts ?? noFacts).domainSources },
      diags,
    );
    if (siteFiles.multi && name !== undefined) e.desired.site = name;
    else if (!siteFiles.multi && e.desired.site !== undefined && e.desired.site !== name)
      diags.error(
        e.desired.sources.site ?? fileStart(sys.pf.rel),
        `site \`${e.desired.site}\`: this repo has one site (shipshape.yaml${name ? `, named ${name}` : ' without metadata.name'}); remove spec.site, or keep several sites in sites/<name>.yaml`,
      );
    (site ? groups.get(site.name)! : orphans).push(e);
  }
  // System files that did not load but parsed: their name, address and MAC still meet the uniqueness
  // rules of their site (by spec.site or folder), and their names are not "undeclared" elsewhere.
  const invalid = new Map<string, Ident[]>();
  const invalidNames = new Set<string>();
  for (const [rel, pf] of r.invalid) {
    if (!rel.startsWith('systems/')) continue;
    invalidNames.add(baseName(rel));
    const id = identOf(pf);
    // A misnamed file (often a copy not yet renamed) has no identity of its own to clash with: its mismatch says it.
    if (!id || id.name !== baseName(rel)) continue;
    invalidNames.add(id.name);
    const named = asMap(asMap(pf.value)?.spec)?.site;
    const site = !siteFiles.multi
      ? sites[0]?.name
      : typeof named === 'string'
        ? named
        : rel.split('/').length > 2
          ? rel.split('/')[1]
          : undefined;
    if (site !== undefined && siteNames.has(site)) invalid.set(site, [...(invalid.get(site) ?? []), id]);
  }
  const failed = [...r.failed];
  const broken = {
    profiles: brokenProfiles,
    os: new Set(failed.filter((f) => /^os\/[^/]+\/os\.yaml$/.test(f)).map((f) => f.split('/')[1])),
    roles: new Set(
      failed
        .filter((f) => /^roles\/.+\/role\.yaml$/.test(f))
        .map((f) => f.slice('roles/'.length, -'/role.yaml'.length)),
    ),
  };
  const common = {
    os,
    roles,
    roleParams: params,
    profileNames: new Set(profiles.keys()),
    profileParent: (name: string) => profiles.get(name)?.manifest.spec.extends,
    broken,
  };
  for (const site of sites)
    checkSystems(
      {
        ...common,
        systems: groups.get(site.name)!,
        invalid: invalid.get(site.name) ?? [],
        facts: site.facts,
        ...(siteFiles.multi ? { elsewhere: elsewhere(site, sites) } : {}),
      },
      diags,
    );
  if (orphans.length || !sites.length) checkSystems({ ...common, systems: orphans, facts: noFacts }, diags);
  if (siteFiles.multi) checkSharedDns(groups, sites, diags);
  const sorted = (list: ExpandedSystem[]) =>
    list.map((e) => e.desired).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.file < b.file ? -1 : 1));
  const all = sorted([...groups.values(), orphans].flat());
  const environments = await loadAll<EnvironmentManifest>(r, 'environments', 'environment', 'environment');
  applyEnvironments({ root, environments: environments.loaded, systems: all, roles, invalid: invalidNames }, diags);
  for (const site of sites)
    if (site.shards)
      checkShardSystems(
        groups.get(site.name)!.map((e) => e.desired),
        site.shards,
        site.facts.zoneNames ?? [],
        diags,
      );
  // Only for systems and roles whose files have no errors: an artefact check of a broken system says nothing new.
  const [clean, fine] = withoutErrors(all, roles, diags);
  checkRoleArtefacts(root, clean, fine, diags);
  if (!siteFiles.multi) {
    if (opts.site !== undefined && opts.site !== sites[0]?.name)
      diags.error(
        fileStart('shipshape.yaml'),
        `--site ${opts.site}: this repo has one site (shipshape.yaml${sites[0]?.name ? `, named ${sites[0].name}` : ''}); run without --site`,
      );
    const result: LoadResult = { ok: !diags.hasErrors(), systems: all, diagnostics: diags.sorted(), os, roles };
    if (sites[0]?.site) result.site = sites[0].site;
    return opts.shard === undefined ? result : narrowToShard(result, opts.shard, sites[0]?.shards, diags);
  }
  const slices: SiteSlice[] = sites
    .map((s) => ({
      name: s.name,
      file: s.file,
      systems: sorted(groups.get(s.name)!),
      ...(s.site ? { site: s.site } : {}),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const chosen = opts.site === undefined ? undefined : slices.find((s) => s.name === opts.site);
  if (opts.site !== undefined && !chosen)
    diags.error(
      fileStart('sites/'),
      `--site ${opts.site}: no such site; the repo has ${slices.map((s) => s.name).join(', ')} (sites/<name>.yaml)`,
    );
  const result: LoadResult = {
    ok: !diags.hasErrors(),
    sites: slices,
    systems: chosen ? chosen.systems : all,
    diagnostics: diags.sorted(),
    os,
    roles,
  };
  if (chosen?.site) result.site = chosen.site;
  if (opts.shard === undefined) return result;
  return narrowToShard(result, opts.shard, sites.find((s) => s.name === opts.site)?.shards, diags);
}

/**
 * The systems none of whose own files (the system's, its profiles') has an error so far, and the roles
 * whose file has none. The site file does not count: a role's artefacts do not depend on it.
 */
function withoutErrors(
  systems: DesiredSystem[],
  roles: Record<string, RoleDef>,
  diags: Diagnostics,
): [DesiredSystem[], Record<string, RoleDef>] {
  if (!diags.hasErrors()) return [systems, roles];
  const dirty = new Set(diags.list.filter((d) => d.severity === 'error').map((d) => d.file));
  const clean = systems.filter(
    (s) =>
      !dirty.has(s.file) &&
      !Object.values(s.sources).some((at) => at.file.startsWith('profiles/') && dirty.has(at.file)),
  );
  const fine = dict<RoleDef>();
  for (const [name, role] of Object.entries(roles)) if (!dirty.has(role.file)) fine[name] = role;
  return [clean, fine];
}

/** The load result as one shard's worker sees it: the shard's systems and its part of the site. */
function narrowToShard(
  result: LoadResult,
  shard: string,
  shards: ShardFacts | undefined,
  diags: Diagnostics,
): LoadResult {
  if (!shards?.names.includes(shard)) {
    diags.error(
      fileStart(result.sites ? 'sites/' : 'shipshape.yaml'),
      shards
        ? `--shard ${shard}: no such shard; the site has ${shards.names.join(', ')} (spec.shards)`
        : `--shard ${shard}: the site declares no shards (spec.shards); run without --shard`,
    );
    return { ...result, ok: false, diagnostics: diags.sorted() };
  }
  const mine = (s: DesiredSystem) => shardOfSystem(s, shards) === shard;
  const others = result.systems.filter((s) => !mine(s));
  const shardOf = dict<string>();
  for (const s of others) {
    const theirs = shardOfSystem(s, shards);
    if (theirs !== undefined) shardOf[s.name] = theirs;
  }
  return {
    ...result,
    systems: result.systems.filter(mine),
    ...(result.site ? { site: shardSite(result.site, shard) } : {}),
    shard: { name: shard, others: others.map((s) => s.name), shardOf, elsewhere: others },
  };
}

/** Loads, validates and expands the repo at `dir`. Never throws: problems are diagnostics. */
export async function loadRepo(dir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const diags = new Diagnostics();
  opts.cache?.begin();
  try {
    const r = await load(dir, diags, opts);
    opts.cache?.end();
    return r;
  } catch (e) {
    // A bug in shipshape, not in the repo: still one clear line instead of a stack trace.
    diags.error(fileStart('.'), `internal error while loading the repo (please report it): ${(e as Error).message}`);
    return { ok: false, systems: [], diagnostics: diags.sorted(), os: {}, roles: {} };
  }
}
