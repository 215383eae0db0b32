import { test, expect } from '@playwright/test';
import { keyScreen, seriousViolations } from './helpers';

// scripts/test.sh serves the suite's server with the test OpenID Provider
// (end2end/oidc/provider.mjs: oidc-provider, its development login page) as "Test SSO".

test('a person signs in through the identity provider and lands on the page they asked for', async ({ page, baseURL }) => {
  // A page for the signed-in sends a stranger to sign in first.
  await page.goto('/account');
  await expect(page).toHaveURL(/\/login\?next=%2Faccount$/);
  await expect(page.getByRole('button', { name: 'Sign in with Test SSO' })).toBeVisible();
  // The password form is there too (no --oidc-only).
  await expect(page.getByLabel('Password')).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await keyScreen(page, 'sign-in');

  await page.getByRole('button', { name: 'Sign in with Test SSO' }).click();
  // The provider's own page.
  await expect(page.locator('input[name="login"]')).toBeVisible();
  expect(new URL(page.url()).origin).not.toBe(new URL(baseURL!).origin);
  await page.locator('input[name="login"]').fill('sso-person');
  await page.locator('input[name="password"]').fill('anything');
  await page.locator('button[type="submit"]').click();

  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByRole('link', { name: 'sso-person' })).toBeVisible();

  // Signing out ends the session here and at the provider, which asks and sends the browser back.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  const confirm = page.getByRole('button', { name: /sign me out/i });
  await expect(confirm).toBeVisible();
  await confirm.click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/account');
  await expect(page).toHaveURL(/\/login\?next=/);
});
