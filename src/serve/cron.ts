/**
 * Standard five-field cron expressions (minute hour day-of-month month day-of-week), with lists,
 * ranges, steps, `*`, names (jan, mon) and the usual day rule: when both day fields are
 * restricted, either may match. Times are UTC, so a schedule means the same on every host.
 */
export interface CronSchedule {
  source: string;
  next(after: Date): Date;
}

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
] as const;

const ALIASES: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
};

export function parseCron(expr: string): CronSchedule {
  const text = ALIASES[expr.trim()] ?? expr.trim();
  const parts = text.split(/\s+/);
  if (parts.length !== 5)
    throw new Error(
      `cron "${expr}": expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`,
    );
  const sets = parts.map((p, i) => parseField(p, FIELDS[i]!, expr));
  const [minutes, hours, doms, months, dows] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  if (dows.has(7)) dows.add(0);
  const domRestricted = parts[2] !== '*';
  const dowRestricted = parts[4] !== '*';
  const dayMatches = (d: Date) => {
    const dom = doms.has(d.getUTCDate());
    const dow = dows.has(d.getUTCDay());
    if (domRestricted && dowRestricted) return dom || dow;
    return dom && dow;
  };
  return {
    source: expr,
    next(after: Date): Date {
      const t = new Date(after.getTime());
      t.setUTCSeconds(0, 0);
      t.setUTCMinutes(t.getUTCMinutes() + 1);
      // Bounded search: five years of minutes at worst, skipping whole days/hours that cannot match.
      const limit = after.getTime() + 5 * 366 * 24 * 3600 * 1000;
      while (t.getTime() <= limit) {
        if (!months.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0);
          continue;
        }
        if (!dayMatches(t)) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0);
          continue;
        }
        if (!hours.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0);
          continue;
        }
        if (!minutes.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1);
          continue;
        }
        return t;
      }
      throw new Error(`cron "${expr}" never fires`);
    },
  };
}

function parseField(text: string, f: (typeof FIELDS)[number], expr: string): Set<number> {
  const out = new Set<number>();
  const bad = (why: string) => new Error(`cron "${expr}": ${f.name} "${text}" ${why} (allowed ${f.min}-${f.max})`);
  const value = (v: string) => {
    const names: readonly string[] = 'names' in f ? f.names : [];
    const byName = names.indexOf(v.toLowerCase());
    const n = byName >= 0 ? byName + (f.min === 1 ? 1 : 0) : /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < f.min || n > f.max) throw bad('is out of range');
    return n;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw bad('has a bad step');
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [f.min, f.max];
    else if (range!.includes('-')) {
      const [a, b] = range!.split('-');
      [lo, hi] = [value(a!), value(b!)];
      if (lo > hi) throw bad('is a backwards range');
    } else {
      lo = value(range!);
      hi = stepText === undefined ? lo : f.max;
    }
    for (let i = lo; i <= hi; i += step) out.add(i);
  }
  return out;
}
