/** Public API of the manifest module: load, validate and expand a repo; resolve secret references. */
export { loadRepo } from './loader';
export type { LoadOptions, LoadResult, SiteSlice } from './loader';
export { formatDiagnostic, reportedOnce } from './diagnostics';
export type { Diagnostic, Severity } from './diagnostics';
export { resolveSecret, SecretError } from './secrets';
export type { OsEntry, RoleDef } from './catalog';
export { derivedMac } from './mac';
export * from './types';
export type * from './site';
export { ManifestCache } from './cache';
