/**
 * Writes the manifest validators as code (ajv standalone output) to validators.generated.js beside
 * schemas.js, with the key of what they were compiled from; `npm run build` runs it after tsc:
 *   node dist/src/manifest/validators-gen.js
 * schemas.ts uses the file only while the key matches, so a stale file costs speed, never correctness.
 */
import { writeFileSync } from 'fs';
import { join } from 'path';
import standaloneCode from 'ajv/dist/standalone';
import {
  DRAFT7_ID,
  GENERATED,
  MANIFEST_KINDS,
  manifestAjv,
  manifestSchemas,
  operatorAjv,
  validatorsKey,
} from './schemas';

/**
 * The module text: one export per manifest kind, `operatorMeta` (the draft-07 meta-schema as role params
 * schemas are checked against it, compiled with the operators' ajv options), plus `key`.
 */
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
  const op = operatorAjv(true);
  op.getSchema(DRAFT7_ID);
  // Two standalone outputs in one file: the second in a scope of its own (both name their functions validateN).
  const meta = `const operator = {};\n(function (exports) {\n${standaloneCode(op, { operatorMeta: DRAFT7_ID })}\n})(operator);\nexports.operatorMeta = operator.operatorMeta;`;
  return `${standaloneCode(ajv, ids)}\n${meta}\nexports.key = ${JSON.stringify(validatorsKey(schemas))};\n`;
}

if (require.main === module) {
  const out = join(__dirname, GENERATED);
  writeFileSync(out, generateValidators());
  process.stdout.write(`wrote ${out}\n`);
}
