/**
 * The status page in a real browser (Debian's chromium through playwright-core; no browser download)
 * against the local lab on free ports: the systems table shows the lab's systems, a commit applied
 * shows up in the history and on the open page without a reload (Server-Sent Events), a VM edited
 * in vcsim is flagged as drifted. Screenshots of the main views go to a temporary folder, or with
 * SHIPSHAPE_UPDATE_SCREENSHOTS=1 to docs/screenshots/ (the README shows them): a test run leaves the
 * checkout's tracked files as they were.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServe } from '../../src/cli/commands/serve';
import { labVms, setLabVmCpu } from '../helpers/lab-vcsim';
import { silentLog } from '../helpers/log';
import { startUi } from '../../src/ui/server';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { git, startLabCheckout, type LabCheckout } from '../helpers/lab-checkout';
import type { LabEndpoints } from '../helpers/lab-site';

const updateDocs = process.env.SHIPSHAPE_UPDATE_SCREENSHOTS === '1';
const shots = updateDocs ? join(__dirname, '..', '..', 'docs', 'screenshots') : tempDir('ui-shots');
let lab: LabCheckout;
let origin: string;
let deploy: string;
let ports: LabEndpoints;
let state: string;
let ui: { url: string; close(): Promise<void> };
let browser: Browser;
let page: Page;

/** Waits until the element's text matches (the page updates itself; nothing here reloads it). */
async function waitText(p: Page, selector: string, re: RegExp, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    last =
      (await p
        .locator(selector)
        .first()
        .textContent({ timeout: 1000 })
        .catch(() => '')) ?? '';
    if (re.test(last)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${selector} never matched ${re}; last text: ${last.replace(/\s+/g, ' ')}`);
}

const cli = (...args: string[]) => runCli(['--state-dir', state, ...args]);
const shot = (p: Page, name: string) => p.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

beforeAll(async () => {
  lab = await startLabCheckout('ui-e2e', { name: 'Pat Page', email: 'pat@example.com' });
  ({ origin, deploy, ports, state } = lab);
  const first = await cli('apply', '-C', deploy);
  if (first.code !== 0) throw new Error(`apply failed:\n${first.out}\n${first.err}`);

  mkdirSync(shots, { recursive: true });
  ui = await startUi(state, '127.0.0.1:0', 250);
  browser = await chromium.launch({
    executablePath: process.env.SHIPSHAPE_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(20_000);
}, 420_000);

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await lab?.stop();
  if (!updateDocs) removeDir(shots);
}, 60_000);

test('the systems table shows the lab systems with their VM, address, DNS, DHCP and install state', async () => {
  await page.goto(ui.url + '/');
  for (const name of ['web-dev-01', 'web-dev-02', 'db-dev-01', 'shop-live-01', 'shop-live-02']) {
    await waitText(
      page,
      `#main table[aria-labelledby="systems"] tr[data-system="${name}"]`,
      /in sync[\s\S]*poweredOn[\s\S]*\d+ CPU[\s\S]*\d+\.\d+\.\d+\.\d+[\s\S]*\.example\.com/,
    );
  }
  await expect(page.locator(`tr[data-system="web-dev-01"]`).textContent()).resolves.toMatch(/built/);
  // Roles really ran in the lab (each system in its own namespace): the page shows each role's check result.
  await expect(page.locator(`tr[data-system="web-dev-01"]`).textContent()).resolves.toMatch(
    /baseline\/internal[^ ]* ✓ check holds/,
  );
  // Every table has a caption by heading and every column a header: what a screen reader needs.
  expect(await page.locator('#main th[scope="col"]').count()).toBeGreaterThanOrEqual(18);
  await shot(page, 'estate');
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await phone.goto(ui.url + '/');
  // The page itself never scrolls sideways on a phone: wide tables scroll inside their box.
  expect(await phone.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1')).toBe(true);
  await phone.screenshot({ path: join(shots, 'estate-phone.png') });
  await phone.close();
}, 60_000);

