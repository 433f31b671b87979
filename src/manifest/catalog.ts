/** The OS catalog (os/<name>/os.yaml) and roles (roles/<path>/role.yaml), as later issues consume them. */
import type { SourceRef } from './types';

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
  /** Steps as written; the specialisation issue gives them a type. */
  steps: Record<string, unknown>[];
  /** The role.yaml that declares it, relative to the repo root. */
  file: string;
  source: SourceRef;
}
