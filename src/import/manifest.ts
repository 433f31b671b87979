/**
 * Pure half of `shipshape import`: what was found of one existing system in each backend (facts) →
 * the text of its manifest. The profile chosen is the one that leaves the fewest overrides (none
 * when one fits); every fact found is recorded as a comment at the top, and whatever could not be
 * mapped onto a manifest field is said there too, so the reviewer of the import sees it.
 */
import { stringify } from 'yaml';

/** The values of a manifest that import maps from reality (what a profile can set for it). */
export interface ImportedValues {
  cpu: number;
  memoryMiB: number;
  disks: { sizeGiB: number; datastore?: string }[];
  os?: string;
  net?: string;
  portgroup?: string;
}

/** A profile's values after its `extends` chain (only the fields import maps). */
export interface ProfileValues {
  name: string;
  cpu?: number;
  memoryMiB?: number;
  disks?: { sizeGiB: number; datastore?: string }[];
  os?: string;
  net?: string;
  portgroup?: string;
}

export interface ImportFacts {
  name: string;
  values: ImportedValues;
  /** The NIC's MAC as it is: an adopted system keeps it (written as network.mac). */
  mac?: string;
  /** The address found (i-doit host address, else the A record): written as network.ip. */
  ip?: string;
  /** One line per fact found, by backend (`vSphere: VM vm-42, instanceUuid …`). */
  found: string[];
  /** What could not be mapped onto the manifest: said as comments, for a person to decide. */
  unmapped: string[];
  /**
   * Its DNS as found: the CNAMEs that point at its name (`aliases`, relative to its domain where they
   * lie in it) and its domain where that is not its net's, so the first plan keeps them.
   */
  dns?: { domain?: string; aliases?: string[] };
  /** Where the VM is, where that differs from the site's defaults (`placement:`): adopting never moves it. */
  placement?: Record<string, string>;
  /** The OS when no profile sets one (vCenter does not record the template a VM came from). */
  defaultOs?: string;
}

const FIELDS = ['cpu', 'memoryMiB', 'disks', 'os', 'net', 'portgroup'] as const;
type Field = (typeof FIELDS)[number];

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The fields of `v` a system on `profile` must still set itself. */
export function overrides(v: ImportedValues, profile: ProfileValues | undefined): Field[] {
  return FIELDS.filter((f) => v[f] !== undefined && !same(v[f], profile?.[f]));
}

/**
 * The profile that leaves the fewest overrides; ties go to the profile listed first (sorted by
 * name), and no profile at all only when none saves anything.
 */
export function chooseProfile(v: ImportedValues, profiles: ProfileValues[]): ProfileValues | undefined {
  let best: ProfileValues | undefined;
  let fewest = overrides(v, undefined).length;
  for (const p of [...profiles].sort((a, b) => a.name.localeCompare(b.name))) {
    const n = overrides(v, p).length;
    if (n < fewest) [best, fewest] = [p, n];
  }
  return best;
}

export function manifestText(facts: ImportFacts, profiles: ProfileValues[], when: Date): string {
  const v = facts.values;
  const profile = chooseProfile(v, profiles);
  const own = new Set(overrides(v, profile));
  const spec: Record<string, unknown> = {};
  if (profile) spec.profile = profile.name;
  if (own.has('cpu')) spec.cpu = v.cpu;
  if (own.has('memoryMiB')) spec.memoryMiB = v.memoryMiB;
  if (own.has('disks')) spec.disks = v.disks;
  const network: Record<string, string> = {};
  if (own.has('net') && v.net) network.net = v.net;
  if (own.has('portgroup') && v.portgroup) network.portgroup = v.portgroup;
  if (facts.ip) network.ip = facts.ip;
  if (facts.mac) network.mac = facts.mac;
  if (Object.keys(network).length) spec.network = network;
  if (facts.dns && Object.keys(facts.dns).length) spec.dns = facts.dns;
  if (facts.placement && Object.keys(facts.placement).length) spec.placement = facts.placement;
  if (own.has('os') && v.os) spec.os = v.os;
  else if (!profile?.os && facts.defaultOs) spec.os = facts.defaultOs;
  const doc = { apiVersion: 'shipshape.dev/v1', kind: 'System', metadata: { name: facts.name }, spec };
  const head = [
    `# Imported by \`shipshape import\` on ${when.toISOString().slice(0, 10)}: the system as it exists, not yet`,
    "# shipshape's. `shipshape adopt` takes it over once the plan shows the manifest matches it.",
    `# Profile: ${profile ? `${profile.name} (${own.size} override${own.size === 1 ? '' : 's'})` : 'none fits better than setting every value here'}.`,
    '# Found:',
    ...facts.found.map((f) => `#   ${f}`),
    ...(facts.unmapped.length ? ['# Not mapped (decide by hand):', ...facts.unmapped.map((u) => `#   ${u}`)] : []),
  ];
  return `${head.join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}
