// Times the build page in headless Chromium (Debian's): navigation until the first artifact
// rows are visible, and until a filter's first result is, 5 times each (median), against a
// static page listing the same links; then until the page is interactive (hydrated), on a
// first and a repeat visit. Run by bench/page.sh.
import { createRequire } from 'module';

const require = createRequire(`${process.cwd()}/end2end/`);
const { chromium } = require('playwright');

const [buildBase, staticUrl, small, big] = process.argv.slice(2);
const RUNS = 5;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});

/** Milliseconds from navigation start until `selector` is visible, in a fresh page. */
async function time(url, selector) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(url, { waitUntil: 'commit' });
  await page.locator(selector).first().waitFor({ state: 'visible', timeout: 60_000 });
  const ms = Date.now() - started;
  await context.close();
  return ms;
}

async function median(url, selector) {
  await time(url, selector); // warm-up: caches, the first WASM compile
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await time(url, selector));
  runs.sort((a, b) => a - b);
  return runs[Math.floor(RUNS / 2)];
}

const row = '[role=tabpanel] ul.tree li a';
const staticMs = await median(staticUrl, 'ul li a');
const rows = [[`static page, ${small} links`, staticMs, '']];
for (const [num, count] of [[1, small], [2, big]]) {
  const first = await median(`${buildBase}/${num}?tab=artifacts`, row);
  const filtered = await median(`${buildBase}/${num}?tab=artifacts&q=file-3-12`, row);
  rows.push([`build of ${count} artifacts: first rows`, first, (first / staticMs).toFixed(2)]);
  rows.push([`build of ${count} artifacts: filter "file-3-12"`, filtered, (filtered / staticMs).toFixed(2)]);
}
// Time to interactive: navigation until the WASM has hydrated the page (the layout sets
// data-hydrated from an Effect, which runs only in the browser), on a first visit (a fresh
// browser context: nothing cached) and on a second one in the same context (the bundle, kept a
// year by its hashed name, comes from the browser's cache without a request).
async function hydrated(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const visit = async () => {
    const started = Date.now();
    await page.goto(url, { waitUntil: 'commit' });
    await page.locator('main[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 60_000 });
    return Date.now() - started;
  };
  const first = await visit();
  const again = await visit();
  await context.close();
  return [first, again];
}
await hydrated(`${buildBase}/1`); // warm-up
const firstVisits = [], repeatVisits = [];
for (let i = 0; i < RUNS; i++) {
  const [first, again] = await hydrated(`${buildBase}/1`);
  firstVisits.push(first);
  repeatVisits.push(again);
}
const mid = (runs) => runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)];
rows.push([`build of ${small} artifacts: interactive, first visit`, mid(firstVisits), '']);
rows.push([`build of ${small} artifacts: interactive, next visit`, mid(repeatVisits), '']);
console.log('| page | median ms | vs static |');
console.log('|---|---|---|');
for (const [name, ms, ratio] of rows) console.log(`| ${name} | ${ms} | ${ratio} |`);
await browser.close();
