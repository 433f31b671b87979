import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../../engine/contract';
import { loadRepo, reportedOnce } from '../../manifest';
import { InstallStore, installStateDir } from '../../providers/install/store';
import type { Io } from '../io';
import { stateDir } from '../pipeline';
import { resolveSource, type SourceOptions } from './plan';

/** `shipshape status`: the installation state of every system, from the state dir (read-only, no backend contacted). */
export async function statusCommand(
  opts: SourceOptions & { format: 'text' | 'markdown' | 'json' },
  io: Io,
): Promise<number> {
  const records = await new InstallStore(installStateDir(stateDir(opts.stateDir))).all();
  const dir = resolve((await resolveSource(opts, io)).dir);
  if (!existsSync(dir))
    throw new UserError(`repo directory ${dir} does not exist: run status in the site repo, or name it with -C DIR`);
  const repo = await loadRepo(dir);
  const errors = reportedOnce(repo.diagnostics).filter((d) => d.severity === 'error').length; // as validate counts them
  // Still shown: the install records do not depend on the manifests; only the list of declared systems does.
  if (errors)
    io.err(
      `warning: ${errors} error${errors === 1 ? '' : 's'} in ${dir} (\`shipshape validate\` lists them): a system whose manifest has errors may be missing below`,
    );
  const declared = repo.systems.filter((s) => s.state === 'present').map((s) => s.name);
  const byName = new Map(records.map((r) => [r.system, r]));
  const rows = [...new Set([...declared, ...byName.keys()])].sort().map((name) => {
    const r = byName.get(name);
    return {
      system: name,
      os: r?.os ?? '',
      state: r?.state ?? 'not requested',
      attempt: r?.attempt ?? 0,
      bootPath: r?.bootPath ?? '',
      since: r?.updatedAt ?? '',
      declared: declared.includes(name),
    };
  });
  if (opts.format === 'json') {
    io.out(JSON.stringify({ systems: rows }, null, 2) + '\n');
  } else if (opts.format === 'markdown') {
    io.out(
      [
        '| system | OS | install | attempt | boot | since |',
        '|---|---|---|---|---|---|',
        ...rows.map(
          (r) =>
            `| ${r.system}${r.declared ? '' : ' (no manifest)'} | ${r.os} | ${r.state} | ${r.attempt || ''} | ${r.bootPath} | ${r.since} |`,
        ),
      ].join('\n') + '\n',
    );
  } else {
    const head = ['SYSTEM', 'OS', 'INSTALL', 'ATTEMPT', 'BOOT', 'SINCE'];
    const lines = rows.map((r) => [
      r.system + (r.declared ? '' : ' (no manifest)'),
      r.os,
      r.state,
      r.attempt ? String(r.attempt) : '',
      r.bootPath,
      r.since,
    ]);
    const width = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    for (const l of [head, ...lines])
      io.out(
        l
          .map((c, i) => c.padEnd(width[i]!))
          .join('  ')
          .trimEnd() + '\n',
      );
  }
  return rows.some((r) => r.state === 'failed' || r.state === 'timed-out') ? 2 : 0;
}
