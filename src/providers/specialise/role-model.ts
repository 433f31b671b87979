/**
 * A role as it runs on one system: every step rendered and compiled to one remote shell command
 * (plus the bytes it reads on stdin), and the role's digest over exactly that. The digest covers the
 * role's files and parameters as they reach the machine, so it changes when (and only when) what the
 * role would do changes.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Resolved } from '../../engine/contract';
import { Refusal } from '../../engine/refusals';
import type { RoleDef, RoleStep } from '../../manifest/catalog';
import { compileOperatorSchema } from '../../manifest/schemas';
import type { DesiredSystem, RoleRef } from '../../manifest/types';
import { fqdn } from '../../manifest/types';
import { sha256Hex, stableStringify } from '../../plan/digest';
import { shq } from '../../transport/ssh';
import { refResolver } from './cross-refs';
import { render, TemplateError, type RefResolver } from './template';

/** One remote command: what `exec` runs, what it reads on stdin, a label for logs and errors. */
export interface CompiledStep {
  index: number;
  label: string;
  command: string;
  stdin?: Buffer;
  timeoutMs: number;
}

export interface CompiledRole {
  name: string;
  version?: string;
  /** sha256 hex over the compiled steps (commands and stdin), check, remove steps, params and version. */
  digest: string;
  steps: CompiledStep[];
  check?: string;
  /** Kept in the record on the target, so a role can be undone after its folder left the repo. */
  remove: { label: string; command: string; timeoutMs: number }[];
  /** Cross-references whose values are not known yet (`systems.db-01.ip`): the digest means nothing until they are. */
  pending?: string[];
}

/** Fills in the cross-references in string parameters (`upstream: "{{ systems.db-01.ip }}:5432"`), at any depth. */
function renderParams(value: unknown, render1: (text: string, where: string) => string, where: string): unknown {
  if (typeof value === 'string') return value.includes('{{') ? render1(value, where) : value;
  if (Array.isArray(value)) return value.map((v, i) => renderParams(v, render1, `${where}[${i}]`));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderParams(v, render1, `${where}.${k}`)]));
  return value;
}

/** Resolved parameters against the role's params schema: a RoleError naming each value that does not fit. */
function checkResolvedParams(def: RoleDef, params: Record<string, unknown>, where: (what: string) => string): void {
  const validate = compileOperatorSchema(def.paramsSchema);
  if (validate(params)) return;
  const bad = (validate.errors ?? []).map(
    (e) => `params${e.instancePath.replace(/\//g, '.')} = ${JSON.stringify(e.data)} ${e.message ?? 'is invalid'}`,
  );
  throw new RoleError(
    where(
      `${[...new Set(bad)].join('; ')} (after resolving its cross-references): fix the reference or the role's params schema`,
    ),
  );
}

/** The repo does not have what a role needs (a file, a version's package, a value): apply refuses, plan blocks. */
export class RoleError extends Refusal {
  readonly code = 'ROLE';
  constructor(message: string) {
    super('role-artefact', message);
  }
}

/** The path on the target: below the lab's root prefix when there is one. */
export function rootPrefix(prefix: string | undefined, system: string): string {
  return prefix ? prefix.replace(/\{system\}/g, system).replace(/\/+$/, '') : '';
}

/** Parameters with the params schema's top-level `default`s filled in. */
export function withDefaults(def: RoleDef, params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = (def.paramsSchema.properties ?? {}) as Record<string, { default?: unknown }>;
  for (const [k, p] of Object.entries(props)) if (p && p.default !== undefined) out[k] = p.default;
  return { ...out, ...params };
}

/** Every command starts from the same environment: the root prefix, strict shell, a sane PATH. */
function prelude(root: string): string {
  return `SHIPSHAPE_ROOT=${shq(root)}; export SHIPSHAPE_ROOT; PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH; set -e; `;
}

