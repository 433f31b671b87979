/**
 * Environments (`environments/<name>.yaml`) and the dependencies between systems.
 *
 * An environment groups systems into tiers (by list or label selector); a tier's `dependsOn` names
 * tiers of the environment or systems. A system also depends on every system its roles refer to
 * (`{{ systems.db-01.ip }}`, `{{ environment.systems[tier=db].ip }}`, src/manifest/refs.ts). The
 * result is `DesiredSystem.environment` and `DesiredSystem.dependsOn`, which the executor follows:
 * a system's specialisation starts once every system it depends on has come up whole.
 *
 * Checked here, each as file:line:col: every reference names a declared system, a field systems
 * have (and a label the system carries), a selection that selects something; and the dependencies
 * have no cycle (the cycle is spelled out, with where each of its links is declared).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { RoleDef } from './catalog';
import { fileStart, type Diagnostics } from './diagnostics';
import type { EnvironmentManifest } from './raw';
import { parseRef, tagsIn } from './refs';
import { formatSource, type DesiredSystem, type SourceRef } from './types';
import { locate, type ParsedFile } from './yaml-file';

export interface LoadedEnvironment {
  pf: ParsedFile;
  manifest: EnvironmentManifest;
}

/** One dependency: `from` needs `to` up first, because of what is written at `at`. */
interface Edge {
  from: string;
  to: string;
  at: SourceRef;
  why: string;
}

export function applyEnvironments(
  input: {
    root: string;
    environments: LoadedEnvironment[];
    systems: DesiredSystem[];
    roles: Record<string, RoleDef>;
    /** Names of system files that exist but did not load: their own errors say why; not "undeclared" here. */
    invalid?: Set<string>;
  },
  diags: Diagnostics,
): void {
  const present = new Map(input.systems.filter((s) => s.state === 'present').map((s) => [s.name, s]));
  const retired = new Set(input.systems.filter((s) => s.state === 'absent').map((s) => s.name));
  const edges: Edge[] = [];
  const invalid = input.invalid ?? new Set<string>();
  for (const env of input.environments) edges.push(...environmentEdges(env, present, retired, invalid, diags));
  const seen = new Set<string>(); // a role's own files are checked once, not once per system using it
  for (const s of present.values()) edges.push(...referenceEdges(s, present, input, diags, seen));
  // Grouped once: filtering every edge for every system was quadratic at thousands of systems.
  const depsOf = new Map<string, Set<string>>();
  for (const e of edges) {
    if (e.from === e.to) continue;
    const deps = depsOf.get(e.from);
    if (deps) deps.add(e.to);
    else depsOf.set(e.from, new Set([e.to]));
  }
  for (const s of present.values()) {
    const deps = depsOf.get(s.name);
    if (deps) s.dependsOn = [...deps].sort();
  }
  reportCycles(edges, diags);
}

