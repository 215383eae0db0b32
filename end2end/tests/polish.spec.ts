import { test, expect, Page } from '@playwright/test';
import { hydrated, keyScreen, seriousViolations } from './helpers';

const BUILD = '/gh/vitrine-demo/shop/2';

/** Every kind of page a person opens, in a state that shows its parts. */
const PAGES: [string, string][] = [
  ['projects', '/'],
  ['sign-in', '/login'],
  ['project', '/gh/vitrine-demo/shop'],
  ['build: artifacts', BUILD],
  ['build: folder', `${BUILD}?tab=artifacts&node=0&folder=screenshots%2F`],
  ['build: filter', `${BUILD}?tab=artifacts&q=png`],
  ['build: log', `${BUILD}?tab=artifacts&node=0&folder=logs%2F&file=logs%2Fbuild.log`],
  ['build: JUnit report', `${BUILD}?tab=artifacts&node=0&folder=test-results%2F&file=test-results%2Fjunit.xml`],
  ['build: comparison', `${BUILD}?tab=artifacts&node=0&folder=screenshots%2F&file=screenshots%2Fcheckout.png&compare=swipe`],
  ['build: gallery', `${BUILD}?tab=gallery`],
  ['build: lightbox', `${BUILD}?tab=gallery&image=0:screenshots/checkout.png`],
  ['build: details', `${BUILD}?tab=details`],
  ['missing build', '/gh/vitrine-demo/shop/999'],
];


for (const scheme of ['light', 'dark'] as const) {
  test.describe(`${scheme} theme`, () => {
    test.use({ colorScheme: scheme });
    for (const [name, path] of PAGES) {
      test(`${name} has no serious or critical accessibility violations`, async ({ page }) => {
        await page.goto(path);
        await hydrated(page);
        await page.waitForLoadState('networkidle');
        expect(await seriousViolations(page)).toEqual([]);
      });
    }
  });
}

test('the theme follows the system', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(BUILD);
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(light).not.toBe(dark);
  await keyScreen(page, 'build-page-dark');
});

test.describe('at 375 px wide', () => {
  test.use({ viewport: { width: 375, height: 740 } });
  for (const [name, path] of PAGES) {
    test(`${name} fits without scrolling sideways`, async ({ page }) => {
      await page.goto(path);
      await hydrated(page);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      if (path === BUILD) await keyScreen(page, 'build-page-375px');
    });
  }
});

test('the build page is usable from the keyboard', async ({ page }) => {
  await page.goto(BUILD);
  await hydrated(page);
  // Tab to the Gallery tab and follow it.
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.textContent?.startsWith('Gallery'))) break;
  }
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/tab=gallery/);
  // An image opens from the keyboard, and Escape closes it.
  await page.getByRole('tabpanel').getByRole('link').filter({ has: page.getByRole('img', { name: 'screenshots/checkout.png' }) }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('dialog', { name: 'screenshots/checkout.png' })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
});
