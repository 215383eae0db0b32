import { test, expect } from '@playwright/test';
import { hydrated } from './helpers';

test('a member pins a build to keep its artifacts past the retention, and unpins it', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill('demo');
  await page.getByLabel('Password').fill('demo-password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/$/);

  await page.goto('/gh/vitrine-demo/internal/1');
  await hydrated(page);
  await expect(page.getByText('Pinned', { exact: true })).toHaveCount(0);
  await page.getByRole('button', { name: 'Pin build' }).click();
  await expect(page.getByText('Pinned', { exact: true })).toBeVisible();
  await page.reload();
  await expect(page.getByText('Pinned', { exact: true })).toBeVisible();

  await page.getByRole('button', { name: 'Unpin' }).click();
  await expect(page.getByRole('button', { name: 'Pin build' })).toBeVisible();
  await expect(page.getByText('Pinned', { exact: true })).toHaveCount(0);
});

test('visitors of a public build see no pin button', async ({ page }) => {
  await page.goto('/gh/vitrine-demo/shop/1');
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Build #1' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Pin build' })).toHaveCount(0);
});
