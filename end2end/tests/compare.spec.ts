import { test, expect } from '@playwright/test';
import { hydrated, keyScreen } from './helpers';

test('changed screenshots compare with the last green build: difference, side by side, swipe', async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  await page.goto('/gh/vitrine-demo/shop/2?tab=gallery');
  await hydrated(page);
  const panel = page.getByRole('tabpanel');
  const chips = panel.getByRole('navigation', { name: 'Which images' });
  // Each chip's count is read apart from its label, not run into it ("since #11").
  await expect(chips.getByRole('link', { name: 'Changed screenshots since #1 (3)', exact: true })).toBeVisible();
  await expect(chips.getByRole('link', { name: /^All images \(\d+\)$/ })).toBeVisible();
  await chips.getByRole('link', { name: /Changed screenshots since #1/ }).click();
  await expect(page).toHaveURL(/changed=1/);
  // The checkout page changed since build 1; the home page did not.
  await expect(panel.getByRole('img', { name: 'screenshots/checkout.png' })).toBeVisible();
  await expect(panel.getByRole('img', { name: 'screenshots/home.png' })).toHaveCount(0);
  await panel.getByRole('link', { name: 'Changed', exact: true }).click();

  const comparison = page.getByRole('region', { name: 'Comparison' });
  await expect(comparison.getByRole('heading')).toHaveText('Compared with build #1 (main, last green)');
  // The blue bar of 260×50 pixels went away.
  await expect(comparison.getByRole('status')).toHaveText('13,000 of 518,400 pixels changed (2.51%).');
  const diff = comparison.getByRole('img', { name: 'Pixels that changed, in red' });
  await expect(diff).toBeVisible();
  await expect.poll(() => diff.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(960);
  await keyScreen(page, 'compare-difference');

  await comparison.getByRole('link', { name: 'Side by side' }).click();
  await expect(comparison.getByRole('img', { name: 'Build #1 (main)' })).toBeVisible();
  await expect(comparison.getByRole('img', { name: 'This build' })).toBeVisible();

  await comparison.getByRole('link', { name: 'Swipe' }).click();
  await expect(page).toHaveURL(/compare=swipe/);
  await comparison.getByRole('slider', { name: /Swipe between/ }).fill('20');
  await expect(comparison.locator('.swipe-top')).toHaveAttribute('style', /width: 20%/);
  await keyScreen(page, 'compare-swipe');
  expect(consoleErrors).toEqual([]);
});
