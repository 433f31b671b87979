/** `shipshape validate` renders every system's installer files: a value that cannot be written safely is an error there. */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../src/cli/main';

const ROOT = path.join(__dirname, '..', '..', 'examples', 'lab');
let dir: string;
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

async function validate(repo: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'shipshape', 'validate', repo], {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    isTty: false,
  });
  return { code, out: out.join(''), err: err.join('\n') };
}

it('the example repo renders; a mirror URL with a quote in it is a validation error naming the system and field', async () => {
  expect(await validate(ROOT)).toMatchObject({ code: 0 });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-validate-'));
  for (const d of ['os', 'systems', 'profiles', 'roles', 'environments', 'shipshape.yaml'])
    await fs.cp(path.join(ROOT, d), path.join(dir, d), { recursive: true });
  const site = await fs.readFile(path.join(dir, 'shipshape.yaml'), 'utf8');
  await fs.writeFile(
    path.join(dir, 'shipshape.yaml'),
    site.replace(
      'debian12: http://127.0.0.1:18088/mirror/debian12',
      "debian12: http://127.0.0.1:18088/mirror/deb'ian12",
    ),
  );
  const r = await validate(dir);
  expect(r.code).toBe(1);
  expect(r.err).toMatch(
    /systems\/dev\/web-dev-01\.yaml: error: system web-dev-01: provisioning\.mirrors\.debian12 cannot be rendered/,
  );
  expect(r.err).not.toMatch(/db-dev-01/); // rocky9 is unaffected
});

it('installer files are rendered for the clean systems in the same run that reports a manifest error elsewhere', async () => {
  const site = await fs.readFile(path.join(dir, 'shipshape.yaml'), 'utf8'); // the quoted mirror of the test above
  expect(site).toContain("mirror/deb'ian12");
  const db = path.join(dir, 'systems', 'dev', 'db-dev-01.yaml');
  await fs.writeFile(db, (await fs.readFile(db, 'utf8')).replace('memoryMiB: 8192', 'memoryMiB: lots'));
  const r = await validate(dir);
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/systems\/dev\/db-dev-01\.yaml:\d+:\d+: error: spec\.memoryMiB must be/);
  expect(r.err).toMatch(
    /systems\/dev\/web-dev-01\.yaml: error: system web-dev-01: provisioning\.mirrors\.debian12 cannot be rendered/,
  );
  expect(r.err).toMatch(/\d+ errors in .*\(\d+ rendering installer files\): nothing was planned or changed/);
});
