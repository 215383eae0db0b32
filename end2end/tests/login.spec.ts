import { test, expect } from '@playwright/test';
import { hydrated } from './helpers';

test('a private build is hidden until a member signs in', async ({ page }) => {
  const response = await page.goto('/gh/vitrine-demo/internal/1');
  expect(response?.status()).toBe(404);
  await expect(page.getByText('Project not found')).toBeVisible();
  await expect(page.getByText('notes.txt')).toHaveCount(0);

  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill('demo');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('Wrong username or password');

  await page.getByLabel('Password').fill('demo-password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('link', { name: 'vitrine-demo/internal' })).toBeVisible();
  await expect(page.getByText('demo', { exact: true })).toBeVisible();

  await page.getByRole('link', { name: 'vitrine-demo/internal' }).click();
  await page.getByRole('link', { name: '#1' }).click();
  await expect(page.getByRole('tabpanel').getByRole('link', { name: 'notes.txt' })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'vitrine-demo/internal' })).toHaveCount(0);
});
