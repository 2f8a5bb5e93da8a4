// Shared harness of the admin page's browser tests: drives Debian's Chromium
// headless through playwright-core, fails on any console error, page error
// or CSP violation, takes screenshots, talks to the Rust test that runs the
// script, and prints one JSON line of results at the end.
//
// Environment: BROWSER_MODULES (the node_modules folder of
// scripts/fixtures/browser.sh), CHROMIUM (default /usr/bin/chromium),
// ARTIFACTS (the screenshot folder), GATEWAY_URL, and per script the keys
// and expectations it documents.
//
// Rendezvous with the Rust test: `await rendezvous(name, data)` prints
// `@@wait {"name":…,"data":…}` and resolves with the JSON line the test
// writes back on stdin (after it changed or checked state over REST).

import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const SCRIPT = process.argv[1].replace(/^.*\//, '').replace(/\.mjs$/, '');
const results = { script: SCRIPT, ok: true, steps: [], failures: [], report: {} };

export function env(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback;
    results.ok = false;
    results.failures.push({ step: 'setup', message: `the environment variable ${name} is not set` });
    emit();
    process.exit(1);
  }
  return value;
}

const MODULES = env('BROWSER_MODULES');
const require = createRequire(join(MODULES, 'noop.js'));
const { chromium } = require('playwright-core');

export const GATEWAY = env('GATEWAY_URL').replace(/\/$/, '');
const ARTIFACTS = env('ARTIFACTS');
/** The ceiling of every wait for the page (not a speed assertion). */
export const WAIT_MS = Number(env('WAIT_MS', '10000'));

/** Errors seen in any page: console errors, page errors, CSP violations. */
const problems = [];
let currentStep = 'setup';
/** Patterns of console errors the current step expects (e.g. a 401). */
let allowed = [];
let browser;
const pages = [];

export const report = results.report;

function fail(step, message) {
  results.ok = false;
  results.failures.push({ step, message });
  return finish();
}

function emit() {
  process.stdout.write(JSON.stringify(results) + '\n');
}

/** Starts Chromium headless (`CHROMIUM`, default /usr/bin/chromium). */
export async function launch() {
  browser = await chromium.launch({
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  results.report.browser = browser.version();
  mkdirSync(ARTIFACTS, { recursive: true });
  // This script's screenshots of an earlier run would mislead.
  for (const file of readdirSync(ARTIFACTS)) {
    if (file.startsWith(`${SCRIPT}-`) && file.endsWith('.png')) rmSync(join(ARTIFACTS, file));
  }
  return browser;
}

/**
 * A fresh context and page, watched for console errors, page errors and
 * CSP violations (the `securitypolicyviolation` event, reported through a
 * binding that Playwright installs outside the page's CSP).
 */
export async function newPage(label, options = {}) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
    ...options,
  });
  await context.exposeBinding('__reportCspViolation', (_source, v) => {
    problems.push({ step: currentStep, page: label, kind: 'csp', text: v });
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      globalThis.__reportCspViolation(
        `${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`,
      );
    });
  });
  const page = await context.newPage();
  watch(page, label);
  return page;
}

/**
 * Records `page`'s console errors, page errors and native dialogs; for
 * pages the page itself opens (a popup), call it with a label of their own.
 */
export function watch(page, label) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const loc = msg.location();
    const where = loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : '';
    if (allowed.some((re) => re.test(text))) return;
    problems.push({ step: currentStep, page: label, kind: 'console', text: text + where });
  });
  page.on('dialog', async (dialog) => {
    problems.push({ step: currentStep, page: label, kind: 'native-dialog', text: `window.${dialog.type()}(${JSON.stringify(dialog.message())}): the page must use <dialog>` });
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (err) => {
    problems.push({ step: currentStep, page: label, kind: 'pageerror', text: String(err.stack || err) });
  });
  pages.push({ label, page });
}

/**
 * Fails the step in which `page` calls /api/ or /graphql without
 * `Authorization: Bearer <token>`, or puts the token in a URL.
 */
