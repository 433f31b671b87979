/**
 * The i-doit suites run once per API add-on generation the emulator plays (one parameterised suite,
 * not copies). `IDOIT_API_VERSIONS=1.10` narrows a local run to one generation.
 */
import { API_VERSIONS, type ApiVersion } from '../../src/lab/idoit';

export const EMULATED_VERSIONS: ApiVersion[] = process.env.IDOIT_API_VERSIONS
  ? (process.env.IDOIT_API_VERSIONS.split(',')
      .map((v) => v.trim())
      .filter((v) => (API_VERSIONS as readonly string[]).includes(v)) as ApiVersion[])
  : [...API_VERSIONS];
