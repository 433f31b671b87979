/**
 * Diagnostics: every problem the loader finds, located at the offending YAML node. Loading never stops at
 * the first problem and never throws: it collects everything so one `shipshape validate` run shows all of it.
 */
import type { SourceRef } from './types';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  /** Path relative to the repo root (forward slashes). */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  severity: Severity;
  message: string;
  /**
   * Set where a system inherits the error of a definition many systems use (`profile:web`, a broken
   * profile, OS or role): `reportedOnce` turns all of them into one line. The list keeps one per system
   * (per file), for whatever needs to know which files cannot be used.
   */
  sharedCause?: string;
  /** With `sharedCause`: the system it is reported for. */
  system?: string;
}

/** `file:line:col: error: message`, the shape editors and CI annotators understand. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`;
}

/** How many systems' names one line shows before "and N more". */
const NAMED = 5;

/**
 * The diagnostics as text output shows them: those of one shared cause (a profile with errors, which
 * hundreds of systems may use) become one line, at the first of them, saying how many systems use it
 * and which; the definition's own errors are reported at its own file anyway.
 */
export function reportedOnce(list: readonly Diagnostic[]): Diagnostic[] {
  const groups = new Map<string, Diagnostic[]>();
  for (const d of list) {
    if (d.sharedCause === undefined) continue;
    const group = groups.get(d.sharedCause);
    if (group) group.push(d);
    else groups.set(d.sharedCause, [d]);
  }
  const out: Diagnostic[] = [];
  for (const d of list) {
    const group = d.sharedCause === undefined ? undefined : groups.get(d.sharedCause)!;
    if (!group || group.length === 1) {
      out.push(d);
      continue;
    }
    if (group[0] !== d) continue;
    const names = [...new Set(group.map((g) => g.system ?? g.file))];
    const shown = names.slice(0, NAMED).join(', ');
    const more = names.length > NAMED ? ` and ${names.length - NAMED} more` : '';
    out.push({ ...d, message: `${d.message}; ${names.length} systems use it: ${shown}${more}` });
  }
  return out;
}

/** Collects diagnostics of one load run. */
export class Diagnostics {
  readonly list: Diagnostic[] = [];

  /** `shared`: the error is a definition's that many systems use (see `reportedOnce`). */
  error(at: SourceRef, message: string, shared?: { cause: string; system: string }): void {
    this.list.push({
      file: oneLine(at.file),
      line: at.line,
      col: at.col,
      severity: 'error',
      message: oneLine(message),
      ...(shared ? { sharedCause: shared.cause, system: shared.system } : {}),
    });
  }

  warning(at: SourceRef, message: string): void {
    this.list.push({
      file: oneLine(at.file),
      line: at.line,
      col: at.col,
      severity: 'warning',
      message: oneLine(message),
    });
  }

  /** Whether an error is already reported at exactly this position (so a later rule does not repeat the spot). */
  hasErrorAt(at: SourceRef): boolean {
    return this.list.some(
      (d) => d.severity === 'error' && d.file === at.file && d.line === at.line && d.col === at.col,
    );
  }

  hasErrors(): boolean {
    return this.list.some((d) => d.severity === 'error');
  }

  /** Stable order: by file, then position, then message (so output and tests are deterministic). */
  sorted(): Diagnostic[] {
    return [...this.list].sort(
      (a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col || a.message.localeCompare(b.message),
    );
  }
}

/** Messages quote operator input (keys, values): control characters must not break the one-line format. */
function oneLine(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** A key as a message shows it: at most 60 characters. */
export function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A position at the start of a file, for problems with the file as a whole. */
export function fileStart(file: string): SourceRef {
  return { file, line: 1, col: 1 };
}

/** Renders a value for a message, short and on one line. Never used for secret fields. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') {
    const s = v.length > 60 ? `${v.slice(0, 57)}...` : v;
    return JSON.stringify(s);
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  return 'a map';
}
