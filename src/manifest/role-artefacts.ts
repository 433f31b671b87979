/**
 * A role version must have its files: `deb: files/shop_{{ version }}_all.deb` is checked when a system
 * names the version (`app/shop@7.4.3`), by compiling the role for that system exactly as apply will.
 * So a version without its package is a validate error at the system's line, and never a failed apply.
 */
import { RoleCompiler, RoleError } from '../providers/specialise/role-model';
import type { RoleDef } from './catalog';
import { fileStart, type Diagnostics } from './diagnostics';
import type { DesiredSystem } from './types';

export function checkRoleArtefacts(
  root: string,
  systems: DesiredSystem[],
  roles: Record<string, RoleDef>,
  diags: Diagnostics,
): void {
  const compiler = new RoleCompiler(root, roles, undefined, 1000);
  for (const s of systems) {
    if (s.state !== 'present') continue;
    s.roles.forEach((ref, i) => {
      // Unversioned roles' files are checked with the role itself (loader); unknown roles by the rules.
      if (ref.version === undefined || !Object.hasOwn(roles, ref.name)) return;
      try {
        compiler.compile(s, ref);
      } catch (e) {
        if (!(e instanceof RoleError)) throw e;
        diags.error(
          s.sources[`roles[${i}]`] ?? s.sources.roles ?? fileStart(s.file),
          `${ref.name}@${ref.version}: ${e.message}`,
        );
      }
    });
  }
}
