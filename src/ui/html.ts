/** Small HTML helpers for the status page: every value goes through `esc`, markup is built as strings. */

export function esc(v: unknown): string {
  const s =
    v === undefined || v === null
      ? ''
      : typeof v === 'string'
        ? v
        : typeof v === 'number' || typeof v === 'boolean'
          ? String(v)
          : JSON.stringify(v);
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A tagged template that escapes every interpolated value unless it is already `Html`. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Markup the code wrote itself (the stylesheet), inserted as it is. */
export function raw(text: string): Html {
  return new Html(text);
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === false || v === undefined || v === null) return '';
  return esc(v);
}

/** A status word with a colour class; the word itself carries the meaning (never colour alone). */
export function badge(word: string, tone: 'ok' | 'warn' | 'bad' | 'info' | 'muted'): Html {
  return html`<span class="badge ${tone}">${word}</span>`;
}

export function toneOf(status: string): 'ok' | 'warn' | 'bad' | 'info' | 'muted' {
  if (['ok', 'built', 'poweredOn', 'changed', 'done', 'in sync'].includes(status)) return 'ok';
  if (['failed', 'error', 'timed-out', 'drift', 'drifted', 'blocked', 'missing'].includes(status)) return 'bad';
  if (
    [
      'running',
      'requested',
      'booting',
      'installing',
      'vm-created',
      'pending',
      'create',
      'update',
      'replace',
      'delete',
    ].includes(status)
  )
    return 'warn';
  if (['poweredOff', 'suspended', 'unchanged', 'noop', 'skipped'].includes(status)) return 'muted';
  return 'info';
}

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function time(iso: string | undefined): Html {
  if (!iso) return html``;
  return html`<time datetime="${iso}" title="${iso}">${iso.replace('T', ' ').slice(0, 19)} UTC</time>`;
}

/**
 * A table as every view draws one: in a box that scrolls sideways on a narrow screen (the page itself
 * never does), tied to the heading `labelledBy` names, with a header cell per column (what a screen
 * reader needs to read a cell with its column).
 */
export function table(columns: string[], rows: Html[], o: { labelledBy?: string; className?: string } = {}): Html {
  const label = o.labelledBy ? html` aria-labelledby="${o.labelledBy}"` : '';
  const cls = o.className ? html` class="${o.className}"` : '';
  return html`<div class="scroll">
    <table${label}${cls}>
      <thead>
        <tr>
          ${columns.map((c) => html`<th scope="col">${c}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`;
}