export function requireBearer(page, label, token) {
  page.on('request', async (request) => {
    const url = request.url();
    if (url.includes(encodeURIComponent(token)) || url.includes(token)) {
      problems.push({ step: currentStep, page: label, kind: 'token-in-url', text: `the credential is in a URL: ${url.split('?')[0]}?…` });
    }
    const { pathname } = new URL(url);
    if (!pathname.startsWith('/api/') && pathname !== '/graphql') return;
    const auth = await request.headerValue('authorization');
    if (auth !== `Bearer ${token}`) {
      problems.push({ step: currentStep, page: label, kind: 'no-bearer', text: `${request.method()} ${pathname} went out with Authorization ${JSON.stringify(auth && auth.replace(token, '<token>'))}` });
    }
  });
}

/** A screenshot (full page unless told) into ARTIFACTS as `<script>-<name>.png`. */
export async function shot(page, name, { fullPage = true } = {}) {
  const path = join(ARTIFACTS, `${SCRIPT}-${name}.png`);
  // From the top, so a sticky header sits where a reader expects it.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, fullPage });
  (results.report.screenshots ||= []).push(path);
  return path;
}

/**
 * Runs one step; a throw, or a console/page/CSP error during it, fails the
 * script (later steps build on this one, so they do not run). `allow` lists
 * console errors this step provokes on purpose (e.g. a 401 for a bad key).
 */
export async function step(name, fn, { allow = [] } = {}) {
  currentStep = name;
  allowed = allow;
  const started = Date.now();
  const before = problems.length;
  try {
    await fn();
    // Let late console messages of this step arrive before judging it.
    await new Promise((r) => setTimeout(r, 50));
  } catch (err) {
    allowed = [];
    results.steps.push({ name, ms: Date.now() - started, ok: false });
    await failureShots(name);
    const fresh = problems.slice(before).map((p) => `\n  (the page also reported: [${p.page} ${p.kind}] ${p.text})`);
    await fail(name, (err && err.message ? err.message : String(err)) + fresh.join(''));
  }
  allowed = [];
  results.steps.push({ name, ms: Date.now() - started, ok: true });
  const fresh = problems.slice(before);
  if (fresh.length) {
    await failureShots(name);
    await fail(name, 'the page reported errors:\n' + fresh.map((p) => `  [${p.page} ${p.kind}] ${p.text}`).join('\n'));
  }
}

/** Runs a script's `main`, turning an error outside any step into a failure. */
export async function run(main) {
  for (const event of ['unhandledRejection', 'uncaughtException']) {
    process.on(event, (err) => {
      fail(currentStep, `${event} during the step: ${err && err.stack ? err.stack : err}`);
    });
  }
  try {
    await launch();
    await main();
  } catch (err) {
    await fail(currentStep, `outside a step: ${err && err.stack ? err.stack : err}`);
  }
  await finish();
}

async function failureShots(name) {
  const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  for (const { label, page } of pages) {
    if (page.isClosed()) continue;
    try {
      await shot(page, `FAILED-${slug}-${label}`);
    } catch { /* the page may be gone */ }
  }
}

/** Closes the browser, prints the results line and exits (1 on failure). */
export async function finish() {
  if (problems.length && results.failures.length === 0) {
    results.ok = false;
    results.failures.push({ step: 'after all steps', message: problems.map((p) => `[${p.step}] ${p.text}`).join('\n') });
  }
  results.problems = problems;
  try {
    if (browser) await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
  } catch { /* already gone */ }
  browser = undefined;
  emit();
  process.exit(results.ok ? 0 : 1);
}

// -------------------------------------------------------------- rendezvous ----

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Asks the Rust test to act (or check), and returns its JSON answer. */
export async function rendezvous(name, data = null) {
  process.stdout.write(`@@wait ${JSON.stringify({ name, data })}\n`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`rendezvous ${name}: the test closed stdin without answering`);
  const answer = JSON.parse(value);
  if (answer && answer.error) throw new Error(`rendezvous ${name}: the test says: ${answer.error}`);
  return answer;
}

// ------------------------------------------------------------ expectations ----

