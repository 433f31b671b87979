/**
 * A repo + three sshd "hosts" on loopback for the specialisation tests: the shipped example roles
 * (copied from roles/), a test role that can be made to fail in its middle step, and helpers that
 * run the real loader, observe, planner, executor and drift report.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { applyPlan, type ApplyReport } from '../../src/engine/apply';
import type { Logger, Observation, ProviderContext, ResourceKind, Provider } from '../../src/engine/contract';
import { loadRepo, formatDiagnostic } from '../../src/manifest';
import type { DesiredSystem } from '../../src/manifest/types';
import { observeAll } from '../../src/cli/pipeline';
import { plan as makePlan } from '../../src/plan/planner';
import type { Plan } from '../../src/plan/types';
import { SpecialiseProvider } from '../../src/providers/specialise/provider';
import { removeDir, tempDir } from '../helpers/daemon';
import type { TestHosts } from '../helpers/sshd-hosts';

export const ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
export const NAMES = ['host-a', 'host-b', 'host-c'];

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg?: string;
}

export function captureLog(lines: LogLine[]): Logger {
  const at = (level: string) => (obj: object | string, msg?: string) => {
    lines.push({
      level,
      obj: typeof obj === 'string' ? { msg: obj } : (obj as Record<string, unknown>),
      ...(msg ? { msg } : {}),
    });
  };
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

const FLAKY = `apiVersion: shipshape.dev/v1
kind: Role
metadata: { name: test/flaky }
spec:
  params:
    type: object
    additionalProperties: false
    properties: { level: { type: integer, default: 1 } }
  steps:
    - name: first file
      file: { path: /etc/flaky/one.conf, template: templates/one.conf, mode: "0600" }
    - name: may fail
      script: |
        echo "flaky step 2 running"
        if [ -e "$SHIPSHAPE_ROOT/fail-here" ]; then echo "preparing"; echo "simulated failure: $(cat "$SHIPSHAPE_ROOT/fail-here")" >&2; exit 3; fi
    - name: second file
      file: { path: /etc/flaky/two.conf, template: templates/one.conf }
  check: |
    test -e "$SHIPSHAPE_ROOT/etc/flaky/two.conf"
`;

export class SpecialiseLab {
  readonly repo = tempDir('specialise-repo');
  readonly targets = tempDir('specialise-targets');
  readonly log: LogLine[] = [];
  private providers: SpecialiseProvider[] = [];

  constructor(readonly net: TestHosts) {
    cpSync(join(__dirname, '..', '..', 'examples', 'lab', 'roles'), join(this.repo, 'roles'), { recursive: true });
    mkdirSync(join(this.repo, 'roles/test/flaky/templates'), { recursive: true });
    writeFileSync(join(this.repo, 'roles/test/flaky/role.yaml'), FLAKY);
    writeFileSync(join(this.repo, 'roles/test/flaky/templates/one.conf'), 'level = {{ params.level }}\n');
    mkdirSync(join(this.repo, 'os/debian12'), { recursive: true });
    writeFileSync(
      join(this.repo, 'os/debian12/os.yaml'),
      'apiVersion: shipshape.dev/v1\nkind: OperatingSystem\nmetadata: { name: debian12 }\nspec: { family: debian, installer: preseed, release: "12", boot: { kernel: linux, initrd: initrd.gz }, answerFile: preseed.cfg.tpl }\n',
    );
    writeFileSync(join(this.repo, 'os/debian12/preseed.cfg.tpl'), 'd-i debian-installer/locale string en_US.UTF-8\n');
    this.knownHosts(net.hosts.map((h) => h.hostPub));
    writeFileSync(
      join(this.repo, 'shipshape.yaml'),
      [
        'apiVersion: shipshape.dev/v1',
        'kind: Site',
        'spec:',
        '  lab: true',
        `  secrets: { folders: [${dirname(net.clientKeyPath)}] }`,
        '  nets:',
        '    lo-net: { cidr: 127.0.0.0/24, domain: lab.example.test }',
        '  specialise:',
        '    user: root',
        `    port: ${net.port}`,
        `    privateKey: \${file:${net.clientKeyPath}}`,
        '    knownHosts: known_hosts',
        `    rootPrefix: ${this.targets}/{system}`,
        '    connectTimeoutSeconds: 5',
        '    commandTimeoutSeconds: 30',
        '',
      ].join('\n'),
    );
    mkdirSync(join(this.repo, 'systems'));
  }

  /** known_hosts with one line per host, in the order of the sshd hosts. */
  knownHosts(pubs: string[]): void {
    writeFileSync(
      join(this.repo, 'known_hosts'),
      pubs.map((p, i) => `[${this.net.hosts[i]?.address ?? ADDRESSES[i]}]:${this.net.port} ${p}`).join('\n') + '\n',
    );
  }

  system(i: number, roles: string): void {
    writeFileSync(
      join(this.repo, 'systems', `${NAMES[i]}.yaml`),
      [
        'apiVersion: shipshape.dev/v1',
        'kind: System',
        `metadata: { name: ${NAMES[i]} }`,
        'spec:',
        '  cpu: 1',
        '  memoryMiB: 512',
        '  disks: [{ sizeGiB: 10 }]',
        '  os: debian12',
        `  network: { net: lo-net, ip: ${ADDRESSES[i]} }`,
        `  roles: ${roles}`,
        '',
      ].join('\n'),
    );
  }

  root(i: number): string {
    return join(this.targets, NAMES[i]!);
  }

  file(i: number, path: string): string {
    return readFileSync(join(this.root(i), path), 'utf8');
  }

  /** Loads the repo, observes with the specialise provider and plans, as `shipshape plan` does. */
  async plan(extra: Provider[] = []): Promise<{
    plan: Plan;
    systems: DesiredSystem[];
    providers: Provider[];
    observations: Map<ResourceKind, Observation>;
    ctx: ProviderContext;
    provider: SpecialiseProvider;
  }> {
    const repo = await loadRepo(this.repo);
    if (!repo.ok || !repo.site) throw new Error(repo.diagnostics.map(formatDiagnostic).join('\n'));
    const provider = new SpecialiseProvider({ site: repo.site, roles: repo.roles, systems: repo.systems });
    this.providers.push(provider);
    const providers = [...extra, provider];
    const ctx: ProviderContext = { site: repo.site, log: captureLog(this.log), lab: true, commit: 'c0ffee' };
    const observations = await observeAll(providers, ctx, repo.systems);
    const plan = makePlan({
      systems: repo.systems,
      site: repo.site,
      providers,
      observations,
      maxDeletes: 3,
      now: new Date(),
    });
    return { plan, systems: repo.systems, providers, observations, ctx, provider };
  }

  async apply(): Promise<{ plan: Plan; report: ApplyReport; ran: string[] }> {
    const p = await this.plan();
    const from = this.log.length;
    const report = await applyPlan({
      plan: p.plan,
      systems: p.systems,
      providers: p.providers,
      observations: p.observations,
      ctx: p.ctx,
      concurrency: 4,
      retry: { attempts: 1, baseDelayMs: 10 },
    });
    return { plan: p.plan, report, ran: this.ranSince(from) };
  }

  /** `system role` for every role that ran since log line `from`. */
  ranSince(from: number): string[] {
    return this.log
      .slice(from)
      .filter((l) => l.msg === 'running role')
      .map((l) => `${l.obj.system} ${l.obj.role}`)
      .sort();
  }

  async close(): Promise<void> {
    await Promise.all(this.providers.map((p) => p.close()));
  }
}

/** afterAll of a specialise test: the providers' connections, the sshd hosts, and the folders of both. */
export async function stopSpecialiseLab(lab: SpecialiseLab | undefined, net: TestHosts | undefined): Promise<void> {
  await lab?.close();
  await net?.stop();
  if (net) removeDir(net.dir);
  if (lab) {
    removeDir(lab.repo);
    removeDir(lab.targets);
  }
}
