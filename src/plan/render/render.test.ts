import { renderMarkdown, renderText, renderJson, parsePlanJson, MARKDOWN_LIMIT } from '.';
import type { Plan, PlannedAction } from '../types';

const action = (system: string, over: Partial<PlannedAction> = {}): PlannedAction => ({
  system,
  kind: 'vm',
  action: 'update',
  resourceId: 'vm-42',
  changes: [{ path: 'cpu', from: 2, to: 4, source: 'systems/web-01.yaml:9:8', needsPowerOff: true }],
  needsPowerOff: true,
  needsReboot: false,
  reason: 'cpu differs from the manifest',
  ...over,
});

const plan = (actions: PlannedAction[], over: Partial<Plan> = {}): Plan => ({
  formatVersion: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  commit: '0123456789abcdef0123',
  desiredDigest: 'sha256:a',
  observedDigest: 'sha256:b',
  summary: { create: 0, update: actions.length, replace: 0, delete: 0, noop: 0, blocked: 0 },
  actions,
  warnings: [],
  maxDeletes: 3,
  roundTrips: { vm: 1 },
  ...over,
});

describe('plan renderers', () => {
  it('text shows action, old → new value, its source and power-off, without colour off a TTY', () => {
    const out = renderText(plan([action('web-01')]), { colour: false });
    expect(out).toContain('~ vm update vm-42: cpu differs from the manifest [needs power-off]');
    expect(out).toContain('cpu: 2 → 4 (systems/web-01.yaml:9:8) [needs power-off]');
    expect(out).toContain(
      'Plan: 0 to create, 1 to update, 0 to replace, 0 to delete, 0 unchanged (commit 0123456789ab)',
    );
    expect(out).not.toMatch(/\u001b\[/);
    expect(renderText(plan([action('web-01')]), { colour: true })).toMatch(/\u001b\[33m/);
  });

  it('text warns when the plan deletes more systems than the guard allows, counting systems not resources', () => {
    const del = (system: string, kind: PlannedAction['kind']) =>
      action(system, { action: 'delete', kind, changes: [] });
    const fourSystems = ['a', 'b', 'c', 'd'].flatMap((s) => [del(s, 'vm'), del(s, 'dns'), del(s, 'ip')]);
    expect(renderText(plan(fourSystems), { colour: false })).toContain(
      'Apply will refuse this plan: it deletes 4 systems, more than --max-deletes 3.',
    );
    const oneSystem = [del('a', 'vm'), del('a', 'dns'), del('a', 'dhcp'), del('a', 'ip'), del('a', 'cmdb')];
    expect(renderText(plan(oneSystem), { colour: false })).not.toContain('Apply will refuse');
  });

  it('Markdown has a summary table and one collapsible section per changed system', () => {
    const md = renderMarkdown(plan([action('web-01'), action('web-02', { blocked: 'protected' })]));
    expect(md).toContain('| 0 | 2 | 0 | 0 | 0 | 0 |');
    expect(md.match(/<details>/g)).toHaveLength(2);
    expect(md).toContain('<summary><b>web-02</b>: blocked</summary>');
    expect(md).toContain('**blocked:** protected');
  });

  it('a refusal the BLOCKED line says is not repeated on the change line; another one still is', () => {
    const why = 'changing cpu needs the running VM powered off, and lifecycle.powerPolicy is never';
    const blocked = action('web-01', {
      changes: [
        { path: 'cpu', from: 2, to: 4, needsPowerOff: true, refused: why },
        { path: 'disks[0].sizeGiB', from: 40, to: 20, refused: 'disks cannot shrink' },
      ],
      blocked: `cpu: ${why}`,
    });
    for (const out of [renderText(plan([blocked]), { colour: false }), renderMarkdown(plan([blocked]))]) {
      expect(out.split(why)).toHaveLength(2);
      expect(out).toContain('cpu: 2 → 4 [needs power-off, refused]');
      expect(out).toContain('disks[0].sizeGiB: 40 → 20 [refused: disks cannot shrink]');
    }
  });

  it('Markdown stays under the comment limit and points at the full JSON plan', () => {
    const many = Array.from({ length: 3000 }, (_, i) => action(`system-${i}`));
    const md = renderMarkdown(plan(many), { fullPlanHint: 'the artifact plan.json' });
    expect(md.length).toBeLessThanOrEqual(MARKDOWN_LIMIT);
    expect(md).toContain(
      'Details cut to fit the comment: 3000 systems in all. The full plan is in the artifact plan.json.',
    );
  });

  it('Markdown escapes what could break the comment', () => {
    const md = renderMarkdown(plan([action('web-01', { reason: '<script>|x' })]));
    expect(md).not.toContain('<script>');
  });

  it('JSON round-trips and saved plans of another format are refused', () => {
    const p = plan([action('web-01')]);
    expect(parsePlanJson(renderJson(p), 'plan.json')).toEqual(p);
    expect(() => parsePlanJson('{"formatVersion":2}', 'old.json')).toThrow(/not a shipshape plan of format version 1/);
    expect(() => parsePlanJson('nope', 'x.json')).toThrow(/x.json: not a JSON plan/);
  });
});
