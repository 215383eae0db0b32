import { defineConfig } from '@playwright/test';
import base from './playwright.config';
import { chromium } from './chromium';

// The browser outside a server on a host of its own (scripts/elsewhere.sh, which passes the
// server's URL in BASE_URL): a suite of its own, run by that script only.
//
// Browsers run Playwright's trace viewer (a service worker) only in a secure context: HTTPS or
// localhost. A team serves it over HTTPS (README); here, over plain HTTP on the namespace's
// address, Chromium is told to take that one origin as secure, as HTTPS would make it.
const traceOrigin = process.env.VITRINE_ELSEWHERE_TRACE_ORIGIN;
if (!traceOrigin) throw new Error('VITRINE_ELSEWHERE_TRACE_ORIGIN is not set: run scripts/elsewhere.sh');

export default defineConfig({
  ...base,
  testDir: './elsewhere',
  reporter: [['list']],
  outputDir: 'test-results/elsewhere',
  use: {
    ...base.use,
    launchOptions: {
      ...chromium,
      args: [...chromium.args, `--unsafely-treat-insecure-origin-as-secure=${traceOrigin}`],
    },
  },
});
