import { parseCron } from './cron';

const next = (expr: string, from: string) => parseCron(expr).next(new Date(from)).toISOString();

describe('cron', () => {
  it('computes the next firing time in UTC', () => {
    expect(next('*/15 * * * *', '2026-11-26T10:07:30Z')).toBe('2026-11-26T10:15:00.000Z');
    expect(next('0 2 * * *', '2026-11-26T10:07:00Z')).toBe('2026-11-27T02:00:00.000Z');
    expect(next('30 6 * * mon-fri', '2026-11-27T07:00:00Z')).toBe('2026-11-30T06:30:00.000Z'); // Fri → Mon
    expect(next('0 0 1 jan *', '2026-11-26T00:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('@hourly', '2026-11-26T10:00:00Z')).toBe('2026-11-26T11:00:00.000Z');
  });

  it('fires when either restricted day field matches', () => {
    // 1st of the month OR a Sunday: 2026-11-29 is a Sunday.
    expect(next('0 0 1 * sun', '2026-11-26T00:00:00Z')).toBe('2026-11-29T00:00:00.000Z');
  });

  it('rejects bad expressions with a message naming the field', () => {
    expect(() => parseCron('61 * * * *')).toThrow(/minute "61" is out of range \(allowed 0-59\)/);
    expect(() => parseCron('* * *')).toThrow(/expected 5 fields/);
    expect(() => parseCron('5-1 * * * *')).toThrow(/backwards range/);
    expect(() => parseCron('0 0 31 feb *').next(new Date())).toThrow(/never fires/);
  });
});
