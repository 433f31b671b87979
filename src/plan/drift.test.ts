import type { Observation, ResourceKind } from '../engine/contract';
import { driftReport } from './drift';
import type { Plan, PlannedAction } from './types';

const a = (
  system: string,
  kind: PlannedAction['kind'],
  action: PlannedAction['action'],
  changes: PlannedAction['changes'] = [],
): PlannedAction => ({
  system,
  kind,
  action,
  changes,
  needsPowerOff: false,
  needsReboot: false,
  reason: '',
  resourceId: `${kind}-${system}`,
});
const plan = (actions: PlannedAction[], warnings: Plan['warnings'] = []): Plan => ({
  formatVersion: 1,
  createdAt: '',
  desiredDigest: '',
  observedDigest: '',
  actions,
  warnings,
  maxDeletes: 3,
  roundTrips: {},
  summary: { create: 0, update: 0, replace: 0, delete: 0, noop: 0, blocked: 0 },
});

describe('drift report', () => {
  it('lists fields that differ with desired, actual and source, and keeps the first-seen time', () => {
    const p = plan([a('web-01', 'vm', 'update', [{ path: 'cpu', from: 8, to: 2, source: 'systems/web-01.yaml:9:8' }])]);
    const t1 = new Date('2026-11-01T00:00:00Z');
    const first = driftReport(p, {}, t1);
    expect(first.report.drifted).toBe(true);
    expect(first.report.items).toEqual([
      {
        system: 'web-01',
        kind: 'vm',
        resourceId: 'vm-web-01',
        path: 'cpu',
        desired: 2,
        actual: 8,
        source: 'systems/web-01.yaml:9:8',
        firstSeen: t1.toISOString(),
      },
    ]);
    const second = driftReport(p, first.history, new Date('2026-11-02T00:00:00Z'));
    expect(second.report.items[0]!.firstSeen).toBe(t1.toISOString());
  });

  it('a changed actual value restarts the clock', () => {
    const t1 = new Date('2026-11-01T00:00:00Z');
    const h = driftReport(plan([a('w', 'vm', 'update', [{ path: 'cpu', from: 8, to: 2 }])]), {}, t1).history;
    const later = driftReport(
      plan([a('w', 'vm', 'update', [{ path: 'cpu', from: 16, to: 2 }])]),
      h,
      new Date('2026-11-05T00:00:00Z'),
    );
    expect(later.report.items[0]!.firstSeen).toBe('2026-11-05T00:00:00.000Z');
  });

  it('a resource missing from an applied system is drift; a system never applied is pending', () => {
    const p = plan([
      a('web-01', 'ip', 'noop'),
      a('web-01', 'vm', 'create'),
      a('new-01', 'ip', 'create'),
      a('new-01', 'vm', 'create'),
    ]);
    const { report } = driftReport(p, {}, new Date());
    expect(report.items).toEqual([expect.objectContaining({ system: 'web-01', kind: 'vm', path: '(missing)' })]);
    expect(report.pending).toEqual(['new-01']);
  });

  it('marked resources without a manifest are drift; a clean world is not', () => {
    const orphan = { system: 'gone', kind: 'vm' as const, resourceId: 'vm-9', code: 'orphan' as const, message: 'x' };
    expect(driftReport(plan([a('w', 'vm', 'noop')], [orphan]), {}, new Date()).report).toMatchObject({
      drifted: true,
      orphans: [orphan],
    });
    expect(driftReport(plan([a('w', 'vm', 'noop')]), {}, new Date()).report.drifted).toBe(false);
  });

  it('backends that disagree with each other are drift even when each matches its own manifest view', () => {
    const observations = new Map<ResourceKind, Observation>([
      [
        'ip',
        { resources: [{ kind: 'ip', system: 'w', id: '1', owned: true, fields: { ip: '10.0.0.5' } }], roundTrips: 1 },
      ],
      [
        'dns',
        { resources: [{ kind: 'dns', system: 'w', id: '2', owned: true, fields: { a: '10.0.0.6' } }], roundTrips: 1 },
      ],
    ]);
    const { report } = driftReport(
      plan([a('w', 'vm', 'noop')]),
      {},
      new Date(),
      observations,
      new Map([
        ['ip', { ip: 'ip' }],
        ['dns', { ip: 'a' }],
      ]),
    );
    expect(report.drifted).toBe(true);
    expect(report.disagreements).toEqual([{ system: 'w', what: 'ip', values: { ip: '10.0.0.5', dns: '10.0.0.6' } }]);
  });
});
