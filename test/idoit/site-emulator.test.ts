/** The i-doit backend's `emulator` key (which add-on the lab's emulator plays) is for lab sites only, and typed. */
import { labIdoit } from '../../src/lab/backends';
import { SITE, cleanupRepos, lines, load } from '../manifest/tmp-repo';

afterAll(cleanupRepos);

const withEmulator = (value: string) => `${SITE}    emulator: ${value}\n`;
const lab = (site: string) => site.replace('spec:\n', 'spec:\n  lab: true\n');

it('is refused outside a lab, accepted in one', async () => {
  const site = withEmulator('{ apiVersion: "1.10", quickPurge: true }');
  const refused = lines(await load({ 'shipshape.yaml': site })).filter((l) => !l.includes('warning:'));
  expect(refused).toHaveLength(1);
  expect(refused[0]).toMatch(
    /^shipshape\.yaml:\d+:\d+: ipam\.emulator chooses which i-doit API add-on the lab's emulator plays; a real site talks to its i-doit: remove it, or set lab: true$/,
  );
  const ok = await load({ 'shipshape.yaml': lab(site) });
  expect(ok.ok).toBe(true);
  expect(labIdoit(ok.site!)?.emulator).toEqual({ apiVersion: '1.10', quickPurge: true });
});

it('names the add-on versions the emulator plays', async () => {
  const bad = lines(await load({ 'shipshape.yaml': lab(withEmulator('{ apiVersion: "1.9" }')) })).join('\n');
  expect(bad).toMatch(/emulator\.apiVersion/);
  expect(bad).toMatch(/1\.10/);
});
