import { expect, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { join } from 'path';

/** Inside `vitrine run` (scripts/test.sh): a screenshot of a key screen, stored with the build. */
export async function keyScreen(page: Page, name: string) {
  const artifacts = process.env.CIRCLE_ARTIFACTS;
  if (artifacts) {
    await page.screenshot({ path: join(artifacts, 'screenshots', `${name}.png`), fullPage: true });
  }
}

/** Waits until the WASM has hydrated the page (an effect sets this; effects run only in the browser). */
export async function hydrated(page: Page) {
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
}

/** The demo's bundle.bin, as demo/seed.sh makes it: `yes "vitrine demo bundle" | head -c 300000`. */
export function demoBundle(): Buffer {
  const line = 'vitrine demo bundle\n';
  return Buffer.from(line.repeat(Math.ceil(300000 / line.length)).slice(0, 300000));
}

/** axe-core's serious and critical WCAG 2.1 A and AA violations on the page, one line each. */
export async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
}
