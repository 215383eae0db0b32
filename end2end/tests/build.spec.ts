import { test, expect } from '@playwright/test';
import { readFileSync } from 'fs';
import { createHash } from 'crypto';
import { demoBundle, hydrated, keyScreen } from './helpers';

const BUILD = '/gh/vitrine-demo/shop/2';

test('the build page renders on the server, then hydrates', async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  const response = await page.goto(BUILD);
  expect(response?.status()).toBe(200);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Build #2' })).toBeVisible();
  await expect(page.locator('[data-status]').first()).toHaveText('failed');
  await keyScreen(page, 'build-page');
  await expect(page.locator('.facts .branch')).toHaveText('feature/login-page');
  const links = page.getByRole('navigation', { name: 'Artifact links' });
  // HTML reports come first among the links at the top.
  await expect(links.getByRole('link').first()).toHaveText('playwright-report/index.html');
  await expect(links.getByRole('link', { name: 'logs/build.log' })).toBeVisible();
  expect(consoleErrors).toEqual([]);
});

test('tabs switch in the browser, and folders and containers open one at a time', async ({ page }) => {
  await page.goto(BUILD);
  await hydrated(page);
  const artifacts = page.getByRole('tab', { name: /Artifacts/ });
  await expect(artifacts).toHaveAttribute('aria-selected', 'true');
  const panel = page.getByRole('tabpanel');
  const containers = panel.getByRole('navigation', { name: 'Containers' });
  await expect(containers.getByRole('link', { name: /Container 0/ })).toHaveAttribute('aria-current', 'page');
  await expect(panel.getByRole('link', { name: 'screenshots/' })).toBeVisible();
  await expect(panel.getByRole('link', { name: 'checkout-node1.png' })).toHaveCount(0);

  // A folder opens in place, and the crumbs lead back up.
  await panel.getByRole('link', { name: 'screenshots/' }).click();
  await expect(page).toHaveURL(/folder=screenshots\/$/);
  await expect(panel.getByRole('link', { name: 'login-error.png' })).toBeVisible();
  await panel.getByRole('navigation', { name: 'Folder' }).getByRole('link', { name: 'Container 0' }).click();
  await expect(panel.getByRole('link', { name: 'logs/' })).toBeVisible();

  // Container 1 holds only $CIRCLE_ARTIFACTS/: it opens at once.
  await containers.getByRole('link', { name: /Container 1/ }).click();
  await expect(page).toHaveURL(/node=1/);
  await expect(panel.getByRole('link', { name: 'checkout-node1.png' })).toBeVisible();

  await page.getByRole('tab', { name: /Gallery/ }).click();
  await expect(page).toHaveURL(/tab=gallery/);
  const images = page.getByRole('tabpanel').getByRole('img');
  await expect(images).toHaveCount(4);
  // Every thumbnail really loaded through the artifact route and its redirect to storage.
  for (const img of await images.all()) {
    await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBeGreaterThan(100);
  }
  await expect(page.getByRole('tabpanel').getByRole('img', { name: 'screenshots/login-error.png' })).toBeVisible();

  await artifacts.click();
  await expect(page.getByRole('tabpanel').getByRole('link', { name: /Container 0/ })).toBeVisible();
});

