/**
 * Writes the manifest validators as code (ajv standalone output) to validators.generated.js beside
 * schemas.js, with the key of what they were compiled from; `npm run build` runs it after tsc:
 *   node dist/src/manifest/validators-gen.js
 * schemas.ts uses the file only while the key matches, so a stale file costs speed, never correctness.
 */
import { writeFileSync } from 'fs';
import { join } from 'path';
import standaloneCode from 'ajv/dist/standalone';
import { GENERATED, MANIFEST_KINDS, manifestAjv, manifestSchemas, validatorsKey } from './schemas';

/** The module text: one export per manifest kind, plus `key`. */
export function generateValidators(): string {
  const ajv = manifestAjv(true);
  const schemas = manifestSchemas();
  const ids: Record<string, string> = {};
  for (const k of MANIFEST_KINDS) {
    const id = schemas[k].$id;
    if (typeof id !== 'string') throw new Error(`the ${k} schema has no $id`);
    ajv.addSchema(schemas[k]);
    ids[k] = id;
  }
  return `${standaloneCode(ajv, ids)}\nexports.key = ${JSON.stringify(validatorsKey(schemas))};\n`;
}

if (require.main === module) {
  const out = join(__dirname, GENERATED);
  writeFileSync(out, generateValidators());
  process.stdout.write(`wrote ${out}\n`);
}
