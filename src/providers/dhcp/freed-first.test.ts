import { freedFirst } from './provider';

const m = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, ip]) => [k, { ip }]));

test('a system taking the address another held before the deploy is told after it; a swap keeps the given order', () => {
  // claimant takes holder's .20; holder moves to .31; other is unrelated; gone leaves.
  const before = m({ holder: '10.0.0.20', claimant: '10.0.0.9', other: '10.0.0.40', gone: '10.0.0.50' });
  const after = m({ holder: '10.0.0.31', claimant: '10.0.0.20', other: '10.0.0.41' });
  expect(freedFirst(['claimant', 'gone', 'other', 'holder'], before, after)).toEqual([
    'gone',
    'other',
    'holder',
    'claimant',
  ]);
  // A chain: a takes b's, b takes c's.
  const chain = freedFirst(['a', 'b', 'c'], m({ a: '1', b: '2', c: '3' }), m({ a: '2', b: '3', c: '4' }));
  expect(chain).toEqual(['c', 'b', 'a']);
  expect(freedFirst(['x', 'y'], m({ x: '1', y: '2' }), m({ x: '2', y: '1' }))).toEqual(['x', 'y']);
});