test('the filter finds artifacts anywhere in the build as one types', async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts`);
  await hydrated(page);
  const panel = page.getByRole('tabpanel');
  const filter = panel.getByRole('searchbox', { name: 'Filter artifacts by path' });
  await filter.pressSequentially('checkout');
  await expect(page).toHaveURL(/q=checkout/);
  await expect(panel.getByRole('link', { name: '$CIRCLE_ARTIFACTS/checkout-node1.png' })).toBeVisible();
  await expect(panel.getByRole('link', { name: 'screenshots/checkout.png' })).toBeVisible();
  // Typing on narrows the matches; the box keeps its focus.
  await filter.pressSequentially('-NODE');
  await expect(panel.getByRole('link', { name: 'screenshots/checkout.png' })).toHaveCount(0);
  await expect(panel.getByRole('link', { name: '$CIRCLE_ARTIFACTS/checkout-node1.png' })).toBeVisible();
  await expect(filter).toBeFocused();
  await filter.fill('no-such-artifact');
  await expect(panel.getByText('No artifact path contains “no-such-artifact”.')).toBeVisible();
});

test('a binary artifact opens with its size and SHA-256, and downloads exactly its bytes', async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0&folder=dist%2F`);
  await hydrated(page);
  const panel = page.getByRole('tabpanel');
  await panel.getByRole('link', { name: 'bundle.bin' }).click();
  await expect(panel.getByRole('heading', { name: 'bundle.bin' })).toBeVisible();
  await expect(page).toHaveURL(/file=dist\/bundle\.bin/);
  const sha256 = createHash('sha256').update(demoBundle()).digest('hex');
  await expect(panel.locator('code.digest')).toHaveText(sha256);
  const downloadPromise = page.waitForEvent('download');
  await panel.getByRole('link', { name: 'Download bundle.bin (300.0 kB)' }).click();
  const download = await downloadPromise;
  expect(download.suggestedFilename()).toBe('bundle.bin');
  const bytes = readFileSync(await download.path());
  expect(bytes.equals(demoBundle())).toBe(true);
});

test('a log opens in the browser as text', async ({ page }) => {
  await page.goto(BUILD);
  await hydrated(page);
  await page.getByRole('navigation', { name: 'Artifact links' }).getByRole('link', { name: 'logs/build.log' }).click();
  await expect(page.locator('body')).toContainText('login › shows an error for a wrong password: FAILED');
});

test('a log opens in the page with its colours; back returns to its folder', async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0`);
  await hydrated(page);
  const panel = page.getByRole('tabpanel');
  await panel.getByRole('link', { name: 'logs/' }).click();
  await panel.getByRole('link', { name: 'build.log' }).click();
  const log = panel.getByLabel('Contents of build.log');
  await expect(log).toContainText('login › shows an error for a wrong password: FAILED');
  await expect(log).toContainText('41 passed, 1 failed');
  await keyScreen(page, 'log-preview');
  // ANSI red, bold: as the terminal showed it.
  await expect(log.getByText('login › shows an error for a wrong password: FAILED')).toHaveCSS('color', 'rgb(248, 113, 113)');
  await expect(panel.getByRole('navigation', { name: 'Folder' })).toContainText('logs');
  await page.goBack();
  await expect(panel.getByRole('link', { name: 'build.log' })).toBeVisible();
});

test('a JUnit report opens as a table of test cases, failures first', async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0&folder=test-results%2F`);
  await hydrated(page);
  const panel = page.getByRole('tabpanel');
  await panel.getByRole('link', { name: 'junit.xml' }).click();
  await expect(panel.getByRole('status')).toHaveText('3 tests · 1 failed · 2 passed');
  const table = panel.getByRole('table', { name: 'Test cases, failures first' });
  const rows = table.getByRole('row');
  await expect(rows).toHaveCount(4);
  await expect(rows.nth(1)).toContainText('Failed');
  await expect(rows.nth(1)).toContainText('shows an error for a wrong password');
  await expect(rows.nth(1)).toContainText('expected the alert to say Wrong password');
  await expect(rows.nth(1)).toContainText('at login.spec.ts:14:31');
  await expect(rows.nth(2)).toContainText('Passed');
  await keyScreen(page, 'junit-report');
});

test('a zip artifact opens as a folder, and the report in it opens with its styles', async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0&folder=archives%2F`);
  await hydrated(page);
  const panel = page.getByRole('tabpanel');
  await panel.getByRole('link', { name: 'report.zip/' }).click();
  await expect(panel.getByRole('navigation', { name: 'Folder' })).toContainText('report.zip');
  await panel.getByRole('link', { name: 'index.html' }).click();
  await expect(page.getByRole('heading', { name: 'Test report' })).toBeVisible();
  await expect(page.locator('td.fail')).toHaveCSS('color', 'rgb(180, 35, 24)');
});

test("a Playwright trace opens in Playwright's trace viewer in one click", async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0&folder=test-results%2F`);
  await hydrated(page);
  const appOrigin = new URL(page.url()).origin;
  await page.getByRole('tabpanel').getByRole('link', { name: 'trace.zip' }).click();
  await expect(page).toHaveURL(/\/trace-viewer\/index\.html\?trace=/);
  expect(new URL(page.url()).origin).not.toBe(appOrigin);
  // The viewer (from the playwright-core package) loaded the trace: its actions are listed.
  await expect(page.getByText(/vitrine-demo\/shop/).first()).toBeVisible({ timeout: 20_000 });
  await keyScreen(page, 'trace-viewer');
});

