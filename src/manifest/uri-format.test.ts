import { fullFormats } from 'ajv-formats/dist/formats';
import type { ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { generateValidators } from './validators-gen';
import { uri } from './uri-format';

const full = fullFormats.uri as (s: string) => boolean;

// The usual shapes a site's URLs have, and what ajv-formats refuses or accepts only through its other branches.
const TEXTS = [
  'https://vcenter.example.com/sdk',
  'https://127.0.0.1:41927/sdk',
  'http://idoit.example.com/src/jsonrpc.php',
  'http://idoit.example.com:8080/src/jsonrpc.php?x=1&y=%20#top',
  'https://pdns.example.com:8081/api/v1/servers/localhost',
  'https://EXAMPLE.com/A/B',
  'https://host/',
  'https://host:/',
  'https://',
  'https://user:pw@vcenter.example.com/sdk',
  'https://[2001:db8::1]:443/sdk',
  'https://[v1.x]/',
  'https://[2001:db8::1/sdk',
  'http://exa mple.com/',
  'http://example.com/a b',
  'http://example.com/%zz',
  'http://example.com/%41',
  'http://example.com/ä',
  'http://example.com\\path',
  'http://example.com/?q=`',
  'mailto:ops@example.com',
  'urn:isbn:0451450523',
  'file:///etc/hosts',
  'example.com/sdk',
  '//example.com/sdk',
  '1http://example.com/',
  'https:example.com',
  'https:/example.com',
  'http://example.com#a#b',
  'http://example.com/a?b?c#d/e',
  '',
  ':',
  'http://example.com\n',
];

test('the quick uri check accepts and refuses exactly what ajv-formats does', () => {
  for (const s of TEXTS) expect([s, uri(s)]).toEqual([s, full(s)]);
});

test("a site's URL that is no URI is refused by the validators the build generates, as by ajv-formats", () => {
  const mod: Record<string, unknown> = {};
  new Function('require', 'module', 'exports', generateValidators())(require, { exports: mod }, mod);
  const validate = mod.site as ValidateFunction;
  const text = readFileSync(join(__dirname, '..', '..', 'examples', 'lab', 'shipshape.yaml'), 'utf8');
  expect(validate(parseDocument(text).toJS())).toBe(true);
  // Both pass the schema's own `^https?://[^\s]+$`; only the first is a URI.
  for (const [url, ok] of [
    ['https://vcenter.example.com:8443/sdk', true],
    ['https://vcenter.example.com/a|b', false],
    ['https://[2001:db8::1/sdk', false],
  ] as const) {
    expect([url, validate(parseDocument(text.replace('https://127.0.0.1:18989/sdk', url)).toJS())]).toEqual([url, ok]);
    if (!ok) expect(validate.errors?.some((e) => e.keyword === 'format' && e.instancePath.endsWith('/url'))).toBe(true);
  }
});
