/**
 * shipshape's ownership marker in i-doit: the object's SYSID (C__CATG__GLOBAL `sysid`).
 * Why SYSID and not a tag or the description: i-doit keeps it unique per tenant (a second object with
 * the same SYSID is refused, so two runs can never create the same system twice), the GUI shows it
 * read-only by default, mass changes and templates do not overwrite it, it comes with every
 * `cmdb.objects.read` row without reading any category, and `filter.sysid` finds it exactly.
 * Tags and descriptions are free-text fields that any user edits or clears in passing.
 */
export const SYSTEM_MARKER_PREFIX = 'SHIPSHAPE-VM-';
export const OS_MARKER_PREFIX = 'SHIPSHAPE-OS-';

export const systemMarker = (name: string) => `${SYSTEM_MARKER_PREFIX}${name}`;
export const osMarker = (title: string) => `${OS_MARKER_PREFIX}${title.replace(/[^A-Za-z0-9._-]+/g, '_')}`;

/** The system a SYSID marks, or null for objects shipshape does not own. */
export function systemFromMarker(sysid: unknown): string | null {
  return typeof sysid === 'string' && sysid.startsWith(SYSTEM_MARKER_PREFIX) ? sysid.slice(SYSTEM_MARKER_PREFIX.length) || null : null;
}

export const VM_TYPE = 'C__OBJTYPE__VIRTUAL_SERVER';
export const RECORD_STATES = ['C__RECORD_STATUS__NORMAL', 'C__RECORD_STATUS__ARCHIVED', 'C__RECORD_STATUS__DELETED'] as const;
export const STATUS_NAMES: Record<number, string> = { 2: 'normal', 3: 'archived', 4: 'deleted' };
