/**
 * How many systems each step works on at once: `defaults.stepConcurrency.<step>` in shipshape.yaml,
 * else `defaults.concurrency` when the site sets it (every step alike, as before steps had their
 * own), else the step's default below. `apply --concurrency N` sets every step to N.
 *
 * Why these defaults (each step is bound by a different thing):
 * - `vm` 16: clones, reconfigures and power-ons are vCenter tasks that mostly wait; vCenter runs
 *   8 provisioning operations per host at once and queues the rest (vSphere Configuration
 *   Maximums, "Concurrent operations"), so 16 keeps a two-host cluster busy without a long queue
 *   counting against `vms.taskTimeoutSeconds`.
 * - `install` 32: an installation is a wait for the installer's callback (minutes on real
 *   hardware); what it costs is the provisioning server's and mirror's bandwidth.
 * - `ip` 8, `cmdb` 8: i-doit answers each JSON-RPC request in a PHP worker; allocations of one
 *   net are serialised inside shipshape anyway (providers/idoit/ipam.ts).
 * - `dns` 64, `dhcp` 64: a step only changes the zone or reservation set in memory; the deploy
 *   is one per zone or server for the whole run (commit), so there is nothing to limit.
 * - `specialise` 8: one SSH session per system running its roles, encrypted on this host.
 */
export const STEPS = ['ip', 'dns', 'dhcp', 'vm', 'install', 'specialise', 'cmdb'] as const;
export type Step = (typeof STEPS)[number];

export const STEP_CONCURRENCY: Readonly<Record<Step, number>> = {
  ip: 8,
  dns: 64,
  dhcp: 64,
  vm: 16,
  install: 32,
  specialise: 8,
  cmdb: 8,
};

/** Each step's concurrency from the site's `defaults` as written. */
export function stepConcurrency(
  d: { concurrency?: number; stepConcurrency?: Partial<Record<Step, number>> } = {},
): Record<Step, number> {
  const out = {} as Record<Step, number>;
  for (const s of STEPS) out[s] = d.stepConcurrency?.[s] ?? d.concurrency ?? STEP_CONCURRENCY[s];
  return out;
}
