/** Plan as JSON: the documented, stable format (see README, "Plan JSON"). */
import { UserError } from '../../engine/contract';
import type { Plan } from '../types';

export function renderJson(plan: Plan): string {
  return JSON.stringify(plan, null, 2) + '\n';
}

/** Reads a saved plan, refusing files that are not a plan of a format version we understand. */
export function parsePlanJson(text: string, file: string): Plan {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new UserError(
      `${file}: not a JSON plan (${(e as Error).message}); create one with \`shipshape plan --format json --out ${file}\``,
      'invalid',
    );
  }
  const p = data as Partial<Plan>;
  if (
    !p ||
    typeof p !== 'object' ||
    p.formatVersion !== 1 ||
    !Array.isArray(p.actions) ||
    typeof p.observedDigest !== 'string'
  ) {
    throw new UserError(
      `${file}: not a shipshape plan of format version 1; create one with \`shipshape plan --format json --out ${file}\``,
      'invalid',
    );
  }
  return p as Plan;
}
