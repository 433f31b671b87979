/**
 * Runs a command once per site of a repo with sites/<name>.yaml: one after another, each with its own
 * state dir (<state>/sites/<name>: run lock, create journal, drift and run history, install records,
 * git cache) and its own section of the report. A site that fails (unreachable vCenter, refused
 * credentials, a failed system) never stops the sites after it; the summary and the exit code say
 * which failed. A repo with one shipshape.yaml runs exactly as before.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { yamlLib } from '../manifest/yaml-lib';
import { basename, extname, join } from 'node:path';
import { codeOf, exitCodeFor } from '../engine/outcome';
import { resolveSource, type SourceOptions } from './commands/plan';
import { describeError, ExitError } from './errors';
import type { Io } from './io';
import { loadValid, stateDir } from './pipeline';

/** The site names of the repo at `dir` (sites/*.yaml, sorted), or undefined for a repo with one shipshape.yaml. */
export function siteNames(dir: string): string[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync(join(dir, 'sites'));
  } catch {
    return undefined;
  }
  return entries
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => f.replace(/\.ya?ml$/, ''))
    .sort();
}

/** The options of one site's run: its name, and its own state dir below the global one. */
export function siteOptions<O extends SourceOptions>(opts: O, site: string): O {
  return { ...opts, site, stateDir: join(stateDir(opts.stateDir), 'sites', site) };
}

/**
 * The shard names the site file declares (`spec.shards`), or undefined. Read without validating: the run
 * validates the repo as a whole before it changes anything.
 */
export function shardNames(dir: string, site: string | undefined): string[] | undefined {
  try {
    const file = join(dir, site === undefined ? 'shipshape.yaml' : join('sites', `${site}.yaml`));
    const text = readFileSync(file, 'utf8');
    // Most sites have no shards: the file is parsed (the load parses it again) only when the word is in it, or
    // an escape that could spell it in a quoted key.
    if (!text.includes('shards') && !text.includes('\\')) return undefined;
    const shards = (yamlLib().parse(text) as { spec?: { shards?: unknown } } | null)?.spec?.shards;
    return shards && typeof shards === 'object' && !Array.isArray(shards) ? Object.keys(shards).sort() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The options of one shard's run: its own state dir (run lock, create journal, history) below the site's;
 * install records stay the site's, where its provisioning server writes them.
 */
export function shardOptions<O extends SourceOptions>(opts: O, shard: string): O {
  const site = stateDir(opts.stateDir);
  return { ...opts, shard, stateDir: join(site, 'shards', shard), sharedStateDir: opts.sharedStateDir ?? site };
}

/** `berlin`, `berlin.dev` or `dev`: names a run's section, summary entry and per-run output file. */
export const runName = (o: SourceOptions): string => [o.site, o.shard].filter((x) => x !== undefined).join('.');

/** `plan.md` → `plan.berlin.md`: with several sites, each site's report goes to a file of its own. */
export function siteFile(file: string, site: string): string {
  const ext = extname(file);
  return join(file.slice(0, file.length - basename(file).length), `${basename(file, ext)}.${site}${ext}`);
}

export interface SiteResult {
  site: string;
  code: number;
  /** The first line of the error that stopped the site's run. */
  error?: string;
}

/**
 * Calls `run` for each site `opts.site` selects (all when unset). The returned code is the first failed
 * site's, otherwise the highest of the sites' codes (2: changes or drift somewhere).
 */
export async function forEachSite<O extends SourceOptions>(
  opts: O,
  io: Io,
  run: (o: O, multi: boolean) => Promise<number>,
  /** Why the command cannot run several sites in one go with these options (e.g. JSON to stdout). */
  refuseSeveral?: string,
): Promise<number> {
  // With --repo the names come from the fetched checkout; each site's run fetches into its own state dir.
  const dir = opts.repo ? (await resolveSource(opts, io)).dir : opts.dir;
  const names = siteNames(dir);
  if (names && opts.site !== undefined && !names.includes(opts.site))
    throw new ExitError(1, `--site ${opts.site}: no such site; the repo has ${names.join(', ')} (sites/<name>.yaml)`);
  const sites = !names ? [opts] : (opts.site !== undefined ? [opts.site] : names).map((s) => siteOptions(opts, s));
  // A site with shards runs shard by shard (`--shard` picks one), each with its own lock and state dir.
  const chosen = sites.flatMap((o) => {
    const shards = shardNames(dir, o.site);
    if (o.shard !== undefined) {
      if (!shards?.includes(o.shard))
        throw new ExitError(
          1,
          `--shard ${o.shard}: ${shards ? `no such shard in ${o.site ? `site ${o.site}` : 'the site'}; it has ${shards.join(', ')}` : `${o.site ? `site ${o.site}` : 'the site'} declares no shards`} (spec.shards)`,
        );
      return [shardOptions(o, o.shard)];
    }
    return shards ? shards.map((sh) => shardOptions(o, sh)) : [o];
  });
  if (chosen.length === 1) return run(chosen[0]!, false);
  const what = names ? (chosen.some((o) => o.shard) ? 'sites and shards' : 'sites') : 'shards';
  if (refuseSeveral)
    throw new ExitError(
      1,
      `the repo has ${chosen.length} ${what} (${chosen.map(runName).join(', ')}): ${refuseSeveral.replace('--site NAME', names ? '--site NAME' : '--shard NAME')}`,
    );
  // The repo is validated as a whole once: an invalid repo stops every site, with each problem said once.
  await loadValid(dir, io.err, chosen[0]!.site);
  const results: SiteResult[] = [];
  for (const o of chosen) {
    const site = runName(o);
    io.out(
      o.shard === undefined
        ? `\n=== site ${o.site} (sites/${o.site}.yaml) ===\n`
        : `\n=== shard ${o.shard}${o.site ? ` of site ${o.site}` : ''} ===\n`,
    );
    try {
      results.push({ site, code: await run({ ...o, validated: true }, true) });
    } catch (e) {
      const text = describeError(e, !!process.env.SHIPSHAPE_DEBUG);
      if (text) io.err(`site ${site}: ${text}`);
      const code = e instanceof ExitError ? e.code : exitCodeFor([codeOf(e)]);
      const first = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      results.push({ site, code: code || 1, ...(first ? { error: first } : {}) });
    }
  }
  const failed = results.filter((r) => r.error !== undefined || (r.code !== 0 && r.code !== 2));
  io.out(
    `\n${what}: ${results
      .map((r) =>
        failed.includes(r) ? `${r.site} FAILED (exit ${r.code}${r.error ? `: ${r.error}` : ''})` : `${r.site} ok`,
      )
      .join(', ')}\n`,
  );
  if (failed.length)
    throw new ExitError(
      failed[0]!.code,
      `${failed.length} of ${results.length} ${what} failed: ${failed.map((r) => r.site).join(', ')}`,
    );
  return Math.max(...results.map((r) => r.code));
}
