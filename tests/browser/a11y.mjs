// Accessibility: axe-core over the sign-in page, the signed-in page with a
// server connected and its tools expanded, a search with Try it's result
// and the call in Activity, the "New API key" and "New server" dialogs,
// in light and dark colour schemes. Fails on any violation of impact
// `serious` or `critical`; lesser ones are reported.
//
// axe is injected with `page.evaluate(source)`: code evaluated through the
// DevTools protocol is not subject to the page's CSP, so the page keeps its
// real policy (no bypassCSP) and the harness still catches its violations.
//
// Env: ADMIN_KEY, SERVER_NAME (connected by the test before the run).

import { join } from 'node:path';
import {
  GATEWAY, run, step, env, newPage, shot, report, readText,
  expectText, expectVisible, expectAbsent, expectAttr, signIn, card, badge, button,
} from './lib.mjs';

const AXE = readText(join(env('BROWSER_MODULES'), 'axe-core', 'axe.min.js'));
const ADMIN_KEY = env('ADMIN_KEY');
const SERVER = env('SERVER_NAME');

report.violations = {};

/** Runs axe on the page; throws listing serious/critical violations. */
async function audit(page, view) {
  if (!(await page.evaluate(() => typeof globalThis.axe === 'object'))) {
    await page.evaluate(AXE);
  }
  const result = await page.evaluate(async () => {
    const r = await globalThis.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
  });
  report.violations[view] = result.map((v) => `${v.impact} ${v.id}: ${v.nodes.length} node(s)`);
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    throw new Error(`axe found ${bad.length} serious/critical violation(s) on ${view}:\n` + bad.map((v) =>
      `  ${v.impact} ${v.id}: ${v.help}\n` + v.nodes.map((n) => `    ${n.target}\n      ${(n.summary || '').replace(/\n/g, '\n      ')}`).join('\n'),
    ).join('\n'));
  }
}

await run(async () => {
  for (const scheme of ['light', 'dark']) {
    const page = await newPage(scheme, { colorScheme: scheme });

    await step(`${scheme}: the sign-in page has no serious violation`, async () => {
      await page.goto(GATEWAY + '/');
      await expectVisible(page.getByLabel('API key or JWT', { exact: true }), 'the sign-in field');
      await audit(page, `${scheme} sign-in`);
    });

    await step(`${scheme}: the servers page with tools expanded has no serious violation`, async () => {
      await signIn(page, ADMIN_KEY, 'admin · admin');
      await page.waitForTimeout(300); // let the first loads (keys among them) finish in this step
      await expectAttr(badge(page, SERVER), 'data-status', 'connected', 'the badge of the server connected over REST');
      await button(card(page, SERVER), 'Tools').click();
      await expectVisible(card(page, SERVER).getByTestId('tool-list'), 'the tool-list');
      await card(page, SERVER).getByTestId('tool').first().locator('details > summary').click();
      await shot(page, `${scheme}-tools`);
      await audit(page, `${scheme} servers`);
    });

    await step(`${scheme}: search, Try it with a result, and Activity have no serious violation`, async () => {
      await page.getByLabel('Search servers and tools', { exact: true }).fill('echo');
      await expectText(page.getByTestId('search-status'), '1 server and 1 tool match “echo”.', 'the search count');
      const echo = card(page, SERVER).locator('[data-testid="tool"][data-tool="echo"]');
      await button(echo, 'Try it').click();
      const panel = echo.getByTestId('tryit');
      await panel.getByLabel('text (required)', { exact: true }).fill('audited');
      await button(panel, `Call ${SERVER}__echo`).click();
      await expectText(panel.getByTestId('result-text').locator('pre'), 'audited', 'the echoed text');
      await page.getByLabel('Search servers and tools', { exact: true }).fill('');
      await expectVisible(page.getByTestId('activity-row').filter({ hasText: `${SERVER}__echo` }).first(), 'the call in Activity');
      await shot(page, `${scheme}-tryit-activity`);
      await audit(page, `${scheme} search, try it and activity`);
    });

    await step(`${scheme}: the "New API key" dialog has no serious violation`, async () => {
      await button(page, 'New key').click();
      const dialog = page.getByRole('dialog', { name: 'New API key', exact: true });
      await expectVisible(dialog, 'the dialog "New API key"');
      await audit(page, `${scheme} new-key dialog`);
      await button(dialog, 'Cancel').click();
      await expectAbsent(dialog, 'the dialog after Cancel');
    });

    await step(`${scheme}: the open "New server" dialog has no serious violation`, async () => {
      await button(page, 'New server').click();
      const dialog = page.getByRole('dialog', { name: 'New server', exact: true });
      await expectVisible(dialog, 'the dialog "New server"');
      await shot(page, `${scheme}-new-server-dialog`);
      await audit(page, `${scheme} new-server dialog`);
      await button(dialog, 'Cancel').click();
      await expectAbsent(dialog, 'the dialog after Cancel');
      await expectText(page.getByTestId('whoami'), 'admin · admin', 'whoami after closing the dialog');
    });

    await page.context().close();
  }
});
