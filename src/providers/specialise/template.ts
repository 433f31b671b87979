/**
 * Role templates: `{{ params.projectKey }}`, `{{ version }}`, `{{ system.fqdn }}`, `{{ root }}`, with
 * filters `| join` (list → "a, b"), `| json`, `| shell` (POSIX single quotes) and `| raw`.
 *
 * Escaping is decided by where the text goes, so a parameter can never smuggle in code or config:
 * in scripts every value is shell-quoted unless a filter says otherwise; in files a value must be
 * one line without control characters (a parameter cannot add a line to sshd_config). An unknown
 * name is an error, never an empty string.
 */
import { UNKNOWN } from '../../engine/contract';
import { parseRef, TAG } from '../../manifest/refs';
import { shq } from '../../transport/ssh';

export type TemplateMode = 'file' | 'shell';

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const FILTERS = new Set(['join', 'json', 'shell', 'raw']);

function lookup(ctx: Record<string, unknown>, path: string): unknown {
  let v: unknown = ctx;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function scalar(v: unknown, expr: string): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TemplateError(`{{ ${expr} }} is a ${Array.isArray(v) ? 'list' : 'map'}: use \`| join\` or \`| json\``);
}

/** The value of a cross-reference (`systems.db-01.ip`, src/manifest/refs.ts), or UNKNOWN until it is known. */
export type RefResolver = (path: string) => unknown;

/**
 * Renders `text` (named `where` in errors) with `ctx`; throws TemplateError naming the line.
 * Cross-references go to `refs`; one that is not known yet renders as `(known after apply)`, unfiltered.
 */
export function render(
  text: string,
  ctx: Record<string, unknown>,
  mode: TemplateMode,
  where: string,
  refs?: RefResolver,
): string {
  const lineOf = (offset: number) => text.slice(0, offset).split('\n').length;
  const out = text.replace(TAG, (_m, path: string, filterText: string, offset: number) => {
    const filters = filterText
      .split('|')
      .map((f) => f.trim())
      .filter(Boolean);
    const expr = [path, ...filters].join(' | ');
    try {
      for (const f of filters)
        if (!FILTERS.has(f)) throw new TemplateError(`unknown filter \`${f}\` (known: ${[...FILTERS].join(', ')})`);
      const ref = parseRef(path);
      if (ref && 'error' in ref) throw new TemplateError(ref.error);
      let v = ref && refs ? refs(path) : lookup(ctx, path);
      if (v === UNKNOWN) return UNKNOWN;
      if (v === undefined || v === null) {
        const hint =
          path === 'version'
            ? 'the system names no version: list the role as name@version'
            : `known: ${Object.keys(ctx).join(', ')}; a parameter without a value needs a \`default\` in the role's params schema`;
        throw new TemplateError(`{{ ${expr} }}: no value named \`${path}\` (${hint})`);
      }
      let escaped = false;
      for (const f of filters) {
        if (f === 'join') {
          if (!Array.isArray(v)) throw new TemplateError(`{{ ${expr} }}: \`join\` needs a list`);
          v = v.map((x) => scalar(x, path)).join(', ');
        } else if (f === 'json') {
          v = JSON.stringify(v);
          escaped = true;
        } else if (f === 'shell') {
          v = shq(scalar(v, path));
          escaped = true;
        } else {
          v = scalar(v, path);
          escaped = true;
        }
      }
      if (escaped) return String(v);
      const s = scalar(v, path);
      if (mode === 'shell') return shq(s);
      if (/[\x00-\x1f\x7f]/.test(s))
        throw new TemplateError(
          `{{ ${expr} }}: the value holds a line break or control character, which a config file line cannot take (use \`| json\` or \`| raw\` if that is meant)`,
        );
      return s;
    } catch (e) {
      throw new TemplateError(`${where}:${lineOf(offset)}: ${(e as Error).message}`);
    }
  });
  // Something that looks like a tag but is not well-formed (a typo) is an error, not literal text.
  const bad = new RegExp(`\\{\\{(?!${TAG.source.slice(4)})\\s*[A-Za-z_|]`).exec(text);
  if (bad)
    throw new TemplateError(`${where}:${lineOf(bad.index)}: \`{{\` starts no well-formed {{ name | filter }} tag`);
  return out;
}
