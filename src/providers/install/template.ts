/**
 * A deliberately small template language for answer files: `{{name}}` substitutes a value,
 * `{{#if name}} … {{else}} … {{/if}}` keeps one branch (nestable); a list renders one element per line. A line that holds only a block
 * tag disappears with its line break. Every substitution goes through the format's escaper; a
 * name the context does not define is an error, so a typo in a template never renders as empty.
 */
import { escapeFor, type Format } from './escape';

/** A list renders one escaped element per line (kickstart %packages). */
export type TemplateValue = string | number | boolean | undefined | string[];
export type TemplateContext = Record<string, TemplateValue>;

type Node =
  { t: 'text'; s: string } | { t: 'var'; name: string } | { t: 'if'; name: string; then: Node[]; else: Node[] };

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const TAG = /\{\{\s*(#if\s+[A-Za-z][A-Za-z0-9]*|else|\/if|[A-Za-z][A-Za-z0-9]*)\s*\}\}/g;

export function parseTemplate(text: string, file: string): Node[] {
  // Block tags alone on a line take their line break with them.
  const src = text.replace(/^[ \t]*(\{\{\s*(?:#if\s+[A-Za-z0-9]+|else|\/if)\s*\}\})[ \t]*\r?\n/gm, '$1');
  const root: Node[] = [];
  const stack: { node: Extract<Node, { t: 'if' }>; inElse: boolean }[] = [];
  const out = () =>
    stack.length
      ? stack[stack.length - 1]!.inElse
        ? stack[stack.length - 1]!.node.else
        : stack[stack.length - 1]!.node.then
      : root;
  let last = 0;
  for (const m of src.matchAll(TAG)) {
    if (m.index! > last) out().push({ t: 'text', s: src.slice(last, m.index) });
    last = m.index! + m[0].length;
    const tag = m[1]!;
    if (tag.startsWith('#if')) {
      const node = { t: 'if' as const, name: tag.slice(3).trim(), then: [], else: [] };
      out().push(node);
      stack.push({ node, inElse: false });
    } else if (tag === 'else') {
      const top = stack[stack.length - 1];
      if (!top || top.inElse) throw new TemplateError(`${file}: {{else}} without an open {{#if}}`);
      top.inElse = true;
    } else if (tag === '/if') {
      if (!stack.pop()) throw new TemplateError(`${file}: {{/if}} without an open {{#if}}`);
    } else {
      out().push({ t: 'var', name: tag });
    }
  }
  if (last < src.length) out().push({ t: 'text', s: src.slice(last) });
  if (stack.length) throw new TemplateError(`${file}: {{#if ${stack[0]!.node.name}}} is never closed with {{/if}}`);
  if (/\{\{|\}\}/.test(src.replace(TAG, '')))
    throw new TemplateError(
      `${file}: a \`{{\` or \`}}\` is not a valid tag (use {{name}}, {{#if name}}, {{else}}, {{/if}})`,
    );
  return root;
}

/** Names a template uses (so a catalog check can tell which values it needs). */
export function templateNames(nodes: Node[], into = new Set<string>()): Set<string> {
  for (const n of nodes) {
    if (n.t === 'var') into.add(n.name);
    if (n.t === 'if') {
      into.add(n.name);
      templateNames(n.then, into);
      templateNames(n.else, into);
    }
  }
  return into;
}

export function renderTemplate(
  nodes: Node[],
  ctx: TemplateContext,
  o: { format: Format; system: string; file: string },
): string {
  let s = '';
  for (const n of nodes) {
    if (n.t === 'text') s += n.s;
    else {
      if (!(n.name in ctx))
        throw new TemplateError(
          `${o.file}: {{${n.name}}} is not a value shipshape provides (known: ${Object.keys(ctx).sort().join(', ')})`,
        );
      const v = ctx[n.name];
      if (n.t === 'if')
        s += renderTemplate(
          v !== undefined && v !== false && v !== '' && !(Array.isArray(v) && v.length === 0) ? n.then : n.else,
          ctx,
          o,
        );
      else if (v === undefined || typeof v === 'boolean')
        throw new TemplateError(`${o.file}: {{${n.name}}} has no value here; guard it with {{#if ${n.name}}}`);
      else if (Array.isArray(v)) s += v.map((x) => escapeFor(o.format, o.system, n.name, x)).join('\n');
      else s += escapeFor(o.format, o.system, n.name, String(v));
    }
  }
  return s;
}
