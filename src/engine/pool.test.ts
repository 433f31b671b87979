import { inDependencyOrder } from './pool';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('inDependencyOrder', () => {
  it('starts an item after its dependencies finished, at most `limit` at a time', async () => {
    const items = [
      { name: 'lb', dependsOn: ['web-1', 'web-2'] },
      { name: 'web-1', dependsOn: ['db'] },
      { name: 'web-2', dependsOn: ['db'] },
      { name: 'db' },
      { name: 'a' },
      { name: 'b' },
      { name: 'c', dependsOn: ['not-in-this-run'] },
    ];
    const log: string[] = [];
    let running = 0;
    let most = 0;
    await inDependencyOrder(items, 2, async (i) => {
      most = Math.max(most, ++running);
      log.push(`start ${i.name}`);
      await tick();
      log.push(`end ${i.name}`);
      running--;
    });
    expect(most).toBe(2);
    const at = (l: string) => log.indexOf(l);
    expect(at('start web-1')).toBeGreaterThan(at('end db'));
    expect(at('start web-2')).toBeGreaterThan(at('end db'));
    expect(at('start lb')).toBeGreaterThan(Math.max(at('end web-1'), at('end web-2')));
    expect(log.filter((l) => l.startsWith('start')).length).toBe(items.length);
  });

  it('a cycle that got past validation still runs every item once instead of hanging', async () => {
    const ran: string[] = [];
    await inDependencyOrder(
      [
        { name: 'x', dependsOn: ['y'] },
        { name: 'y', dependsOn: ['x'] },
      ],
      4,
      async (i) => void ran.push(i.name),
    );
    expect(ran.sort()).toEqual(['x', 'y']);
  });
});
