/**
 * The `yaml` package, loaded on first use: most manifests are read by yaml-fast.ts, the others usually
 * come from the parse cache (parse-cache.ts), so a plan of an unchanged repo never loads the package.
 */
export function yamlLib(): typeof import('yaml') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require('yaml') as typeof import('yaml');
}
