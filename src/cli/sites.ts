/**
 * Runs a command once per site of a repo with sites/<name>.yaml: one after another, each with its own
 * state dir (<state>/sites/<name>: run lock, create journal, drift and run history, install records,
 * git cache) and its own section of the report. A site that fails (unreachable vCenter, refused
 * credentials, a failed system) never stops the sites after it; the summary and the exit code say
 * which failed. A repo with one shipshape.yaml runs exactly as before.
 */
import { readdirSync } from 'node:fs';
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
  if (!names) return run(opts, false);
  if (opts.site !== undefined && !names.includes(opts.site))
    throw new ExitError(1, `--site ${opts.site}: no such site; the repo has ${names.join(', ')} (sites/<name>.yaml)`);
  const chosen = opts.site !== undefined ? [opts.site] : names;
  if (chosen.length === 1) return run(siteOptions(opts, chosen[0]!), false);
  if (refuseSeveral)
    throw new ExitError(1, `the repo has ${chosen.length} sites (${chosen.join(', ')}): ${refuseSeveral}`);
  // The repo is validated as a whole once: an invalid repo stops every site, with each problem said once.
  await loadValid(dir, io.err, chosen[0]);
  const results: SiteResult[] = [];
  for (const site of chosen) {
    io.out(`\n=== site ${site} (sites/${site}.yaml) ===\n`);
    try {
      results.push({ site, code: await run({ ...siteOptions(opts, site), validated: true }, true) });
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
    `\nsites: ${results
      .map((r) =>
        failed.includes(r) ? `${r.site} FAILED (exit ${r.code}${r.error ? `: ${r.error}` : ''})` : `${r.site} ok`,
      )
      .join(', ')}\n`,
  );
  if (failed.length)
    throw new ExitError(
      failed[0]!.code,
      `${failed.length} of ${results.length} sites failed: ${failed.map((r) => r.site).join(', ')}`,
    );
  return Math.max(...results.map((r) => r.code));
}