test('a folder downloads as one zip', async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0&folder=screenshots%2F`);
  await hydrated(page);
  const downloadPromise = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download screenshots/ as .zip' }).click();
  const download = await downloadPromise;
  expect(download.suggestedFilename()).toBe('shop-2-0-screenshots.zip');
  const bytes = readFileSync(await download.path());
  expect(bytes.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
  for (const name of ['screenshots/checkout.png', 'screenshots/home.png', 'screenshots/login-error.png']) {
    expect(bytes.includes(Buffer.from(name))).toBe(true);
  }
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the page and its tabs work as plain links', async ({ page }) => {
    await page.goto(BUILD);
    await expect(page.getByRole('heading', { name: 'Build #2' })).toBeVisible();
    // Folders are links, and the filter is a form.
    await page.getByRole('tabpanel').getByRole('link', { name: 'logs/' }).click();
    await expect(page.getByRole('tabpanel').getByRole('link', { name: 'build.log' })).toBeVisible();
    await page.getByRole('searchbox', { name: 'Filter artifacts by path' }).fill('bundle');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect(page).toHaveURL(/q=bundle/);
    await expect(page.getByRole('tabpanel').getByRole('link', { name: 'dist/bundle.bin' })).toBeVisible();
    await page.getByRole('tab', { name: /Gallery/ }).click();
    await expect(page).toHaveURL(/tab=gallery/);
    await expect(page.getByRole('tabpanel').getByRole('img')).toHaveCount(4);
  });
});

test('an HTML report opens on its own origin with its styles and links working', async ({ page }) => {
  await page.goto(BUILD);
  await hydrated(page);
  const appOrigin = new URL(page.url()).origin;
  await page.getByRole('navigation', { name: 'Artifact links' }).getByRole('link', { name: 'playwright-report/index.html' }).click();
  await expect(page.getByRole('heading', { name: 'Test report' })).toBeVisible();
  expect(new URL(page.url()).origin).not.toBe(appOrigin);
  // style.css, a relative link, applied: failures are red.
  await expect(page.locator('td.fail')).toHaveCSS('color', 'rgb(180, 35, 24)');
  // The page runs on its build's own origin, another site than the app's: no session there.
  expect(new URL(page.url()).hostname).toMatch(/^b\d+\.artifacts\.localhost$/);
  expect(await page.evaluate(() => { try { return document.cookie; } catch { return 'blocked'; } })).not.toContain('vitrine_session');
  await page.getByRole('link', { name: 'login' }).click();
  await expect(page.getByRole('heading', { name: /shows an error for a wrong password/ })).toBeVisible();
});

test('the Details tab offers latest links that follow the branch', async ({ page }) => {
  await page.goto(`${BUILD}?tab=details`);
  await hydrated(page);
  const panel = page.getByRole('tabpanel');
  // Which agent stored the build: `vitrine execute`, as it names itself (vitrine/<release>).
  await expect(panel.locator('dt:has-text("Stored by") + dd')).toHaveText(/^vitrine\/\d+\.\d+\.\d+$/);
  const link = panel.getByRole('link', { name: 'logs/build.log' });
  await expect(link).toHaveAttribute('href', /\/gh\/vitrine-demo\/shop\/latest\/artifacts\/0\/logs\/build\.log\?branch=feature\/login-page$/);
  // Its copy button copies it whole, as people share it.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await panel.getByRole('button', { name: 'Copy the latest link to logs/build.log' }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toBe(`${new URL(page.url()).origin}/gh/vitrine-demo/shop/latest/artifacts/0/logs/build.log?branch=feature/login-page`);
  await link.click();
  await expect(page.locator('body')).toContainText('41 passed, 1 failed');
});