/**
 * Polls `probe` (returns `{ ok, seen }`) until ok or WAIT_MS passed; then
 * throws "<what>: expected <expected>, saw <seen>".
 */
export async function until(what, expected, probe, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let seen;
  for (;;) {
    try {
      const r = await probe();
      if (r.ok) return r.seen;
      seen = r.seen;
    } catch (err) {
      seen = `(error: ${err.message.split('\n')[0]})`;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: expected ${expected}, saw ${typeof seen === 'string' ? seen : JSON.stringify(seen)} (waited ${timeout} ms)`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Texts (trimmed, whitespace collapsed) of every element `locator` matches. */
export async function texts(locator) {
  return (await locator.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
}

/** Exactly one element, whose text is exactly `expected`. */
export function expectText(locator, expected, what) {
  return until(what, `exactly one element with text ${JSON.stringify(expected)}`, async () => {
    const seen = await texts(locator);
    return { ok: seen.length === 1 && seen[0] === expected, seen: seen.length ? seen.map((t) => JSON.stringify(t)).join(', ') : 'no element' };
  });
}

/** `locator` matches exactly `n` visible elements. */
export function expectCount(locator, n, what) {
  return until(what, `${n} element(s)`, async () => {
    const all = await locator.all();
    let visible = 0;
    for (const el of all) if (await el.isVisible()) visible += 1;
    return { ok: visible === n, seen: `${visible} visible of ${all.length}` };
  });
}

export const expectVisible = (locator, what) => expectCount(locator, 1, what);
export const expectAbsent = (locator, what) => expectCount(locator, 0, what);

/** Exactly one element whose attribute `name` is `value`. */
export function expectAttr(locator, name, value, what) {
  return until(what, `${name}=${JSON.stringify(value)}`, async () => {
    const n = await locator.count();
    if (n !== 1) return { ok: false, seen: `${n} elements` };
    const got = await locator.getAttribute(name);
    return { ok: got === value, seen: `${name}=${JSON.stringify(got)}` };
  });
}

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

export function readText(path) {
  return readFileSync(path, 'utf8');
}

export { require };

// ------------------------------------------------------------ page pieces ----

/** The server card of `name`. */
export const card = (page, name) => page.locator(`[data-testid="server-card"][data-server="${name}"]`);
export const badge = (page, name) => card(page, name).getByTestId('status-badge');
export const button = (scope, name) => scope.getByRole('button', { name, exact: true });

/** Signs in through the sign-in form and waits for `whoami`. */
export async function signIn(page, token, whoami) {
  const field = page.getByLabel('API key or JWT', { exact: true });
  await expectVisible(field, 'the sign-in field "API key or JWT"');
  check((await field.getAttribute('type')) === 'password', 'the "API key or JWT" input is not type=password');
  await field.fill(token);
  await button(page, 'Sign in').click();
  await expectText(page.getByTestId('whoami'), whoami, 'the signed-in header (data-testid=whoami)');
  const kept = await page.evaluate(() => sessionStorage.getItem('manifold.token'));
  check(kept === token, `sessionStorage["manifold.token"] holds ${JSON.stringify(kept)}, not the key used to sign in`);
}

/**
 * Checks that `input` shows the API's validation `message`: aria-invalid,
 * and aria-describedby naming a `field-error` element with that message.
 */
export async function expectFieldError(input, message, what) {
  await until(`${what}: field error`, `aria-invalid="true" and aria-describedby → [data-testid=field-error] containing ${JSON.stringify(message)}`, async () => {
    const seen = await input.evaluate((el) => {
      const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
      return {
        invalid: el.getAttribute('aria-invalid'),
        described: ids.map((id) => {
          const e = document.getElementById(id);
          return e ? { id, testid: e.getAttribute('data-testid'), text: e.textContent.replace(/\s+/g, ' ').trim() } : { id, missing: true };
        }),
      };
    });
    const ok = seen.invalid === 'true' && seen.described.some((d) => d.testid === 'field-error' && d.text.includes(message));
    return { ok, seen };
  });
}
