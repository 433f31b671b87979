/**
 * Cross-references: one system's role params and role templates naming values of other systems, in
 * the repo's one interpolation language, `{{ … }}` (the role templates' language; see
 * src/providers/specialise/template.ts for filters and escaping):
 *
 *   {{ systems.db-01.ip }}                          a field of one system
 *   {{ environment.systems[tier=web].ip | join }}   that field of every system of this system's
 *                                                   environment whose label matches (a list, by name)
 *   {{ environment.name }}                          the name of this system's environment
 *
 * Fields: `ip`, `mac` (known once the system's ip / vm step ran: `(known after apply)` in plans
 * until then), `fqdn`, `name`, `labels.<key>`. This module only parses; the loader checks every
 * reference against the declared systems (environments.ts), the specialise step resolves them.
 */

/** One path of a `{{ … }}` tag: dotted names (a segment may start with a digit: `systems.01-db`), and `[key=value]` selections. */
export const TAG_PATH = String.raw`[A-Za-z_]\w*(?:\.[A-Za-z0-9_][\w-]*|\[[a-z0-9._-]+=[A-Za-z0-9._-]+\])*`;

/** A whole tag: `{{ path | filter | … }}`. */
export const TAG = new RegExp(String.raw`\{\{\s*(${TAG_PATH})\s*((?:\|\s*[a-z]+\s*)*)\}\}`, 'g');

export const REF_FIELDS = ['ip', 'fqdn', 'mac', 'name', 'labels.<key>'];

export type RefTarget = { system: string } | { select: { key: string; value: string } };

export type Ref = { expr: string; target: RefTarget; field: string } | { expr: string; environmentName: true };

/** A path that is a cross-reference, a wrong one (`error` says what to write), or undefined for any other name. */
export function parseRef(path: string): Ref | { error: string } | undefined {
  if (path === 'environment.name') return { expr: path, environmentName: true };
  const one = /^systems\.([a-z0-9][a-z0-9-]*)\.(.+)$/.exec(path);
  const some = /^environment\.systems\[([a-z0-9._-]+)=([A-Za-z0-9._-]+)\]\.(.+)$/.exec(path);
  const target: RefTarget | undefined = one
    ? { system: one[1]! }
    : some
      ? { select: { key: some[1]!, value: some[2]! } }
      : undefined;
  const field = one ? one[2]! : some?.[3];
  if (!target || field === undefined) {
    if (path === 'systems' || path.startsWith('systems.') || path === 'environment' || path.startsWith('environment.'))
      return {
        error: `\`${path}\` is not a reference: write systems.<name>.<field>, environment.systems[<label>=<value>].<field> or environment.name`,
      };
    return undefined;
  }
  if (!['ip', 'fqdn', 'mac', 'name'].includes(field) && !/^labels\.[a-z0-9._-]+$/.test(field))
    return { error: `\`${path}\`: a system has no field \`${field}\` (fields: ${REF_FIELDS.join(', ')})` };
  return { expr: path, target, field };
}

/** Every tag path in `text`, with the 1-based line and column where its tag starts. */
export function tagsIn(text: string): { path: string; line: number; col: number }[] {
  const out: { path: string; line: number; col: number }[] = [];
  for (const m of text.matchAll(TAG)) {
    const before = text.slice(0, m.index);
    const line = before.split('\n').length;
    out.push({ path: m[1]!, line, col: m.index - before.lastIndexOf('\n') });
  }
  return out;
}
