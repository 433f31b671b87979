/**
 * The `shipshape` command line (commander). Every command returns an exit code; nothing prints a stack trace unless SHIPSHAPE_DEBUG is set.
 * A command's module is loaded when that command runs (`cmd.x()`): `plan` never loads serve's file
 * watcher, the status page, the lab or `import`, which are most of the start-up a short command pays.
 */
import { codeOf, exitCodeFor } from '../engine/outcome';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_WAIT, parseDuration } from './wait-lock';
import { parseWebhook, type Webhook } from '../notify/webhook';
import { describeError, ExitError } from './errors';
import { processIo, redactingIo, type Io } from './io';
import { createLogger } from './log';
import { version } from './version';
import { RESOURCE_KINDS, UserError } from '../engine/contract';
import { isTargeted, parseKinds, parseSelector, splitList, type Target } from '../plan/target';

/** Each command's module, loaded on first use. */
const cmd = {
  adopt: () => import('./commands/adopt'),
  import: () => import('./commands/import'),
  apply: () => import('./commands/apply'),
  drift: () => import('./commands/drift'),
  lab: () => import('./commands/lab'),
  init: () => import('./commands/init'),
  ownership: () => import('./commands/ownership'),
  plan: () => import('./commands/plan'),
  provision: () => import('./commands/provision'),
  serve: () => import('./commands/serve'),
  status: () => import('./commands/status'),
  validate: () => import('./commands/validate'),
  history: () => import('./commands/history'),
  ui: () => import('./commands/ui'),
  pipeline: () => import('./pipeline'),
};