test('a commit applied shows up in the history and on the open page without a reload', async () => {
  await page.goto(ui.url + '/');
  await page.evaluate('window.notReloaded = true');
  const web01 = readFileSync(join(origin, 'systems/dev/web-dev-01.yaml'), 'utf8').replace(
    '  profile: web-dev\n',
    '  profile: web-dev\n  cpu: 4\n',
  );
  lab.commit('web-dev-01: 4 CPUs', { 'systems/dev/web-dev-01.yaml': web01 });
  const head = git(origin, 'rev-parse', 'HEAD').trim();
  const applied = await cli('apply', '-C', deploy);
  expect(applied.code).toBe(0);

  const runs = JSON.parse(
    (await cli('history', '--format', 'json', '--system', 'web-dev-01', '--kind', 'apply')).out,
  ).runs;
  expect(runs[0]).toMatchObject({
    kind: 'apply',
    status: 'changed',
    commit: head,
    author: 'Pat Page <pat@example.com>',
    trigger: 'cli',
  });
  const id = runs[0].id as number;
  await waitText(
    page,
    `tr[data-run="${id}"]`,
    new RegExp(`apply[\\s\\S]*changed[\\s\\S]*${head.slice(0, 12)}[\\s\\S]*Pat Page[\\s\\S]*0 created, [12] updated`),
  );
  expect(await page.evaluate('window.notReloaded')).toBe(true);
  await expect(page.locator('#live').textContent()).resolves.toMatch(/updated .* \(live\)/);

  await page.click(`tr[data-run="${id}"] a`);
  await expect(page.locator('#main').textContent()).resolves.toMatch(
    /Run #\d+: apply[\s\S]*web-dev-01[\s\S]*vm update: done[\s\S]*cpu: 2 → 4/,
  );
  await shot(page, 'run');
}, 180_000);

test('a VM edited in vcsim is flagged as drifted on the page, with when it was first seen', async () => {
  await page.goto(ui.url + '/');
  await setLabVmCpu(deploy, ports.vcsim, 'web-dev-01', 3);
  expect((await cli('drift', '-C', deploy)).code).toBe(2);
  await waitText(page, '#main tr.drift-row[data-system="web-dev-01"]', /vm[\s\S]*cpu[\s\S]*3[\s\S]*4[\s\S]*UTC/);
  await expect(page.locator('#main tr[data-system="web-dev-01"]').first().textContent()).resolves.toMatch(/drifted/);
  await shot(page, 'drift');
  await page.click('#main tr.drift-row[data-system="web-dev-01"] a');
  await expect(page.locator('#main').textContent()).resolves.toMatch(
    /web-dev-01[\s\S]*Drift[\s\S]*As each backend sees it[\s\S]*History/,
  );
  await shot(page, 'system');
}, 180_000);

test('behind a signing-in proxy, "Apply this plan" applies exactly the pending plan; without sign-in there is no button', async () => {
  // serve in report-only mode with the button on; its startup run is a drift run that records the pending plan
  // (the VM edited in vcsim above: cpu 3 → 4).
  const served = await startServe(
    {
      dir: deploy,
      stateDir: state,
      mode: 'drift',
      listen: '127.0.0.1:0',
      graceSeconds: 5,
      provisioning: false,
      uiApplyHeader: 'X-Forwarded-User',
    },
    { out: () => undefined, err: () => undefined, isTty: false },
    silentLog,
  );
  try {
    const until = Date.now() + 60_000;
    while ((served.loop.runs < 1 || served.loop.busy) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    const anonymous = await browser.newPage();
    await anonymous.goto(served.url + '/');
    await expect(anonymous.locator('#pending').textContent()).resolves.toMatch(/Pending plan/);
    expect(await anonymous.locator('form.apply').count()).toBe(0);
    await anonymous.close();

    const signedIn = await browser.newPage({ extraHTTPHeaders: { 'X-Forwarded-User': 'alice@example.com' } });
    await signedIn.goto(served.url + '/');
    const button = signedIn.locator('form.apply button');
    await expect(button.textContent()).resolves.toMatch(/Apply this plan \(1 change\(s\)\) as alice@example\.com/);
    // A form posted from another site is refused, even by a signed-in browser with the right fields.
    const form = Object.fromEntries(
      await signedIn
        .locator('form.apply input')
        .evaluateAll((els) => els.map((e) => [e.getAttribute('name') ?? '', e.getAttribute('value') ?? ''])),
    ) as Record<string, string>;
    const forged = await fetch(served.url + '/apply', {
      method: 'POST',
      headers: {
        'x-forwarded-user': 'alice@example.com',
        origin: 'https://evil.example.net',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form).toString(),
      redirect: 'manual',
    });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toMatch(/posted from another site/);

    await shot(signedIn, 'apply-button');
    await button.click();
    await signedIn.waitForURL(/\/runs$/);
    let run: { trigger: string; status: string } | undefined;
    while (!run && Date.now() < until + 120_000) {
      const runs = JSON.parse((await cli('history', '--format', 'json', '--kind', 'apply', '--limit', '1')).out).runs;
      if (runs[0]?.trigger === 'ui apply by alice@example.com' && runs[0].status !== 'running') run = runs[0];
      else await new Promise((r) => setTimeout(r, 500));
    }
    expect(run).toMatchObject({ trigger: 'ui apply by alice@example.com', status: 'changed' });
    const vms = await labVms(deploy, ports.vcsim);
    expect(vms.get('web-dev-01')!.cpu).toBe(4);
    await signedIn.close();
  } finally {
    await served.stop();
  }
}, 240_000);
