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

test('projects are searched, and a project\'s builds filtered, from the address', async ({ page }) => {
  await page.goto('/');
  await hydrated(page);
  // "/" goes to the page's search box.
  await page.keyboard.press('/');
  const search = page.getByRole('searchbox', { name: 'Search projects' });
  await expect(search).toBeFocused();
  await search.fill('nothing-like-it');
  await search.press('Enter');
  await expect(page).toHaveURL(/\?q=nothing-like-it/);
  await expect(page.getByText('No project matches.')).toBeVisible();
  await page.goto('/?q=SHOP');
  await expect(page.getByRole('link', { name: 'vitrine-demo/shop' })).toBeVisible();

  await page.goto('/gh/vitrine-demo/shop');
  await hydrated(page);
  await page.getByRole('searchbox', { name: 'Branch' }).fill('feature/login-page');
  await page.getByLabel('Status').selectOption('failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/branch=feature%2Flogin-page&status=failed/);
  await expect(page.getByRole('link', { name: '#2' })).toBeVisible();
  await expect(page.getByRole('link', { name: '#1', exact: true })).toHaveCount(0);
  await page.goto('/gh/vitrine-demo/shop?status=running');
  await expect(page.getByText('No builds match.')).toBeVisible();
  await expect(page.getByLabel('Status')).toHaveValue('running');
});

test('times are the reader\'s, and artifacts say when they expire', async ({ page }) => {
  await page.goto('/gh/vitrine-demo/shop/2?tab=details');
  await hydrated(page);
  const started = page.locator('.facts time').first();
  // Written in UTC by the server, shown relative by the page, the full time on hover.
  await expect(started).toHaveText(/ago|now/);
  await expect(started).toHaveAttribute('title', /\d/);
  await expect(page.locator('.facts')).toContainText('Artifacts expire');
  await expect(page.locator('.facts time').nth(1)).toHaveText(/^in \d+ days$/);
  // Build 1 is the branch's latest green build: it keeps its artifacts.
  await page.goto('/gh/vitrine-demo/shop/1');
  await hydrated(page);
  await expect(page.locator('.facts')).not.toContainText('Artifacts expire');
});
