/** The `shipshape` command line (commander). Every command returns an exit code; nothing prints a stack trace unless SHIPSHAPE_DEBUG is set. */
import { codeOf, exitCodeFor } from '../engine/outcome';
import { Command, InvalidArgumentError, Option } from 'commander';
import { applyCommand } from './commands/apply';
import { driftCommand } from './commands/drift';
import { labDownCommand, labStatusCommand, labUpCommand, labWorldCommand } from './commands/lab';
import { initCommand } from './commands/init';
import { ownershipSealCommand } from './commands/ownership';
import { planCommand } from './commands/plan';
import { provisionCommand } from './commands/provision';
import { serveCommand } from './commands/serve';
import { statusCommand } from './commands/status';
import { validateCommand } from './commands/validate';
import { describeError, ExitError } from './errors';
import { processIo, redactingIo, type Io } from './io';
import { createLogger } from './log';
import { version } from './version';

const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`);
  return n;
};

/** Where the manifests come from, the same on every command that reads them: a folder, or a git repository. */
const dirOption = () => new Option('-C, --dir <dir>', 'the repo (a local folder)').default('.');
const repoOption = () => new Option('--repo <url>', 'fetch the manifests from this git repository on every run (instead of --dir)');
const refOption = () => new Option('--ref <ref>', 'branch, tag or commit of --repo').default('main');

const formatOption = () => new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text');

export function buildProgram(io: Io, setCode: (c: number) => void): Command {
  const program = new Command('shipshape')
    .description('Declarative GitOps reconciler for virtual machines: vSphere, i-doit, DNS/DHCP, installation, specialisation.')
    .version(version(), '-V, --version', 'print the shipshape version')
    .option('--log-level <level>', 'structured log level on stderr (fatal, error, warn, info, debug)', process.env.SHIPSHAPE_LOG_LEVEL ?? 'warn')
    .addOption(new Option('--log-format <format>', 'log lines on stderr: text (one line each) or json (for log collectors)').choices(['text', 'json']).default(process.env.SHIPSHAPE_LOG_FORMAT ?? 'text'))
    .option('--state-dir <dir>', 'where the run lock and drift history live (default $SHIPSHAPE_STATE_DIR or ~/.local/state/shipshape)')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride()
    .showHelpAfterError();
  const log = () => createLogger(program.opts().logLevel, program.opts().logFormat);
  const state = (): string | undefined => program.opts().stateDir;

  program
    .command('init')
    .argument('[dir]', 'the folder for the new site repo', '.')
    .description('scaffold a site repo: shipshape.yaml, a profile, an example system, the OS catalog, the baseline role, GitHub and GitLab pipelines, a README')
    .addHelpText('after', '\nExamples:\n  shipshape init\n  shipshape init ./infra-site')
    .action((dir: string) => setCode(initCommand(dir, io)));

  program
    .command('validate')
    .argument('[dir]', 'the repo', '.')
    .description('validate every manifest, profile and the site config; print each error as file:line:col')
    .addHelpText('after', '\nExamples:\n  shipshape validate\n  shipshape validate ./infra-repo')
    .action(async (dir: string) => setCode(await validateCommand(dir, io)));

  program
    .command('plan')
    .description('observe every backend and show what apply would change')
    .addOption(dirOption()).addOption(repoOption()).addOption(refOption())
    .addOption(formatOption())
    .option('--out <file>', 'write the plan to a file instead of stdout')
    .option('--detailed-exitcode', 'exit 0 with no changes, 2 with changes, 1 on error')
    .option('--max-deletes <n>', 'the plan is refused by apply when it deletes more', positiveInt('--max-deletes'))
    .option('--base <ref>', 'merge requests: site config, roles and OS catalog from REF, systems/ and profiles/ from the branch; plans the systems touched since REF; implies --read-only')
    .option('--read-only', 'observe by reading only: nothing runs on a managed host (no role checks); apply refuses the plan')
    .addHelpText('after', '\nExamples:\n  shipshape plan\n  shipshape plan --base origin/main --format markdown --out plan.md\n  shipshape plan --format markdown --out plan.md\n  shipshape plan --format json --out plan.json --detailed-exitcode')
    .action(async (o) => setCode(await planCommand({ ...o, stateDir: state() }, io, log())));

  program
    .command('apply')
    .description('apply a fresh plan, or a saved plan file after checking nothing changed since it was made')
    .addOption(dirOption()).addOption(repoOption()).addOption(refOption())
    .argument('[plan]', 'a plan saved with `shipshape plan --format json --out FILE`')
    .option('--concurrency <n>', 'systems worked on in parallel', positiveInt('--concurrency'))
    .option('--max-deletes <n>', 'refuse a plan that deletes more than this', positiveInt('--max-deletes'))
    .addHelpText('after', '\nExamples:\n  shipshape apply\n  shipshape plan --format json --out plan.json && shipshape apply plan.json\n  shipshape apply --concurrency 8 --max-deletes 10')
    .action(async (planFile: string | undefined, o) => setCode(await applyCommand({ ...o, ...(planFile ? { planFile } : {}), stateDir: state() }, io, log())));

  program
    .command('drift')
    .description('read-only: report fields changed outside git and marked resources no manifest names; exit 2 on drift')
    .addOption(dirOption()).addOption(repoOption()).addOption(refOption())
    .addOption(formatOption())
    .option('--out <file>', 'write the report to a file')
    .addHelpText('after', '\nExamples:\n  shipshape drift\n  shipshape drift --format markdown --out drift.md')
    .action(async (o) => setCode(await driftCommand({ ...o, stateDir: state() }, io, log())));

  program
    .command('serve')
    .description('run the reconcile loop: on a schedule, when the git ref moves, when files change; one run at a time; /healthz and /metrics')
    .addOption(dirOption()).addOption(repoOption()).addOption(refOption())
    .addOption(new Option('--mode <mode>', 'apply changes, or only report drift').choices(['apply', 'drift']).default('drift'))
    .option('--schedule <cron>', 'five-field cron expression in UTC, e.g. "*/15 * * * *"')
    .option('--poll <seconds>', 'with --repo: check the ref this often and run when it moves', positiveInt('--poll'))
    .option('--watch', 'with --dir: run when files change (debounced)')
    .option('--listen <host:port>', 'address for /healthz and /metrics', '127.0.0.1:9464')
    .option('--grace <seconds>', 'on SIGTERM, how long the step in progress may take before it is abandoned', positiveInt('--grace'), 60)
    .option('--no-provisioning', 'do not run the provisioning server of shipshape.yaml (e.g. when `shipshape provision` runs elsewhere)')
    .addHelpText('after', '\nExamples:\n  shipshape serve --repo https://git.example.com/infra/systems.git --ref main --poll 60 --schedule "*/30 * * * *" --mode apply\n  shipshape serve -C . --watch --mode drift')
    .action(async (o) =>
      setCode(await serveCommand({ ...o, pollSeconds: o.poll, graceSeconds: o.grace, stateDir: state() }, io, log())),
    );

  const lab = program
    .command('lab')
    .description('the local lab on 127.0.0.1 (vcsim, i-doit emulator, named, sshd, Kea) for a site with `lab: true`')
    .addHelpText('after', '\nExamples:\n  shipshape lab up && set -a && . .lab/credentials.env && set +a && shipshape apply\n  shipshape lab status\n  shipshape lab down');
  lab
    .command('up')
    .description('start every daemon the site names, detached; recorded in .lab/lab.json (a no-op when it runs)')
    .option('-C, --dir <dir>', 'the repo whose shipshape.yaml describes the lab', '.')
    .action(async (o) => setCode(await labUpCommand(o, io, log())));
  lab
    .command('down')
    .description('stop the lab\'s daemons by pid (SIGTERM, then SIGKILL)')
    .option('-C, --dir <dir>', 'the repo', '.')
    .action(async (o) => setCode(await labDownCommand(o, io)));
  lab
    .command('status')
    .description('what runs and where; exit 0 when everything runs, 3 otherwise')
    .option('-C, --dir <dir>', 'the repo', '.')
    .option('--json', 'machine-readable')
    .action(async (o) => setCode(await labStatusCommand(o, io)));
  lab
    .command('world')
    .description('read-only: each system as vCenter, i-doit and DNS show it (needs the credentials of .lab/credentials.env)')
    .option('-C, --dir <dir>', 'the repo', '.')
    .option('--json', 'machine-readable')
    .action(async (o) => setCode(await labWorldCommand(o, io)));

  program
    .command('status')
    .description('installation state of every system (requested, booting, installing, built, failed, timed-out); exit 2 when one failed')
    .option('-C, --dir <dir>', 'the repo', '.')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o) => setCode(await statusCommand({ ...o, stateDir: state() }, io)));

  program
    .command('provision')
    .description('run the provisioning server alone (installers fetch boot scripts and answer files, report built/failed)')
    .option('-C, --dir <dir>', 'the repo', '.')
    .option('--listen <host:port>', 'override provisioning.listen')
    .action(async (o) => setCode(await provisionCommand({ ...o, stateDir: state() }, io, log())));

  program
    .command('ownership')
    .description('ownership markers bound to this site (shipshape.yaml ownership:)')
    .command('seal')
    .description('one-time migration after adding ownership: — seal the markers of the VMs this repo\'s systems name')
    .option('-C, --dir <dir>', 'the repo', '.')
    .addHelpText('after', '\nExamples:\n  shipshape ownership seal -C infra-repo')
    .action(async (o) => setCode(await ownershipSealCommand({ ...o, stateDir: state() }, io, log())));

  return program;
}

export async function main(argv: string[], rawIo: Io = processIo): Promise<number> {
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
