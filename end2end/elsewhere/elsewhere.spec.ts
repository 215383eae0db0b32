import { test, expect } from '@playwright/test';
import { hydrated } from '../tests/helpers';

// A team's servers (scripts/elsewhere.sh, with elsewhere.config.ts): the server runs on a host
// of its own (a network namespace where 127.0.0.1 is not this machine), told only its public
// URL; Chromium runs outside it. Every link, thumbnail, report and trace must come from that host.
function given(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/elsewhere.sh`);
  return value;
}
const BUILD = given('VITRINE_ELSEWHERE_BUILD');
const USER = given('VITRINE_ELSEWHERE_USER');
const PASSWORD = given('VITRINE_ELSEWHERE_PASSWORD');

test.describe('a server on a host of its own', () => {
  test.beforeEach(async ({ page }) => {
    await page.goto('/login');
    await hydrated(page);
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page).toHaveURL(/\/$/);
  });

  test('the build page, its thumbnails, an HTML report and a trace load from the public host', async ({ page }) => {
    const publicHost = new URL(page.url()).hostname;
    // Any request to this machine's loopback would mean a URL that only works on the server.
    const strays: string[] = [];
    page.on('request', (r) => {
      const host = new URL(r.url()).hostname;
      if (/^(127\.|localhost$|0\.0\.0\.0$|\[::)/.test(host)) strays.push(r.url());
    });

    await page.goto(`${BUILD}?tab=gallery`);
    await hydrated(page);
    const images = page.getByRole('tabpanel').getByRole('img');
    await expect(images).toHaveCount(3);
    for (const img of await images.all()) {
      await expect
        .poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth))
        .toBeGreaterThan(100);
      const src = await img.evaluate((el: HTMLImageElement) => el.currentSrc);
      expect(new URL(src).hostname).toBe(publicHost);
    }

    // The HTML report opens on the artifacts origin: the public host, its own port.
    await page.goto(`${BUILD}?tab=artifacts&node=0&folder=report%2F`);
    await hydrated(page);
    await page.getByRole('tabpanel').getByRole('link', { name: /(^|\s)index\.html$/ }).click();
    await expect(page.getByRole('heading', { name: 'Test report' })).toBeVisible();
    expect(new URL(page.url()).hostname).toBe(publicHost);
    await expect(page.locator('td.fail')).toHaveCSS('color', 'rgb(180, 35, 24)');

    expect(strays).toEqual([]);
    // The trace opens in Playwright's trace viewer, on the public host too. (What the viewer
    // shows are snapshots of pages the trace recorded, which name the host they were recorded
    // on: not this server's URLs, so not counted.)
    page.removeAllListeners('request');
    await page.goto(`${BUILD}?tab=artifacts&node=0&folder=traces%2F`);
    await hydrated(page);
    await page.getByRole('tabpanel').getByRole('link', { name: 'trace.zip' }).click();
    await expect(page).toHaveURL(/\/trace-viewer\/index\.html\?trace=/);
    expect(new URL(page.url()).hostname).toBe(publicHost);
    await expect(page.getByText(/vitrine-demo\/shop/).first()).toBeVisible({ timeout: 20_000 });
  });
});
