/**
 * Every condition apply checks before it acts and refuses on, in one table. The planner foresees
 * each from the observation (the action is `blocked` with the refusal's id, its outcome code and
 * what to do); apply throws `Refusal` with the same id when the world changed under a plan or a
 * plan did not foresee it. `test/plan/foresee.test.ts` reads this table and the source: a refusal
 * apply throws that is not in the table, or one the table holds but no plan scenario shows, fails it.
 */
import type { ResourceKind } from './contract';
import { UserError } from './contract';
import type { BLOCKING_CODES } from './outcome';

type BlockingCode = (typeof BLOCKING_CODES)[number];

export interface RefusalDef {
  /** The step that refuses; `*` for the engine's own checks (every kind). */
  kind: ResourceKind | '*';
  code: BlockingCode;
  /** What is refused, for the README and the tests. */
  what: string;
}

export const REFUSALS = {
  protected: { kind: '*', code: 'protected', what: 'a delete of a system the manifest protects (lifecycle.protect)' },
  'not-owned': { kind: '*', code: 'not-owned', what: "a change to a resource without shipshape's marker" },
  ambiguous: { kind: '*', code: 'ambiguous', what: 'several resources claim one system' },
  'power-policy': {
    kind: 'vm',
    code: 'refused',
    what: 'a CPU, memory or MAC change of a running VM whose powerPolicy is never (it needs a power-off)',
  },
  'mac-range': {
    kind: 'vm',
    code: 'refused',
    what: "a VM made with, or given, a MAC outside VMware's manual range 00:50:56:00:00:00–00:50:56:3f:ff:ff (vCenter refuses it); an existing VM keeps its own",
  },
  'template-missing': {
    kind: 'vm',
    code: 'refused',
    what: "a VM whose OS template (vms.templates.<os>) is not in vCenter's inventory (nothing to clone from)",
  },
  'placement-missing': {
    kind: 'vm',
    code: 'refused',
    what: "a VM whose datacenter, cluster, resource pool, host or datastore is not in vCenter's inventory, for a create, a move or a new disk (VM folders are created; a port group is portgroup-name's)",
  },
  'disk-shrink': { kind: 'vm', code: 'refused', what: 'a smaller disk than the VM has (vSphere only grows disks)' },
  'disk-move': { kind: 'vm', code: 'refused', what: 'a disk on another datastore (Storage vMotion)' },
  'disk-remove': { kind: 'vm', code: 'refused', what: 'a disk the VM has but the manifest does not list' },
  'portgroup-name': {
    kind: 'vm',
    code: 'refused',
    what: 'a port group value that names no port group of the datacenter, or several (a bare name port groups in two folders or on two switches share)',
  },
  'address-held': {
    kind: 'ip',
    code: 'collides',
    what: 'an explicit address another object holds, or the gateway, a reserved address, one outside the net or declared by another system',
  },
  'net-full': {
    kind: 'ip',
    code: 'refused',
    what: 'an address (ip: auto) in a layer-3 net with no free address left for it in i-doit',
  },
  'record-held': {
    kind: 'dns',
    code: 'collides',
    what: "a DNS record whose name (the system's, an alias, the PTR of its address) the operator's records already take",
  },
  'net-missing': {
    kind: 'ip',
    code: 'refused',
    what: 'an address in a layer-3 net (network.net) that i-doit does not have',
  },
  'net-ambiguous': {
    kind: 'ip',
    code: 'ambiguous',
    what: 'an address in a layer-3 net (network.net) whose title several i-doit nets share (shipshape does not guess which one is meant)',
  },
  reinstall: { kind: 'install', code: 'refused', what: 'another OS for a system that is installed (built)' },
  'role-artefact': {
    kind: 'specialise',
    code: 'refused',
    what: 'a role (version) whose files or package (.deb) do not exist in the repo',
  },
  'host-key': {
    kind: 'specialise',
    code: 'refused',
    what: 'a system reachable only without a trusted host key (never trust on first use)',
  },
  'hand-line': {
    kind: '*',
    code: 'refused',
    what: "taking over (adopt) a hand-written DNS record or DHCP reservation that shipshape cannot move out of the operator's file as it is (not a line of that file, a line others depend on, settings shipshape does not manage, or a backend that cannot adopt)",
  },
  'reservation-held': {
    kind: 'dhcp',
    code: 'collides',
    what: "a reservation whose MAC or address a reservation on the server that is not this system's already holds",
  },
  'foreign-record': {
    kind: 'specialise',
    code: 'refused',
    what: "a role record on the target that is not shipshape's",
  },
} as const satisfies Record<string, RefusalDef>;

export type RefusalId = keyof typeof REFUSALS;

/** Apply refusing to act: a UserError with the refusal's outcome code and its id. */
export class Refusal extends UserError {
  constructor(
    readonly refusal: RefusalId,
    message: string,
  ) {
    super(message, REFUSALS[refusal].code);
  }
}

export function isRefusal(e: unknown): e is Refusal {
  return e instanceof Refusal;
}