function stepLabel(s: RoleStep, i: number): string {
  const what = s.file
    ? `file ${s.file.path}`
    : s.script !== undefined
      ? 'script'
      : s.packages
        ? `packages ${s.packages.join(' ')}`
        : s.deb
          ? `deb ${s.deb}`
          : s.service
            ? `service ${s.service.name}`
            : `absent ${s.absent}`;
  return `step ${i + 1} (${s.name ? `${s.name}: ` : ''}${what})`;
}

export class RoleCompiler {
  private readonly files = new Map<string, Buffer>();
  /**
   * Roles compiled without a cross-reference, per the system's role entry: what they compile to
   * depends on nothing another system resolves, so a plan that compiles each role three times
   * (observe, desired, the action's digest) renders its templates and hashes its files once. Keyed by
   * the system too: systems of one profile may share the entry.
   */
  private readonly plain = new WeakMap<DesiredSystem, Map<RoleRef, CompiledRole>>();
  /**
   * Roles compiled with cross-references, with the value each reference resolved to: compiled again only
   * when one of those values differs (observe, desired and the digest each ask, with the same values in
   * a plan; apply asks again once an earlier step changed one).
   */
  private readonly referenced = new WeakMap<
    DesiredSystem,
    Map<RoleRef, { values: [string, unknown][]; compiled: CompiledRole }>
  >();

  private readonly systems: ReadonlyMap<string, DesiredSystem>;

  constructor(
    private readonly repoRoot: string,
    private readonly roles: Record<string, RoleDef>,
    private readonly prefix: string | undefined,
    private readonly defaultTimeoutMs: number,
    /** Every declared system, for cross-references. */
    systems: DesiredSystem[] = [],
  ) {
    this.systems = new Map(systems.map((s) => [s.name, s]));
  }

  /** SHA-256 of a step's stdin; a file the role ships as it is (one Buffer for every system) is hashed once. */
  private readonly sums = new WeakMap<Buffer, string>();
  private sum(b: Buffer): string {
    let h = this.sums.get(b);
    if (h === undefined) this.sums.set(b, (h = sha256Hex(b)));
    return h;
  }

  private read(role: string, rel: string): Buffer {
    const p = posix.join(this.repoRoot, 'roles', role, rel);
    let b = this.files.get(p);
    if (!b) {
      try {
        b = readFileSync(p);
      } catch {
        throw new RoleError(`role ${role}: ${rel} does not exist: add roles/${role}/${rel}`);
      }
      this.files.set(p, b);
    }
    return b;
  }

  private resolveSame(
    system: DesiredSystem,
    others: Resolved['others'] | undefined,
    values: [string, unknown][],
  ): boolean {
    return sameValues(refResolver(system, { systems: this.systems, ...(others ? { others } : {}) }, []), values);
  }

  /** `others`: what the other systems' steps resolved, for cross-references (`Resolved.others`). */
  compileAll(system: DesiredSystem, others?: Resolved['others']): CompiledRole[] {
    return system.roles.map((r) => this.compile(system, r, others));
  }

