/**
 * shipshape's ownership marker in i-doit, and what decides that an object is a system's.
 *
 * Two places carry it, because no single field is stored the same way by every API add-on:
 * - the SYSID `SHIPSHAPE-VM-<name>`: sent with `cmdb.object.create`; stored by add-ons from 1.10.2 on,
 *   ignored by older ones (they generate a SYSID, and i-doit keeps an object's SYSID: it cannot be
 *   written later through the General category either). Not unique: i-doit accepts a second object
 *   with the same SYSID, so it is an identity, never a race guard.
 * - the claim `shipshape-system=<name>` on the first line of the object's description, also sent with
 *   `cmdb.object.create` and stored by every add-on. It identifies objects whose add-on dropped the SYSID.
 * An object is the system's when its SYSID carries the marker, or when its SYSID is i-doit's own and
 * its description carries the claim. Anyone who may edit objects can write either, so a site with
 * `ownership:` (src/ownership) also needs the seal line `shipshape-seal=<seal>` in the description: an
 * HMAC over the site, the system and the object's id, which i-doit assigns and nobody chooses, so a
 * seal copied onto another object does not verify. It is written right after the create (the id is
 * known only then); an object whose seal is missing or wrong is not the system's (reported, never changed). A duplicate that shipshape gave up (see system-object.ts) has
 * its description rewritten to `shipshape-released=<name>`, which no longer claims anything.
 */
export const SYSTEM_MARKER_PREFIX = 'SHIPSHAPE-VM-';
export const OS_MARKER_PREFIX = 'SHIPSHAPE-OS-';
const CLAIM = 'shipshape-system=';
const RELEASED = 'shipshape-released=';
const SEAL = 'shipshape-seal=';
export const SEAL_LINE = SEAL;

export const systemMarker = (name: string) => `${SYSTEM_MARKER_PREFIX}${name}`;
export const osMarker = (title: string) => `${OS_MARKER_PREFIX}${title.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
export const systemClaim = (name: string) => `${CLAIM}${name}`;
export const releasedClaim = (name: string, winner: number) =>
  `${RELEASED}${name} (a duplicate of object #${winner}; shipshape no longer uses it)`;

/** The description shipshape writes when it creates a system's object (with the seal once the object id is known). */
export function claimDescription(name: string, file: string, commit?: string, seal?: string): string {
  return `${systemClaim(name)}\n${seal ? `${SEAL}${seal}\n` : ''}Managed by shipshape from ${file}${commit ? ` at ${commit}` : ''}. Edits here are overwritten.`;
}

/** The seal line's value in a description (second line), or undefined. */
export function sealOf(description: unknown): string | undefined {
  const line = lines(description)[1] ?? '';
  return line.startsWith(SEAL) ? line.slice(SEAL.length).trim() : undefined;
}

/** The system an object belongs to, from its SYSID and (for add-ons that dropped the SYSID) its description; null when not ours. */
export function systemOf(sysid: unknown, description?: unknown): string | null {
  const first = firstLine(description);
  if (first.startsWith(RELEASED)) return null;
  if (typeof sysid === 'string' && sysid.startsWith(SYSTEM_MARKER_PREFIX))
    return sysid.slice(SYSTEM_MARKER_PREFIX.length) || null;
  if (typeof sysid === 'string' && sysid.startsWith('SHIPSHAPE-')) return null;
  return first.startsWith(CLAIM) ? first.slice(CLAIM.length).trim() || null : null;
}

/** A duplicate shipshape gave up: its description starts with the released claim. */
export function isReleased(description: unknown): boolean {
  return firstLine(description).startsWith(RELEASED);
}

/** The description's first line; descriptions may come back as HTML (the WYSIWYG editor): tags count as line breaks. */
function firstLine(description: unknown): string {
  return lines(description)[0] ?? '';
}

function lines(description: unknown): string[] {
  const text = typeof description === 'string' ? description.replace(/<[^>]*>/g, '\n').trim() : '';
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l, i) => i === 0 || l !== '');
}

/**
 * The system name an object that is not ours stands for, from its title: titles are typed by hand
 * (`WEB01`, `web01.corp.example.com`), system names are lower-case host names. Lower case (host names
 * are case-insensitive, RFC 4343), and a title that is a DNS name (dots, no spaces) by its first label,
 * so the plan sees the object a create would duplicate. Other titles (`Webserver München`) lower-cased.
 */
export function titleKey(title: string): string {
  const t = title.trim().toLowerCase();
  return /^[a-z0-9-]+(\.[a-z0-9-]+)+\.?$/.test(t) ? t.split('.')[0]! : t;
}

/** The system a SYSID alone marks (OS objects and older callers), or null. */
export function systemFromMarker(sysid: unknown): string | null {
  return systemOf(sysid);
}

export const VM_TYPE = 'C__OBJTYPE__VIRTUAL_SERVER';
export const RECORD_STATES = [
  'C__RECORD_STATUS__NORMAL',
  'C__RECORD_STATUS__ARCHIVED',
  'C__RECORD_STATUS__DELETED',
] as const;
export const STATUS_NAMES: Record<number, string> = { 2: 'normal', 3: 'archived', 4: 'deleted' };