const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`);
  return n;
};

/** Where the manifests come from, the same on every command that reads them: a folder, or a git repository. */
const dirOption = () => new Option('-C, --dir <dir>', 'the repo (a local folder)').default('.');
const repoOption = () =>
  new Option('--repo <url>', 'fetch the manifests from this git repository on every run (instead of --dir)');
const refOption = () => new Option('--ref <ref>', 'branch, tag or commit of --repo').default('main');

/** Repos with sites/<name>.yaml: the one site to work on; without it every site, one after another. */
const siteOption = () =>
  new Option('--site <name>', 'repos with sites/: only this site (default: every site, one after another)');
/** Sites with `shards:`: the one shard to work on (its own lock); without it every shard, one after another. */
const shardOption = () =>
  new Option(
    '--shard <name>',
    'sites with shards: only this shard (its systems, nets, zones, DHCP servers; its own lock). Default: every shard, one after another',
  );

const formatOption = () =>
  new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text');

/** Narrowing a run to some systems and steps (src/plan/target.ts): the same flags on plan, apply and drift. */
function targetOptions(cmd: Command): Command {
  return cmd
    .option('--system <name...>', 'only these systems (repeatable; a,b also works)')
    .option('--selector <label=value...>', 'only systems carrying these labels (metadata.labels; env=dev,team=shop)')
    .option('--kind <kinds...>', `only these steps: ${RESOURCE_KINDS.join(', ')} (e.g. vm,dns)`)
    .option(
      '--changed-since <ref>',
      'only systems whose manifest, profile, roles or OS entry changed between REF and HEAD (the merge-request scope)',
    );
}

function targetOf(o: { system?: string[]; selector?: string[]; kind?: string[]; changedSince?: string }): {
  target?: Target;
  changedSince?: string;
} {
  try {
    const systems = splitList(o.system);
    const selector = parseSelector(o.selector);
    const kinds = parseKinds(o.kind);
    const target: Target = {
      ...(systems.length ? { systems } : {}),
      ...(selector ? { selector } : {}),
      ...(kinds ? { kinds } : {}),
    };
    return { ...(isTargeted(target) ? { target } : {}), ...(o.changedSince ? { changedSince: o.changedSince } : {}) };
  } catch (e) {
    // Thrown in a command's action, where commander prints nothing: a UserError is printed by main.
    throw e instanceof UserError ? e : new UserError((e as Error).message, 'invalid');
  }
}

/** plan and apply: the role records the state dir keeps per machine boot are not used (drift never uses them). */
const REFRESH = '--refresh';
const REFRESH_HELP =
  'read every system over SSH instead of the role records kept in the state dir for machines that have not rebooted since';

/** `--wait-lock` alone means the default wait; absent means none. */
function waitLock(v: string | boolean | undefined): { waitLockMs?: number } {
  if (v === undefined || v === false) return {};
  return { waitLockMs: parseDuration(v === true ? DEFAULT_WAIT : v) };
}

export function buildProgram(io: Io, setCode: (c: number) => void): Command {
  const program = new Command('shipshape')
    .description(
      'Declarative GitOps reconciler for virtual machines: vSphere, i-doit, DNS/DHCP, installation, specialisation.',
    )
    .version(version(), '-V, --version', 'print the shipshape version')
    .option(
      '--log-level <level>',
      'log level on stderr (fatal, error, warn, info, debug)',
      process.env.SHIPSHAPE_LOG_LEVEL ?? 'warn',
    )
    .addOption(
      new Option('--log-format <format>', 'log lines as text, or as JSON (pino) for a log shipper')
        .choices(['text', 'json'])
        .default(process.env.SHIPSHAPE_LOG_FORMAT ?? 'text'),
    )
    .option(
      '--state-dir <dir>',
      'where the run lock, run history and drift history live (default $SHIPSHAPE_STATE_DIR or ~/.local/state/shipshape)',
    )
    .option(
      '--notify <FORMAT=URL...>',
      'webhook on run failure, drift found/resolved, install failed; FORMAT json|slack|mattermost|teams (default $SHIPSHAPE_NOTIFY, space-separated)',
    )
    .option(
      '--history-days <n>',
      'keep run history this many days (0: forever; default $SHIPSHAPE_HISTORY_DAYS or 90)',
      positiveInt('--history-days'),
    )
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride()
    .showHelpAfterError();
  const log = () => createLogger(program.opts().logLevel, program.opts().logFormat);
  const state = (): string | undefined => program.opts().stateDir;
  /** What every recorded run (plan, apply, drift, serve) takes from the global options. */
  const recording = (): { stateDir?: string; notify?: Webhook[]; historyDays?: number } => {
    const o = program.opts();
    const specs: string[] = o.notify ?? (process.env.SHIPSHAPE_NOTIFY ?? '').split(/\s+/).filter(Boolean);
    const days =
      o.historyDays ?? (process.env.SHIPSHAPE_HISTORY_DAYS ? Number(process.env.SHIPSHAPE_HISTORY_DAYS) : undefined);
    let notify: Webhook[];
    try {
      notify = specs.map(parseWebhook);
    } catch (e) {
      throw new UserError((e as Error).message, 'invalid'); // in a command's action: printed by main
    }
    return {
      stateDir: o.stateDir,
      ...(notify.length ? { notify } : {}),
      ...(days !== undefined ? { historyDays: days } : {}),
    };
  };

  program
    .command('init')
    .argument('[dir]', 'the folder for the new site repo', '.')
    .description(
      'scaffold a site repo: shipshape.yaml, a profile, an example system, the OS catalog, the baseline role, GitHub and GitLab pipelines, a README',
    )
    .addHelpText('after', '\nExamples:\n  shipshape init\n  shipshape init ./infra-site')
    .action(async (dir: string) => setCode((await cmd.init()).initCommand(dir, io)));

  program
    .command('validate')
    .argument('[dir]', 'the repo (same as -C DIR)')
    .addOption(dirOption())
    .description('validate every manifest, profile and the site config; print each error as file:line:col')
    .addHelpText('after', '\nExamples:\n  shipshape validate\n  shipshape validate -C ./infra-repo')
    .action(async (dir: string | undefined, o) =>
      setCode(await (await cmd.validate()).validateCommand(dir ?? o.dir, io)),
    );

  targetOptions(program.command('plan').description('observe every backend and show what apply would change'))
    .addOption(dirOption())
    .addOption(repoOption())
    .addOption(refOption())
    .addOption(siteOption())
    .addOption(shardOption())
    .addOption(formatOption())
    .option('--out <file>', 'write the plan to a file instead of stdout')
    .option('--detailed-exitcode', 'exit 0 with no changes, 2 with changes, 1 on error')
    .option('--max-deletes <n>', 'the plan is refused by apply when it deletes more', positiveInt('--max-deletes'))
    .option(
      '--base <ref>',
      'merge requests: site config, roles and OS catalog from REF, systems/ and profiles/ from the branch; plans the systems touched since REF; implies --read-only',
    )
    .option(
      '--read-only',
      'observe by reading only: nothing runs on a managed host (no role checks); apply refuses the plan',
    )
    .option('--adopt', 'show the adoptions `shipshape adopt` would make, each with its diff (manifest vs reality)')
    .option(REFRESH, REFRESH_HELP)
    .addHelpText(
      'after',
      '\nExamples:\n  shipshape plan\n  shipshape plan --base origin/main --format markdown --out plan.md\n  shipshape plan --system web-dev-01 --format json --out plan.json\n  shipshape plan --selector env=dev --kind vm,dns\n  shipshape plan --format json --out plan.json --detailed-exitcode',
    )
    .action(async (o) =>
      setCode(await (await cmd.plan()).planCommand({ ...o, ...targetOf(o), ...recording() }, io, log())),
    );

  targetOptions(
    program
      .command('apply')
      .description(
        "apply a fresh plan, or exactly a saved plan's actions after checking what each touches did not change",
      ),
  )
    .addOption(dirOption())
    .addOption(repoOption())
    .addOption(refOption())
    .addOption(siteOption())
    .addOption(shardOption())
    .argument('[plan]', 'a plan saved with `shipshape plan --format json --out FILE`')
    .option('--concurrency <n>', 'systems worked on in parallel', positiveInt('--concurrency'))
    .option('-y, --yes', 'do not ask for confirmation on a terminal (without a terminal apply never asks)')
    .option(REFRESH, REFRESH_HELP)
    .option('--max-deletes <n>', 'refuse a plan that deletes more than this', positiveInt('--max-deletes'))
    .option(
      '--wait-lock [duration]',
      `when another run holds the lock, wait for it up to DURATION (90s, 5m, 1h; default ${DEFAULT_WAIT})`,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  shipshape apply\n  shipshape apply --yes --wait-lock 15m\n  shipshape plan --system web-dev-01 --format json --out plan.json && shipshape apply plan.json\n  shipshape apply --changed-since HEAD~1 --yes\n  shipshape apply --concurrency 8 --max-deletes 10',
    )
    .action(async (planFile: string | undefined, o) =>
      setCode(
        await (
          await cmd.apply()
        ).applyCommand(
          { ...o, ...targetOf(o), ...waitLock(o.waitLock), ...(planFile ? { planFile } : {}), ...recording() },
          io,
          log(),
        ),
      ),
    );

  program
    .command('adopt')
    .description(
      "take existing resources without shipshape's marker over for declared systems; only where the manifest matches them",
    )
    .argument('[systems...]', 'the systems to adopt (default: every declared system with something to adopt)')
    .addOption(dirOption())
    .option('--accept-changes', 'adopt even where the manifest differs, then make the changes the plan shows')
    .option('--dry-run', 'show the adoption plan and change nothing')
    .addOption(formatOption())
    .option('--concurrency <n>', 'systems worked on in parallel', positiveInt('--concurrency'))
    .addHelpText(
      'after',
      '\nExamples:\n  shipshape import --folder legacy && shipshape adopt --dry-run\n  shipshape adopt web-01 web-02\n  shipshape adopt --accept-changes db-01',
    )
    .action(async (systems: string[], o) =>
      setCode(await (await cmd.adopt()).adoptCommand({ ...o, systems, ...recording() }, io, log())),
    );

  program
    .command('import')
    .description('write a manifest under systems/ for each existing VM chosen; changes nothing in any backend')
    .argument('[names...]', 'VM names to import')
    .addOption(dirOption())
    .option('--folder <path>', 'VMs in this folder below the datacenter VM folder, and its sub-folders')
    .option('--name-regex <re>', 'VMs whose name matches (JavaScript regular expression)')
    .option('--net <net>', 'VMs whose address (i-doit, DNS or DHCP) lies in this net of shipshape.yaml')
    .addHelpText(
      'after',
      "\nExamples:\n  shipshape import --folder legacy\n  shipshape import --name-regex '^web-' --net dev-net\n  shipshape import web-01 web-02",
    )
    .action(async (names: string[], o) =>
      setCode(await (await cmd.import()).importCommand({ ...o, names, stateDir: state() }, io, log())),
    );

  targetOptions(
    program
      .command('drift')
      .description(
        'read-only: report fields changed outside git and marked resources no manifest names; exit 2 on drift',
      ),
  )
    .addOption(dirOption())
    .addOption(repoOption())
    .addOption(refOption())
    .addOption(siteOption())
    .addOption(shardOption())
    .addOption(formatOption())
    .option('--out <file>', 'write the report to a file')
    .addHelpText(
      'after',
      '\nExamples:\n  shipshape drift\n  shipshape drift --selector team=shop --kind vm\n  shipshape drift --format markdown --out drift.md',
    )
    .action(async (o) =>
      setCode(await (await cmd.drift()).driftCommand({ ...o, ...targetOf(o), ...recording() }, io, log())),
    );

  program
    .command('serve')
    .description(
      'run the reconcile loop: on a schedule, when the git ref moves, when files change, when vCenter reports a change; one run at a time; /healthz and /metrics',
    )
    .addOption(dirOption())
    .addOption(repoOption())
    .addOption(refOption())
    .addOption(siteOption())
    .addOption(shardOption())
    .addOption(
      new Option('--mode <mode>', 'apply changes, or only report drift').choices(['apply', 'drift']).default('drift'),
    )
    .option('--schedule <cron>', 'five-field cron expression in UTC, e.g. "*/15 * * * *"')
    .option('--poll <seconds>', 'with --repo: check the ref this often and run when it moves', positiveInt('--poll'))
    .option('--watch', 'with --dir: run when files change (debounced)')
    .option('--listen <host:port>', 'address for /healthz and /metrics', '127.0.0.1:9464')
    .option(
      '--grace <seconds>',
      'on SIGTERM, how long the step in progress may take before it is abandoned',
      positiveInt('--grace'),
      60,
    )
    .option('--no-ui', 'do not serve the status page on --listen')
    .option(
      '--ui-apply-header <name>',
      'show an "Apply this plan" button to people a reverse proxy signed in and names in this header (e.g. X-Forwarded-User); off by default',
    )
    .option(
      '--ui-trusted-proxy <address...>',
      'the proxy addresses whose --ui-apply-header is believed (default 127.0.0.1 and ::1)',
    )
    .option(
      '--no-provisioning',
      'do not run the provisioning server of shipshape.yaml (e.g. when `shipshape provision` runs elsewhere)',
    )
    .option(
      '--no-change-feed',
      'do not watch vCenter for changes between runs (default: a VM edited in vCenter starts a run of its system within seconds)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  shipshape serve --repo https://git.example.com/infra/systems.git --ref main --poll 60 --schedule "*/30 * * * *" --mode apply\n  shipshape serve -C . --watch --mode drift',
    )
    .action(async (o) =>
      setCode(
        await (
          await cmd.serve()
        ).serveCommand(
          {
            ...o,
            pollSeconds: o.poll,
            graceSeconds: o.grace,
            ...(o.uiTrustedProxy ? { uiTrustedProxies: o.uiTrustedProxy } : {}),
            ...recording(),
          },
          io,
          log(),
        ),
      ),
    );

  program
    .command('history')
    .description(
      'the runs of plan, apply, drift and serve from the state dir, newest first: trigger, commit, who, result',
    )
    .option('--system <name>', 'only runs that changed or found drift on this system')
    .option('--since <when>', 'only runs since a date (2026-11-30) or a duration back from now (24h, 7d)')
    .addOption(new Option('--kind <kind>', 'only runs of this kind').choices(['plan', 'apply', 'drift']))
    .option('--limit <n>', 'at most this many runs', positiveInt('--limit'), 50)
    .addOption(formatOption())
    .addHelpText(
      'after',
      '\nExamples:\n  shipshape history\n  shipshape history --system web-dev-01 --since 7d\n  shipshape history --kind apply --format json',
    )
    .action(async (o) => setCode(await (await cmd.history()).historyCommand({ ...o, stateDir: state() }, io)));

  program
    .command('show')
    .description('one run in full: who and why, the plan it executed, the result and duration of every step, errors')
    .argument('<run>', 'the run number, as `shipshape history` lists it')
    .addOption(formatOption())
    .addHelpText('after', '\nExamples:\n  shipshape show 42\n  shipshape show 42 --format json')
    .action(async (id: string, o) =>
      setCode(await (await cmd.history()).showCommand(id, { ...o, stateDir: state() }, io)),
    );

  program
    .command('ui')
    .description(
      'the status page alone (read-only): estate, drift, orphans, pending plan, runs; from the state dir, no backend contacted',
    )
    .option('--listen <host:port>', 'address of the page', '127.0.0.1:9465')
    .addHelpText(
      'after',
      '\nExamples:\n  shipshape ui            # then open http://127.0.0.1:9465\n  shipshape --state-dir /var/lib/shipshape ui --listen 0.0.0.0:9465',
    )
    .action(async (o) =>
      setCode(
        await (await cmd.ui()).uiCommand({ listen: o.listen, stateDir: (await cmd.pipeline()).stateDir(state()) }, io),
      ),
    );

  const lab = program
    .command('lab')
    .description('the local lab on 127.0.0.1 (vcsim, i-doit emulator, named, sshd, Kea) for a site with `lab: true`')
    .addHelpText(
      'after',
      '\nExamples:\n  shipshape lab up && set -a && . .lab/credentials.env && set +a && shipshape apply\n  shipshape lab status\n  shipshape lab down',
    );
  lab
    .command('up')
    .description('start every daemon the site names, detached; recorded in .lab/lab.json (a no-op when it runs)')
    .option('-C, --dir <dir>', 'the repo whose shipshape.yaml describes the lab', '.')
    .action(async (o) => setCode(await (await cmd.lab()).labUpCommand(o, io, log())));
  lab
    .command('down')
    .description("stop the lab's daemons by pid (SIGTERM, then SIGKILL)")
    .option('-C, --dir <dir>', 'the repo', '.')
    .action(async (o) => setCode(await (await cmd.lab()).labDownCommand(o, io)));
  lab
    .command('status')
    .description('what runs and where; exit 0 when everything runs, 3 otherwise')
    .option('-C, --dir <dir>', 'the repo', '.')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'the same as --format json')
    .action(async (o) =>
      setCode(await (await cmd.lab()).labStatusCommand({ dir: o.dir, json: o.json || o.format === 'json' }, io)),
    );
  lab
    .command('world')
    .description(
      'read-only: each system as vCenter, i-doit and DNS show it (needs the credentials of .lab/credentials.env)',
    )
    .option('-C, --dir <dir>', 'the repo', '.')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'the same as --format json')
    .action(async (o) =>
      setCode(await (await cmd.lab()).labWorldCommand({ dir: o.dir, json: o.json || o.format === 'json' }, io)),
    );

  program
    .command('status')
    .description(
      'installation state of every system (requested, booting, installing, built, failed, timed-out); exit 2 when one failed',
    )
    .addOption(dirOption())
    .addOption(repoOption())
    .addOption(refOption())
    .addOption(formatOption())
    .action(async (o) => setCode(await (await cmd.status()).statusCommand({ ...o, stateDir: state() }, io)));

  program
    .command('provision')
    .description(
      'run the provisioning server alone (installers fetch boot scripts and answer files, report built/failed)',
    )
    .option('-C, --dir <dir>', 'the repo', '.')
    .option('--listen <host:port>', 'override provisioning.listen')
    .action(async (o) =>
      setCode(await (await cmd.provision()).provisionCommand({ ...o, stateDir: state() }, io, log())),
    );

  program
    .command('ownership')
    .description('ownership markers bound to this site (shipshape.yaml ownership:)')
    .command('seal')
    .description("one-time migration after adding ownership: — seal the markers of the VMs this repo's systems name")
    .option('-C, --dir <dir>', 'the repo', '.')
    .addHelpText('after', '\nExamples:\n  shipshape ownership seal -C infra-repo')
    .action(async (o) =>
      setCode(await (await cmd.ownership()).ownershipSealCommand({ ...o, stateDir: state() }, io, log())),
    );

  return program;
}

export async function main(argv: string[], rawIo: Io = processIo): Promise<number> {
  // libuv runs file system calls on a pool of 4 threads unless told otherwise (read when the pool first
  // starts, which is later than this); apply writes its create journal and install records for dozens of
  // systems at once, each write with fsyncs, and 4 would queue them behind each other.
  process.env.UV_THREADPOOL_SIZE ??= '16';
  // Every byte a command prints passes the redaction layer (URL userinfo, resolved secrets).
  const io = redactingIo(rawIo);
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      return ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version' ? 0 : (ce.exitCode ?? 1) || 1;
    }
    const text = describeError(e, !!process.env.SHIPSHAPE_DEBUG);
    if (text) io.err(text);
    return e instanceof ExitError ? e.code : exitCodeFor([codeOf(e)]);
  }
}