  compile(system: DesiredSystem, ref: RoleRef, others?: Resolved['others']): CompiledRole {
    const kept = this.plain.get(system)?.get(ref);
    if (kept) return kept;
    const last = this.referenced.get(system)?.get(ref);
    if (last && this.resolveSame(system, others, last.values)) return last.compiled;
    const def = this.roles[ref.name];
    if (!def)
      throw new RoleError(`system ${system.name} lists role ${ref.name}, which has no roles/${ref.name}/role.yaml`);
    const root = rootPrefix(this.prefix, system.name);
    const pending: string[] = [];
    let crossRefs = false;
    const resolve = refResolver(system, { systems: this.systems, ...(others ? { others } : {}) }, pending);
    const values: [string, unknown][] = [];
    const refs: typeof resolve = (path) => {
      crossRefs = true;
      const v = resolve(path);
      values.push([path, v]);
      return v;
    };
    const where = (what: string) => `role ${ref.name} (system ${system.name}): ${what}`;
    const guarded = (text: string, c: Record<string, unknown>, mode: 'file' | 'shell', name: string) => {
      try {
        return render(text, c, mode, name, refs);
      } catch (e) {
        if (e instanceof TemplateError) throw new RoleError(where(e.message));
        throw e;
      }
    };
    // Parameters may hold cross-references only (they are filled in before the role's templates see them).
    let referenced = false;
    const params = renderParams(
      withDefaults(def, ref.params),
      (text, at) => ((referenced = true), guarded(text, {}, 'file', `${system.file} roles ${ref.name} ${at}`)),
      'params',
    ) as Record<string, unknown>;
    // Validation checked a reference's type only; its format, pattern and the like hold for the value it resolved to.
    if (referenced && !pending.length) checkResolvedParams(def, params, where);
    const ctx = {
      params,
      ...(ref.version !== undefined ? { version: ref.version } : {}),
      root,
      system: { name: system.name, fqdn: fqdn(system) },
    };
    const tpl = (text: string, mode: 'file' | 'shell', name: string) => guarded(text, ctx, mode, name);
    const step = (s: RoleStep, i: number): CompiledStep => {
      const label = stepLabel(s, i);
      const timeoutMs = s.timeoutSeconds !== undefined ? s.timeoutSeconds * 1000 : this.defaultTimeoutMs;
      const base = { index: i, label, timeoutMs };
      const on = (p: string) => root + p;
      if (s.file) {
        const f = s.file;
        const content =
          f.template !== undefined
            ? Buffer.from(
                tpl(this.read(ref.name, f.template).toString('utf8'), 'file', `roles/${ref.name}/${f.template}`),
              )
            : this.read(ref.name, f.source!);
        const chown =
          f.owner || f.group ? `chown ${shq(`${f.owner ?? ''}${f.group ? `:${f.group}` : ''}`)} "$t"; ` : '';
        const target = shq(on(f.path));
        const command = `d=$(dirname ${target}); mkdir -p "$d"; t="$d/.shipshape-new.$$"; cat > "$t"; chmod ${f.mode ?? '0644'} "$t"; ${chown}sync "$t" 2>/dev/null || true; mv -f "$t" ${target}; echo "wrote ${on(f.path)} ($(wc -c < ${target}) bytes)"`;
        return { ...base, command, stdin: content };
      }
      if (s.script !== undefined)
        return {
          ...base,
          command: `/bin/sh -ec ${shq(tpl(s.script, 'shell', `roles/${ref.name}/role.yaml ${label}`))} </dev/null`,
        };
      if (s.packages) return { ...base, command: packagesCommand(s.packages) };
      if (s.deb) {
        const rel = tpl(s.deb, 'file', `roles/${ref.name}/role.yaml ${label}`);
        return { ...base, command: debCommand(), stdin: this.read(ref.name, rel) };
      }
      if (s.service)
        return {
          ...base,
          command: serviceCommand(s.service.name, s.service.enabled ?? true, s.service.restart ?? true),
        };
      return { ...base, command: `rm -f ${shq(on(s.absent!))}; echo "removed ${on(s.absent!)}"` };
    };
    const steps = def.steps.map(step).map((c) => ({ ...c, command: prelude(root) + c.command }));
    const remove = def.remove
      .map(step)
      .map((c) => ({ label: c.label, command: prelude(root) + c.command, timeoutMs: c.timeoutMs }));
    // Every managed file must still hold what the role wrote: an edit by hand is a failed check (drift).
    const stdinSums = steps.map((c) => (c.stdin ? this.sum(c.stdin) : null));
    const sums = def.steps.flatMap((s, i) => (s.file ? [`${stdinSums[i]}  ${root}${s.file.path}`] : []));
    const parts = [
      ...(sums.length ? [`printf '%s\\n' ${sums.map(shq).join(' ')} | sha256sum -c --quiet - 2>&1`] : []),
      ...(def.check !== undefined
        ? [`/bin/sh -ec ${shq(tpl(def.check, 'shell', `roles/${ref.name}/role.yaml check`))} </dev/null`]
        : []),
    ];
    const check = parts.length ? prelude(root) + parts.join(' && ') : undefined;
    const digest = sha256Hex(
      stableStringify({
        role: ref.name,
        version: ref.version ?? null,
        params,
        steps: steps.map((c, i) => [c.command, stdinSums[i]]),
        check: check ?? null,
        remove: remove.map((c) => c.command),
      }),
    );
    const compiled: CompiledRole = {
      name: ref.name,
      ...(ref.version !== undefined ? { version: ref.version } : {}),
      digest,
      steps,
      ...(check !== undefined ? { check } : {}),
      remove,
      ...(pending.length ? { pending: [...new Set(pending)] } : {}),
    };
    if (!crossRefs) {
      if (!this.plain.has(system)) this.plain.set(system, new Map());
      this.plain.get(system)!.set(ref, compiled);
    } else {
      if (!this.referenced.has(system)) this.referenced.set(system, new Map());
      this.referenced.get(system)!.set(ref, { values, compiled });
    }
    return compiled;
  }
}

