/** The OS catalog (os/<name>/os.yaml) and roles (roles/<path>/role.yaml), as later issues consume them. */
import type { RawRoleStep } from './raw';
import type { SourceRef } from './types';

/** A validated role step: exactly one action key (file, script, packages, deb, service, absent). */
export type RoleStep = RawRoleStep;
export const STEP_ACTIONS = ['file', 'script', 'packages', 'deb', 'service', 'absent'] as const;
export type StepAction = (typeof STEP_ACTIONS)[number];

export interface OsEntry {
  name: string;
  family: 'debian' | 'rhel';
  installer: 'preseed' | 'kickstart';
  release: string;
  /** Installer kernel and initrd, relative to the site's mirror URL for this OS. */
  boot: { kernel: string; initrd: string };
  /** The answer-file template, relative to the repo root (next to os.yaml). */
  answerFile: string;
  /** vSphere template when the site's vsphere.templates names none. */
  vsphereTemplate?: string;
  /** Packages the installer adds. */
  packages: string[];
  /** The os.yaml that declares it, relative to the repo root. */
  file: string;
  source: SourceRef;
}

export interface RoleDef {
  /** Role path under roles/, e.g. `app/shop`. */
  name: string;
  /** JSON Schema (type object) the role's params are validated against. */
  paramsSchema: Record<string, unknown>;
  /** Ordered steps, run over SSH when the role's digest changed or its check failed. */
  steps: RoleStep[];
  /** Shell script (template) that exits 0 while the role still holds; drift and plan run it. */
  check?: string;
  /** Steps that undo the role when a system stops listing it; none means it cannot be undone. */
  remove: RoleStep[];
  /** The role.yaml that declares it, relative to the repo root. */
  file: string;
  source: SourceRef;
}
