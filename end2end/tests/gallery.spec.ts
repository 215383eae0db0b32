import { test, expect } from '@playwright/test';
import { hydrated, keyScreen } from './helpers';

const GALLERY = '/gh/vitrine-demo/shop/2?tab=gallery';

test('screenshots open in a lightbox that arrow keys move through and Escape closes', async ({ page }) => {
  await page.goto(GALLERY);
  await hydrated(page);
  const panel = page.getByRole('tabpanel');
  await expect(panel.getByRole('heading', { name: /screenshots\// })).toBeVisible();
  await panel.getByRole('img', { name: 'screenshots/checkout.png' }).click();
  const dialog = page.getByRole('dialog', { name: 'screenshots/checkout.png' });
  await expect(dialog).toBeVisible();
  await expect(page).toHaveURL(/image=0:screenshots\/checkout\.png$/);
  await expect(dialog).toContainText(/\d+(\.\d+)? (B|kB|MB)/);
  await keyScreen(page, 'gallery-lightbox');

  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('dialog', { name: 'screenshots/home.png' })).toBeVisible();
  await page.keyboard.press('ArrowLeft');
  await expect(page.getByRole('dialog', { name: 'screenshots/checkout.png' })).toBeVisible();

  const zoom = dialog.getByRole('button', { name: 'Zoom' });
  await zoom.click();
  await expect(zoom).toHaveAttribute('aria-pressed', 'true');

  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page).not.toHaveURL(/image=/);

  // The opened image's URL is shareable: it opens the same image.
  await page.goto(`${GALLERY}&image=0:screenshots/login-error.png`);
  await expect(page.getByRole('dialog', { name: 'screenshots/login-error.png' })).toBeVisible();
});
