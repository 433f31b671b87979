/**
 * The API add-on generations the emulator can play, chosen at start. Each row is one behaviour that
 * differs between them; README.md lists the source of every row.
 */

export const API_VERSIONS = ['1.10', '1.14', '2.x'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];

export interface VersionProfile {
  /** What `idoit.version` reports as the i-doit (core) version. */
  coreVersion: string;
  /** `cmdb.object.create` stores a given `sysid` (add-on 1.10.2 and later). */
  sysidOnCreate: boolean;
  /** `cmdb.object.purge` needs the tenant setting `cmdb.quickpurge` (add-on 1.10). */
  purgeNeedsQuickpurge: boolean;
  /** How a request with an expired or unknown session is answered (one error per request). */
  sessionExpired: { code: number; detail: string };
  /** `entry` given to `cmdb.category.save` of a single-value category: an error (≤ 1.14.0) or ignored (≥ 1.14.1). */
  singleValueEntry: 'error' | 'ignore';
  /** Default of `api.authenticated-users-only` on a fresh tenant. */
  authenticatedUsersOnly: boolean | 'when-users';
}

export const PROFILES: Record<ApiVersion, VersionProfile> = {
  '1.10': {
    coreVersion: '1.12.4',
    sysidOnCreate: false,
    purgeNeedsQuickpurge: true,
    sessionExpired: { code: -32099, detail: 'Unable to get user by sessionId' },
    singleValueEntry: 'error',
    authenticatedUsersOnly: true,
  },
  '1.14': {
    coreVersion: '1.14.2',
    sysidOnCreate: true,
    purgeNeedsQuickpurge: false,
    sessionExpired: { code: -32099, detail: 'Unable to get user by sessionId' },
    singleValueEntry: 'error',
    authenticatedUsersOnly: 'when-users',
  },
  '2.x': {
    coreVersion: '25',
    sysidOnCreate: true,
    purgeNeedsQuickpurge: false,
    sessionExpired: { code: -32604, detail: 'The session id is invalid or has expired. Please login again.' },
    singleValueEntry: 'ignore',
    authenticatedUsersOnly: 'when-users',
  },
};

export function parseApiVersion(v: string | undefined, where: string): ApiVersion {
  const value = v ?? '2.x';
  if ((API_VERSIONS as readonly string[]).includes(value)) return value as ApiVersion;
  throw new Error(`${where}: unknown API add-on version "${value}"; the emulator plays ${API_VERSIONS.join(', ')}`);
}
