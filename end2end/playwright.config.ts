import { defineConfig } from '@playwright/test';
import { chromium } from './chromium';

// The server is started and seeded by scripts/test.sh, which passes its URL in BASE_URL.
const baseURL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
// Inside `vitrine run` (scripts/test.sh), the report and the traces are stored as artifacts.
const artifacts = process.env.CIRCLE_ARTIFACTS;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: artifacts
    ? [['list'], ['html', { outputFolder: `${artifacts}/playwright-report`, open: 'never' }]]
    : [['list']],
  outputDir: artifacts ? `${artifacts}/test-results` : 'test-results',
  use: {
    baseURL,
    trace: 'retain-on-failure',
    launchOptions: chromium,
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
});
