/**
 * Where secret references may point: `${file:…}` only inside the secrets folder (or folders the site
 * lists), `${env:…}` only SHIPSHAPE_* (or names the site lists). Anything else is a validation error
 * naming the reference, so a branch cannot make shipshape read /etc/… or $HOME and send it somewhere.
 */
import { SITE, cleanupRepos, lines, load } from './tmp-repo';

afterAll(cleanupRepos);

const site = (apiKey: string, extra = '') =>
  SITE.replace('${env:SHIPSHAPE_IDOIT_API_KEY}', apiKey).replace('spec:\n', `spec:\n${extra}`);

it('${file:/etc/…} is a validation error naming the reference', async () => {
  const r = await load({ 'shipshape.yaml': site('${file:/etc/shadow}') });
  expect(r.ok).toBe(false);
  expect(lines(r)).toContain(
    'shipshape.yaml:10:13: secret reference ${file:/etc/shadow} is outside the secrets folders (secrets/): move the file into secrets/, or add its folder to spec.secrets.folders',
  );
});

it('a relative file outside secrets/ and a variable without the SHIPSHAPE_ prefix are refused', async () => {
  expect(lines(await load({ 'shipshape.yaml': site('${file:.ssh/id_rsa}') })).join('\n')).toContain(
    'secret reference ${file:.ssh/id_rsa} is outside the secrets folders',
  );
  expect(lines(await load({ 'shipshape.yaml': site('${file:secretsX/key}') })).join('\n')).toContain(
    'secret reference ${file:secretsX/key} is outside the secrets folders',
  );
  expect(lines(await load({ 'shipshape.yaml': site('${env:AWS_SECRET_ACCESS_KEY}') }))).toContain(
    'shipshape.yaml:10:13: secret reference ${env:AWS_SECRET_ACCESS_KEY} reads a variable without the SHIPSHAPE_ prefix: rename it SHIPSHAPE_AWS_SECRET_ACCESS_KEY, or list AWS_SECRET_ACCESS_KEY in spec.secrets.env',
  );
});

it('secrets/ and SHIPSHAPE_* are allowed by default; the site may allow more folders and names', async () => {
  expect((await load({ 'shipshape.yaml': site('${file:secrets/idoit.key}') })).ok).toBe(true);
  expect((await load({ 'shipshape.yaml': site('${env:SHIPSHAPE_IDOIT_API_KEY}') })).ok).toBe(true);
  expect(
    (
      await load({
        'shipshape.yaml': site(
          '${file:/run/secrets/shipshape/idoit}',
          '  secrets: { folders: [/run/secrets/shipshape] }\n',
        ),
      })
    ).ok,
  ).toBe(true);
  expect((await load({ 'shipshape.yaml': site('${env:IDOIT_KEY}', '  secrets: { env: [IDOIT_KEY] }\n') })).ok).toBe(
    true,
  );
  // Listing a folder replaces the default: secrets/ is then no longer allowed.
  const r = await load({
    'shipshape.yaml': site('${file:secrets/idoit.key}', '  secrets: { folders: [/run/secrets/shipshape] }\n'),
  });
  expect(lines(r).join('\n')).toContain(
    'secret reference ${file:secrets/idoit.key} is outside the secrets folders (/run/secrets/shipshape/)',
  );
});
