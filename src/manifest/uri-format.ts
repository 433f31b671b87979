/**
 * The formats the manifest validators check (`format:` in schemas/), as ajv-formats' full formats with a
 * quicker `uri`: its one regex (RFC 3986 with every IPv6 form) took 10–45 ms to compile at its first use,
 * i.e. at every start that loads a site (its URLs are `format: uri`). A URL of the usual shape (scheme,
 * `//`, a host name or IPv4 address, port, path, query, fragment) is accepted by a small regex that is
 * one branch of that regex; anything else is decided by ajv-formats' own check, so both accept exactly
 * the same texts (uri-format.test.ts). The generated validators require this module (schemas.ts,
 * `code.formats`).
 */
import { fullFormats } from 'ajv-formats/dist/formats';

/**
 * ajv-formats' URI regex with userinfo, IP literals and the non-hierarchical forms left out: each part
 * here is the same part there (scheme, reg-name, port, segments, query, fragment), so a match here is
 * a match there. It needs `//`, so ajv-formats' other test (a `/` or `:` in the text) holds too.
 */
const COMMON_URI =
  /^[a-z][a-z0-9+\-.]*:\/\/(?:[a-z0-9\-._~!$&'()*+,;=]|%[0-9a-f]{2})*(?::\d*)?(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*(?:\?(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?(?:#(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?$/i;

const fullUri = fullFormats.uri as (s: string) => boolean;

export function uri(s: string): boolean {
  return COMMON_URI.test(s) || fullUri(s);
}

export const manifestFormats = { ...fullFormats, uri };
