import { STEP_CONCURRENCY, stepConcurrency } from './concurrency';

describe('step concurrency from shipshape.yaml defaults', () => {
  it('nothing set: each step its own default (vm 16, install 32, ip 8, …)', () => {
    expect(stepConcurrency({})).toEqual(STEP_CONCURRENCY);
    expect(stepConcurrency({})).toMatchObject({ vm: 16, install: 32, ip: 8 });
  });
  it('`concurrency: N` sets every step to N, as before steps had their own', () => {
    expect(Object.values(stepConcurrency({ concurrency: 2 }))).toEqual(Array(7).fill(2));
  });
  it('`stepConcurrency.<step>` wins over both for that step only', () => {
    expect(stepConcurrency({ concurrency: 2, stepConcurrency: { vm: 24 } })).toMatchObject({
      vm: 24,
      ip: 2,
      install: 2,
    });
    expect(stepConcurrency({ stepConcurrency: { install: 4 } })).toMatchObject({ install: 4, vm: 16 });
  });
});
