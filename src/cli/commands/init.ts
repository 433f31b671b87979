/**
 * `shipshape init [DIR]`: scaffolds a site repo from the package's templates/site: a commented
 * shipshape.yaml for a real site, one profile, one example system, the OS catalog, the baseline role,
 * the GitHub and GitLab pipelines (pinned to this shipshape version) and a README for the site team.
 * Never overwrites: a folder that already holds any of these files is refused, nothing is written.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { packageRoot, version } from '../version';

/** npm never packs a file named .gitignore: the template holds it without the dot. */
const RENAMED: Record<string, string> = { gitignore: '.gitignore' };
/** Pipeline files and the README name the version to pin. */
const VERSION_MARK = '@SHIPSHAPE_VERSION@';

function files(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? files(p, base) : [relative(base, p)];
  });
}

export function initCommand(dir: string, io: Io): number {
  const target = resolve(dir);
  const source = join(packageRoot(), 'templates', 'site');
  const plan = files(source)
    .sort()
    .map((rel) => ({ rel, to: RENAMED[rel] ?? rel }));
  const taken = plan.filter((f) => existsSync(join(target, f.to))).map((f) => f.to);
  if (taken.length) {
    throw new ExitError(
      1,
      `error: ${target} already holds ${taken.slice(0, 5).join(', ')}${taken.length > 5 ? ` and ${taken.length - 5} more` : ''}; init never overwrites a site. Run it in an empty folder.`,
    );
  }
  const v = version();
  for (const f of plan) {
    const to = join(target, f.to);
    mkdirSync(join(to, '..'), { recursive: true });
    const text = readFileSync(join(source, f.rel));
    if (text.includes(VERSION_MARK)) writeFileSync(to, text.toString('utf8').split(VERSION_MARK).join(v));
    else cpSync(join(source, f.rel), to);
  }
  io.out(
    [
      `created a site repo in ${target} (shipshape ${v}):`,
      ...plan.map((f) => `  ${f.to}`),
      '',
      'Next:',
      '  1. edit shipshape.yaml: your vCenter, i-doit, nets, DNS zones, DHCP servers (every name in it is an example)',
      '  2. shipshape validate',
      '  3. put the secrets in secrets/ (git-ignored) and the environment, then: shipshape plan',
      '  4. README.md: the pipelines, and the credentials each job needs',
      '',
    ].join('\n'),
  );
  return 0;
}