/** Whether every reference resolves, with these `others`, to the value it had. */
function sameValues(resolve: RefResolver, values: [string, unknown][]): boolean {
  try {
    return values.every(([path, was]) => {
      const now = resolve(path);
      if (Array.isArray(was) && Array.isArray(now))
        return was.length === now.length && was.every((v, i) => v === now[i]);
      return now === was;
    });
  } catch {
    return false; // a reference that fails now: compiled again, which says why
  }
}

/** Packages that must be installed: checked with dpkg-query; installed with apt-get only when missing. */
function packagesCommand(names: string[]): string {
  return [
    'missing=""',
    `for p in ${names.map(shq).join(' ')}; do dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; done`,
    `if [ -z "$missing" ]; then echo "installed: ${names.join(' ')}"; exit 0; fi`,
    'if [ -n "$SHIPSHAPE_ROOT" ]; then echo "missing packages:$missing (not installed below a root prefix)" >&2; exit 20; fi',
    'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing',
  ].join('; ');
}

/** A .deb the role ships: installed unless that exact version already is (below the prefix: dpkg --root). */
function debCommand(): string {
  return [
    't=$(mktemp /tmp/shipshape-deb.XXXXXX); trap \'rm -f "$t"\' EXIT; cat > "$t"',
    'pkg=$(dpkg-deb -f "$t" Package); ver=$(dpkg-deb -f "$t" Version)',
    'if [ -n "$SHIPSHAPE_ROOT" ]; then adm="$SHIPSHAPE_ROOT/var/lib/dpkg"; mkdir -p "$adm/info" "$adm/updates"; [ -e "$adm/status" ] || : > "$adm/status"; set -- --root="$SHIPSHAPE_ROOT" --force-not-root; else adm=/var/lib/dpkg; set --; fi',
    'have=$(dpkg-query --admindir="$adm" -W -f=\'${Status} ${Version}\' "$pkg" 2>/dev/null || true)',
    'if [ "$have" = "install ok installed $ver" ]; then echo "$pkg $ver already installed"; exit 0; fi',
    'DEBIAN_FRONTEND=noninteractive dpkg "$@" -i "$t"',
  ].join('; ');
}

/** Enable (or disable) and restart a systemd unit; below a root prefix only the enablement, offline. */
function serviceCommand(name: string, enabled: boolean, restart: boolean): string {
  const n = shq(name);
  return [
    `if [ -n "$SHIPSHAPE_ROOT" ]; then systemctl --root="$SHIPSHAPE_ROOT" ${enabled ? 'enable' : 'disable'} ${n}; echo "below root prefix $SHIPSHAPE_ROOT: ${name} ${enabled ? 'enabled' : 'disabled'}, not (re)started"; exit 0; fi`,
    'if [ ! -d /run/systemd/system ]; then echo "systemd is not running on this host: cannot manage ' +
      name.replace(/'/g, '') +
      '" >&2; exit 21; fi',
    'systemctl daemon-reload',
    enabled ? `systemctl enable ${n}` : `systemctl disable --now ${n}`,
    enabled && restart ? `systemctl restart ${n}; systemctl is-active --quiet ${n}` : 'true',
  ].join('; ');
}
