import { test, expect } from '@playwright/test';
import { hydrated } from './helpers';

// Reports as the tools write them (demo/coverage: coverage.py 7 and Istanbul through c8; and
// demo/playwright-html: Playwright's own HTML report of this file's first two tests), stored by
// build 1: they open on the artifacts origin with their styles, scripts and links working.
const BUILD = '/gh/vitrine-demo/shop/1';

test('a coverage.py report opens with its styles and its links to each file', async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0&folder=coverage%2Fpython%2F`);
  await hydrated(page);
  const appOrigin = new URL(page.url()).origin;
  await page.getByRole('tabpanel').getByRole('link', { name: /(^|\s)index\.html$/ }).click();
  await expect(page.getByRole('heading', { name: /shop coverage/ })).toBeVisible();
  expect(new URL(page.url()).origin).not.toBe(appOrigin);
  // Its stylesheet (a relative link) applies.
  await expect(page.locator('header').first()).toHaveCSS('background-color', 'rgb(248, 248, 248)');
  await page.getByRole('link', { name: 'shop/cart.py' }).click();
  await expect(page.getByText('def total(items, coupon=None):')).toBeVisible();
});

test('an Istanbul report opens with its styles and its links to each file', async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0&folder=coverage%2Fjs%2F`);
  await hydrated(page);
  await page.getByRole('tabpanel').getByRole('link', { name: /(^|\s)index\.html$/ }).click();
  await expect(page.getByRole('heading', { name: 'All files' })).toBeVisible();
  await expect(page.locator('h1').first()).toHaveCSS('font-size', '20px');
  await page.getByRole('link', { name: 'cart.js' }).click();
  await expect(page.getByText("if (coupon === 'TENOFF') subtotal -= 10;")).toBeVisible();
});

test("Playwright's HTML report opens and its tests open from it", async ({ page }) => {
  await page.goto(`${BUILD}?tab=artifacts&node=0&folder=e2e-report%2F`);
  await hydrated(page);
  await page.getByRole('tabpanel').getByRole('link', { name: /(^|\s)index\.html$/ }).click();
  const title = 'a coverage.py report opens with its styles and its links to each file';
  await expect(page.getByText(title).first()).toBeVisible();
  await page.getByText(title).first().click();
  await expect(page).toHaveURL(/#\?testId=/);
  await expect(page.getByText('Before Hooks').or(page.getByText('Test Steps')).first()).toBeVisible();
});
