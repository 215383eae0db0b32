import { test, expect, Page } from '@playwright/test';
import { keyScreen, seriousViolations } from './helpers';

/** Signs in through the sign-in form, as a person does, and lands on `next`. */
async function signIn(page: Page, user: string, next: string) {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(`${user}-password`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`${next.replace(/[/?]/g, '\\$&')}$`));
}

const SETTINGS = '/gh/vitrine-demo/shop/settings';

test('a maintainer manages members and build tokens from the project page', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page, 'demo', '/gh/vitrine-demo/shop');
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page).toHaveURL(SETTINGS);
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
  await expect(page.getByText('--project gh/vitrine-demo/shop')).toBeVisible();

  // Add guest as a member, make them a maintainer, then remove them.
  const members = page.locator('#members');
  await members.getByLabel('Username').fill('guest');
  await members.getByRole('button', { name: 'Add member' }).click();
  await expect(page.getByRole('status')).toHaveText('Member added.');
  await expect(members.getByRole('cell', { name: 'guest', exact: true })).toBeVisible();
  // A duplicate is answered in words, beside the form.
  await members.getByLabel('Username').fill('guest');
  await members.getByRole('button', { name: 'Add member' }).click();
  await expect(members.getByRole('alert')).toContainText('guest is already a member of gh/vitrine-demo/shop');
  await members.getByLabel('Role of guest').selectOption('maintainer');
  await members.getByRole('row', { name: /guest/ }).getByRole('button', { name: 'Change' }).click();
  await expect(page.getByRole('status')).toHaveText('Role changed.');
  await expect(page.locator('#members').getByLabel('Role of guest')).toHaveValue('maintainer');
  await page.locator('#members').getByRole('button', { name: 'Remove guest' }).click();
  await expect(page.getByRole('status')).toHaveText('Member removed.');
  await expect(page.locator('#members').getByRole('cell', { name: 'guest', exact: true })).toHaveCount(0);

  // A build token: shown once, copied with its button.
  const tokens = page.locator('#tokens');
  await tokens.getByLabel('Name').fill('playwright runners');
  await tokens.getByRole('button', { name: 'Create build token' }).click();
  const shown = page.locator('#tokens .created code');
  await expect(shown).toHaveText(/^[0-9a-f]{40}$/);
  const token = await shown.textContent();
  await page.getByRole('button', { name: 'Copy the build token' }).click();
  await expect(page.getByRole('button', { name: 'Copy the build token' })).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
  await keyScreen(page, 'project-settings');
  await page.goto(SETTINGS);
  await expect(page.getByText(token!)).toHaveCount(0);
  await page.locator('#tokens').getByRole('button', { name: 'Revoke playwright runners' }).click();
  await expect(page.getByRole('status')).toContainText('Build token revoked');
});

test('copying works where the clipboard API is not there', async ({ page }) => {
  // A page served over plain http on a LAN address has no navigator.clipboard.
  await page.addInitScript(() => Object.defineProperty(navigator, 'clipboard', { value: undefined }));
  await signIn(page, 'demo', SETTINGS);
  const copy = page.getByRole('button', { name: 'Copy the run command' });
  await copy.click();
  // The browser's copy command did it; the button says so, then reads as before.
  await expect(copy).toHaveText('Copied');
  await expect(copy).toHaveText('Copy');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a person creates an API token and sees it once', async ({ page }) => {
    await page.goto('/login?next=%2Faccount');
    await page.getByLabel('Username').fill('demo');
    await page.getByLabel('Password').fill('demo-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page).toHaveURL(/\/account$/);
    const tokens = page.locator('#tokens');
    await tokens.getByLabel('Name').fill('no-script');
    await tokens.getByLabel('Scope').selectOption('read');
    await tokens.getByLabel('Expires').selectOption('30');
    await tokens.getByRole('button', { name: 'Create token' }).click();
    await expect(page.locator('#tokens .created code')).toHaveText(/^[0-9a-f]{40}$/);
    await expect(page.locator('#tokens .created')).toContainText('It expires');
    // Times are shown in UTC as the server wrote them.
    await expect(page.locator('#tokens time').first()).toHaveText(/UTC$/);
    await page.goto('/account');
    await expect(page.getByRole('cell', { name: 'no-script', exact: true })).toBeVisible();
    await page.getByRole('button', { name: 'Revoke no-script' }).click();
    await expect(page.getByRole('status')).toContainText('Token revoked');
  });
});

test('times are shown in the reader\'s zone, the full time on hover', async ({ page }) => {
  await signIn(page, 'demo', '/account');
  const time = page.locator('#sessions time').first();
  await expect(time).not.toHaveText(/UTC$/);
  await expect(time).toHaveAttribute('title', /\d/);
});

test('the admin pages are for admins', async ({ page }) => {
  await signIn(page, 'demo', '/');
  const refused = await page.goto('/admin');
  expect(refused?.status()).toBe(404);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'admin', '/admin');
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'guest', exact: true })).toBeVisible();
  await expect(page.getByRole('link', { name: 'gh/vitrine-demo/internal', exact: true })).toBeVisible();
  await keyScreen(page, 'admin');
});

/** The pages of this file, by who sees them. */
const PAGES: [string, string, string][] = [
  ['project settings', 'demo', SETTINGS],
  ['account', 'demo', '/account'],
  ['admin', 'admin', '/admin'],
];


for (const scheme of ['light', 'dark'] as const) {
  test.describe(`${scheme} theme`, () => {
    test.use({ colorScheme: scheme });
    for (const [name, user, path] of PAGES) {
      test(`${name} has no serious or critical accessibility violations`, async ({ page }) => {
        await signIn(page, user, path);
        expect(await seriousViolations(page)).toEqual([]);
      });
    }
  });
}

test.describe('at 375 px wide', () => {
  test.use({ viewport: { width: 375, height: 740 } });
  for (const [name, user, path] of PAGES) {
    test(`${name} fits without scrolling sideways and passes axe`, async ({ page }) => {
      await signIn(page, user, path);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      expect(await seriousViolations(page)).toEqual([]);
    });
  }
});
