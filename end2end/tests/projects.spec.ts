import { test, expect } from '@playwright/test';
import { hydrated } from './helpers';

test('projects lead to their builds and builds to the build page', async ({ page }) => {
  await page.goto('/');
  await hydrated(page);
  await expect(page.getByRole('link', { name: 'vitrine-demo/internal' })).toHaveCount(0);
  await page.getByRole('link', { name: 'vitrine-demo/shop' }).click();
  await expect(page.getByRole('heading', { name: 'vitrine-demo/shop' })).toBeVisible();
  const rows = page.getByRole('row');
  await expect(rows).toHaveCount(3); // header + 2 builds
  await expect(rows.nth(1)).toContainText('feature/login-page');
  await expect(rows.nth(1)).toContainText('failed');
  await expect(rows.nth(2)).toContainText('success');
  await page.getByRole('link', { name: '#1' }).click();
  await expect(page.getByRole('heading', { name: 'Build #1' })).toBeVisible();
  await page.getByRole('tabpanel').getByRole('link', { name: '$CIRCLE_ARTIFACTS/' }).click();
  await expect(page.getByRole('tabpanel').getByRole('link', { name: 'build.log' })).toBeVisible();
});