/** Members per tier (`environment` set on each), and the edges of the tiers' `dependsOn`. */
function environmentEdges(
  env: LoadedEnvironment,
  present: Map<string, DesiredSystem>,
  retired: Set<string>,
  invalid: Set<string>,
  diags: Diagnostics,
): Edge[] {
  const { pf, manifest } = env;
  const name = manifest.metadata.name;
  const tiers = new Map<string, string[]>();
  const placed = new Map<string, string>(); // system → `environment/tier`, to report a system placed twice
  manifest.spec.tiers.forEach((tier, i) => {
    const at = locate(pf, ['spec', 'tiers', i]);
    if (tiers.has(tier.name)) diags.error(at, `environment \`${name}\` has two tiers named \`${tier.name}\``);
    if ((tier.systems === undefined) === (tier.selector === undefined)) {
      diags.error(at, `tier \`${tier.name}\` needs exactly one of \`systems\` (a list) or \`selector\` (labels)`);
      tiers.set(tier.name, []);
      return;
    }
    const members: string[] = [];
    if (tier.systems)
      tier.systems.forEach((s, j) => {
        // A retired system (a tombstone) has left its tier; a name no manifest declares is a mistake.
        if (present.has(s)) members.push(s);
        else if (!retired.has(s) && !invalid.has(s))
          diags.error(
            locate(pf, ['spec', 'tiers', i, 'systems', j]),
            `tier \`${tier.name}\` lists system \`${s}\`, which no manifest under systems/ declares`,
          );
      });
    else {
      const want = Object.entries(tier.selector!);
      for (const s of present.values()) if (want.every(([k, v]) => s.labels[k] === v)) members.push(s.name);
      if (members.length === 0)
        diags.warning(
          locate(pf, ['spec', 'tiers', i, 'selector']),
          `tier \`${tier.name}\` selects no system (no present system carries ${want.map(([k, v]) => `${k}: ${v}`).join(', ')})`,
        );
    }
    // Apply runs site by site: an environment's systems come up together, so they share one site.
    const first = members.map((m) => present.get(m)!).find((m) => m.site !== undefined);
    for (const m of members.map((x) => present.get(x)!))
      if (first && m.site !== first.site)
        diags.error(
          at,
          `system \`${m.name}\` is in site ${m.site ?? '(none)'}, ${first.name} in ${first.site}: an environment's systems share one site`,
        );
    for (const s of members) {
      const other = placed.get(s) ?? present.get(s)!.environment?.name;
      if (other)
        diags.error(at, `system \`${s}\` is already in ${other}; a system belongs to one environment and one tier`);
      placed.set(s, `${name}/${tier.name}`);
    }
    tiers.set(tier.name, members);
  });
  const all = [...placed.keys()].sort();
  for (const s of all) present.get(s)!.environment ??= { name, systems: all };

  const edges: Edge[] = [];
  manifest.spec.tiers.forEach((tier, i) =>
    (tier.dependsOn ?? []).forEach((dep, j) => {
      const at = locate(pf, ['spec', 'tiers', i, 'dependsOn', j]);
      const targets = tiers.get(dep) ?? (present.has(dep) ? [dep] : undefined);
      if (!targets) {
        if (invalid.has(dep)) return; // a system whose file has errors: reported there
        diags.error(
          at,
          `tier \`${tier.name}\` depends on \`${dep}\`, which is no tier of environment \`${name}\` (${[...tiers.keys()].join(', ')}) and no declared system`,
        );
        return;
      }
      for (const from of tiers.get(tier.name) ?? [])
        for (const to of targets) edges.push({ from, to, at, why: `tier ${tier.name} dependsOn ${dep}` });
    }),
  );
  return edges;
}

/** A text that may hold references, and where it is written. */
interface Text {
  text: string;
  /** Where the text starts; lines and columns of a tag are added when `exact`. */
  at: SourceRef;
  exact: boolean;
  /** tagsIn(text), kept with a role's texts since every system using the role sees them. */
  tags?: ReturnType<typeof tagsIn>;
}

/** Per role definition (a load builds them afresh): its texts are read and scanned once, not once per system. */
const roleTextCache = new WeakMap<RoleDef, Text[]>();

/** The role's own texts (scripts, checks, templates, .deb paths), read once per role. */
function roleTexts(root: string, def: RoleDef): Text[] {
  const cached = roleTextCache.get(def);
  if (cached) return cached;
  const texts: Text[] = [];
  const whole = (text: string | undefined) => {
    if (text !== undefined) texts.push({ text, at: def.source, exact: false });
  };
  for (const step of [...def.steps, ...def.remove]) {
    whole(step.script);
    whole(step.deb);
    if (step.file?.template !== undefined) {
      const rel = path.posix.join('roles', def.name, step.file.template);
      try {
        texts.push({ text: readFileSync(path.join(root, rel), 'utf8'), at: fileStart(rel), exact: true });
      } catch {
        // a missing template is reported by the role checks
      }
    }
  }
  whole(def.check);
  // Only the tags that are references (or wrong ones) matter to every system using the role: `{{ version }}`,
  // `{{ params.x }}` and the like are left out here once, not skipped again per system.
  for (const t of texts) t.tags = tagsIn(t.text).filter((tag) => parseRef(tag.path) !== undefined);
  roleTextCache.set(def, texts);
  return texts;
}

/** The texts of one system's role params: every string at any depth, with the source of its key. */
function paramTexts(s: DesiredSystem, i: number, value: unknown, field: string): Text[] {
  if (typeof value === 'string') {
    const at = s.sources[field] ?? s.sources[`roles[${i}]`] ?? s.sources.roles ?? fileStart(s.file);
    return [{ text: value, at, exact: false }];
  }
  if (Array.isArray(value)) return value.flatMap((v, j) => paramTexts(s, i, v, `${field}[${j}]`));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => paramTexts(s, i, v, `${field}.${k}`));
  return [];
}

