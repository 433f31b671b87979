/**
 * A backend that takes the connection and answers nothing keeps a plan silent until its request timeout
 * (two minutes for vSphere): observeAll names every observation still running after a while, with where
 * its backend is, so the operator knows what hangs; a backend that answers in time is not named.
 */
import type { Logger, Observation } from '../../src/engine/contract';
import { observeAll } from '../../src/cli/pipeline';
import { heard } from '../../src/net/activity';
import { MemoryProvider } from '../support/memory-provider';
import { site, system } from '../support/fixtures';

class Slow extends MemoryProvider {
  constructor(
    kind: 'vm' | 'dns',
    private readonly ms: number,
    /** A backend that keeps sending (a large answer paged for a while): bytes arrive every 20 ms. */
    private readonly sending = false,
  ) {
    super(kind, () => null);
  }
  override async observe(): Promise<Observation> {
    const feed = this.sending ? setInterval(heard, 20) : undefined;
    await new Promise((r) => setTimeout(r, this.ms));
    clearInterval(feed);
    return super.observe();
  }
}

const capture = () => {
  const warnings: string[] = [];
  const log: Logger = {
    info() {},
    debug() {},
    error() {},
    warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)),
  };
  return { warnings, log };
};

test('an observation still running after the threshold is named on stderr with its backend; a quick one is not', async () => {
  const { warnings, log } = capture();
  const s = {
    ...site,
    vms: { backend: 'vsphere', url: 'https://vcenter.example.org/sdk' },
    dns: { zones: [{ name: 'dev.example.com', backend: 'bind-ssh' }] },
  };
  const observed = await observeAll(
    [new Slow('vm', 400), new Slow('dns', 10)],
    { site: s, log, lab: false },
    [system('web-01')],
    undefined,
    100,
  );
  expect([...observed.keys()].sort()).toEqual(['dns', 'vm']);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(
    /^still observing vm after 0 s, nothing received for 0 s: no complete answer yet from the VM platform, https:\/\/vcenter\.example\.org\/sdk; waiting for it/,
  );
});

test('a backend that keeps sending for longer than the threshold is not named: it is slow, not silent', async () => {
  const { warnings, log } = capture();
  const s = { ...site, vms: { backend: 'vsphere', url: 'https://vcenter.example.org/sdk' } };
  await observeAll([new Slow('vm', 400, true)], { site: s, log, lab: false }, [system('web-01')], undefined, 100);
  expect(warnings).toEqual([]);
});
