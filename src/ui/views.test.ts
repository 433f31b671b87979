/** The status page's run view shows a plan's changes as the CLI's plan does. */
import type { RunRecord } from '../history/types';
import { runView } from './views';

test('a change reads old → new as in the CLI plan: a new value alone, strings without quotes', () => {
  const run: RunRecord = {
    id: 7,
    kind: 'apply',
    trigger: 'cli',
    source: '.',
    user: 'op',
    host: 'h',
    startedAt: '2026-12-01T17:00:00.000Z',
    status: 'changed',
    systems: ['web-03'],
    plan: {
      formatVersion: 1,
      createdAt: '2026-12-01T17:00:00.000Z',
      desiredDigest: 'sha256:d',
      observedDigest: 'sha256:o',
      summary: { create: 0, update: 1, replace: 0, delete: 0, noop: 0, blocked: 0 },
      actions: [
        {
          system: 'web-03',
          kind: 'specialise',
          action: 'update',
          resourceId: '198.51.100.6:22',
          changes: [
            { path: 'roles.broken', from: null, to: '993ece18c0f4dd31', source: 'systems/web-03.yaml:9:7' },
            { path: 'roles.app/shop', from: '4938ad269cf2dbee', to: 'removed: runs 1 remove step' },
            { path: 'disks', from: [40], to: [60] },
          ],
          needsPowerOff: false,
          needsReboot: false,
          reason: 'roles differ from the manifest',
        },
      ],
      warnings: [],
      maxDeletes: 3,
      roundTrips: {},
    },
  };
  const page = String(runView(run, Date.parse('2026-12-01T17:01:00.000Z')));
  expect(page).toContain('roles.broken: 993ece18c0f4dd31 <span class="sub">systems/web-03.yaml:9:7</span>');
  expect(page).toContain('roles.app/shop: 4938ad269cf2dbee → removed: runs 1 remove step');
  expect(page).toContain('disks: [40] → [60]');
  expect(page).not.toMatch(/null|&quot;/);
});