/** Checks every reference of a system's roles; returns an edge to each system referenced. */
function referenceEdges(
  s: DesiredSystem,
  present: Map<string, DesiredSystem>,
  input: { root: string; roles: Record<string, RoleDef>; invalid?: Set<string> },
  diags: Diagnostics,
  seen: Set<string>,
): Edge[] {
  const edges: Edge[] = [];
  s.roles.forEach((role, i) => {
    const def = input.roles[role.name];
    const texts = [...paramTexts(s, i, role.params, `roles[${i}].params`), ...(def ? roleTexts(input.root, def) : [])];
    for (const t of texts)
      for (const tag of t.tags ?? (t.text.includes('{{') ? tagsIn(t.text) : [])) {
        const ref = parseRef(tag.path);
        if (!ref) continue;
        const at = t.exact ? { ...t.at, line: tag.line, col: tag.col } : t.at;
        const what = `{{ ${tag.path} }} (role ${role.name}, system ${s.name})`;
        // A role file's problem is reported once, for the first system that shows it.
        const report = (problem: string) => {
          const key = `${formatSource(at)} ${problem}`;
          if (!seen.has(key)) diags.error(at, `${what}: ${problem}`);
          seen.add(key);
        };
        if ('error' in ref) {
          report(`${ref.error}`);
          continue;
        }
        if ('environmentName' in ref || 'select' in ref.target) {
          if (!s.environment) {
            report(`system ${s.name} is in no environment; add it to a tier under environments/`);
            continue;
          }
        }
        if ('environmentName' in ref) continue;
        let targets: DesiredSystem[];
        if ('system' in ref.target) {
          const target = present.get(ref.target.system);
          if (!target) {
            if (input.invalid?.has(ref.target.system)) continue; // its file has errors: reported there
            report(`no system named \`${ref.target.system}\` is declared (present) under systems/`);
            continue;
          }
          if (target.site !== s.site) {
            report(
              `system \`${target.name}\` is in site ${target.site}, not ${s.site}: references stay within one site`,
            );
            continue;
          }
          targets = [target];
        } else {
          const { key, value } = ref.target.select;
          targets = s.environment!.systems.map((n) => present.get(n)!).filter((x) => x.labels[key] === value);
          if (targets.length === 0) {
            report(`selects no system of environment \`${s.environment!.name}\` (none has ${key}: ${value})`);
            continue;
          }
        }
        const label = ref.field.startsWith('labels.') ? ref.field.slice('labels.'.length) : undefined;
        const missing = label === undefined ? [] : targets.filter((x) => x.labels[label] === undefined);
        if (missing.length) {
          report(`system ${missing.map((x) => x.name).join(', ')} has no label \`${label}\``);
          continue;
        }
        for (const x of targets) edges.push({ from: s.name, to: x.name, at, why: `{{ ${tag.path} }}` });
      }
  });
  return edges;
}

/** Every cycle once, as `a → b → a` with where each link is declared, reported at its first link. */
function reportCycles(edges: Edge[], diags: Diagnostics): void {
  const out = new Map<string, Edge[]>();
  for (const e of edges) if (e.from !== e.to) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const state = new Map<string, 'open' | 'done'>();
  const stack: Edge[] = [];
  const reported = new Set<string>();
  const visit = (n: string) => {
    state.set(n, 'open');
    for (const e of out.get(n) ?? []) {
      if (state.get(e.to) === 'open') {
        const cycle = [...stack.slice(stack.findIndex((x) => x.from === e.to)), e];
        const key = cycle
          .map((x) => x.from)
          .sort()
          .join(' ');
        if (!reported.has(key)) {
          reported.add(key);
          const links = cycle.map((x) => `${x.from} → ${x.to} (${x.why}, ${formatSource(x.at)})`).join('; ');
          diags.error(
            cycle[0]!.at,
            `dependency cycle: ${[...cycle.map((x) => x.from), e.to].join(' → ')}: ${links}; remove one of these links`,
          );
        }
      } else if (!state.has(e.to)) {
        stack.push(e);
        visit(e.to);
        stack.pop();
      }
    }
    state.set(n, 'done');
  };
  for (const n of [...out.keys()].sort()) if (!state.has(n)) visit(n);
}
