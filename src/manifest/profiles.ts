/** Profile-level rules: unique names, known parents, no inheritance cycles. */
import { suggest } from './ajv-messages';
import type { Diagnostics } from './diagnostics';
import type { LoadedProfile } from './expand';
import { formatSource } from './types';
import { locate } from './yaml-file';

/** `broken`: names of profile files that exist but failed to load (reported by their own errors). */
export function indexProfiles(
  loaded: LoadedProfile[],
  broken: Set<string>,
  diags: Diagnostics,
): Map<string, LoadedProfile> {
  const byName = new Map<string, LoadedProfile>();
  for (const p of loaded) {
    const name = p.manifest.metadata.name;
    const first = byName.get(name);
    if (first) {
      diags.error(
        locate(p.pf, ['metadata', 'name']),
        `profile name \`${name}\` is already used by ${formatSource(locate(first.pf, ['metadata', 'name']))}`,
      );
    } else byName.set(name, p);
  }
  for (const p of byName.values()) {
    const parent = p.manifest.spec.extends;
    if (parent !== undefined && !byName.has(parent) && broken.has(parent)) {
      diags.error(
        locate(p.pf, ['spec', 'extends']),
        `profile \`${parent}\` has errors (see its file in profiles/): \`${p.manifest.metadata.name}\` cannot extend it until they are fixed`,
      );
    } else if (parent !== undefined && !byName.has(parent)) {
      const hint = suggest(parent, [...byName.keys()]);
      diags.error(
        locate(p.pf, ['spec', 'extends']),
        `unknown profile \`${parent}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}: declare it in profiles/`,
      );
    }
  }
  // Each profile has at most one parent, so a cycle is found by walking up from every profile.
  const reported = new Set<string>();
  for (const start of byName.keys()) {
    const path: string[] = [];
    let name: string | undefined = start;
    while (name !== undefined && byName.has(name) && !path.includes(name)) {
      path.push(name);
      name = byName.get(name)?.manifest.spec.extends;
    }
    if (name === undefined || !path.includes(name)) continue;
    const cycle = [...path.slice(path.indexOf(name)), name];
    for (const member of cycle.slice(0, -1)) {
      if (reported.has(member)) continue;
      reported.add(member);
      const p = byName.get(member) as LoadedProfile;
      const from = cycle.indexOf(member);
      const loop = [...cycle.slice(from, -1), ...cycle.slice(0, from), member].join(' → ');
      diags.error(locate(p.pf, ['spec', 'extends']), `profile inheritance cycle: ${loop}`);
    }
  }
  return byName;
}
