// End to end as the admin: sign in, create a category (after seeing the
// API's field error for a bad colour), create a server on the upstream
// (after seeing the API's field error for a bad URL), connect it, read its
// tools and the "Use it" snippets, disconnect, edit it, see a failed
// connect's error, delete the server and the category through confirmation
// dialogs, sign out. Screenshots of each view, at phone width and in dark
// mode.
//
// Env: ADMIN_KEY, UPSTREAM_URL, EXPECTED_TOOLS, KNOWN_TOOL, CATEGORY_NAME,
// CATEGORY_ICON, BAD_COLOR, COLOR_ERROR, GOOD_COLOR, SERVER_NAME,
// SERVER_TITLE, SERVER_DESCRIPTION, BAD_URL, URL_ERROR, NEW_TITLE,
// NEW_COLOR, DEAD_SERVER (an uncategorized server whose upstream is down).
// Rendezvous: `created` {category_id}; `connected` (answer: {langchain_url,
// description, input_schema} of KNOWN_TOOL, as the API reports them);
// `disconnected`; `edited`; `failed` (answer: {last_error, message}: the
// session's last error and the API's message for a connect);
// `category-edited`; `deleted`.

import { isDeepStrictEqual } from 'node:util';
import {
  GATEWAY, run, step, env, newPage, requireBearer, shot, rendezvous, report, until, check, texts,
  expectText, expectVisible, expectAbsent, expectAttr, expectFieldError, signIn, card, badge, button,
} from './lib.mjs';

const ADMIN_KEY = env('ADMIN_KEY');
const UPSTREAM_URL = env('UPSTREAM_URL');
const N = Number(env('EXPECTED_TOOLS'));
const KNOWN_TOOL = env('KNOWN_TOOL');
const CATEGORY_NAME = env('CATEGORY_NAME');
const CATEGORY_ICON = env('CATEGORY_ICON');
const SERVER = env('SERVER_NAME');
const TITLE = env('SERVER_TITLE');
const connectedText = `Connected · ${N} ${N === 1 ? 'tool' : 'tools'}`;

await run(async () => {
  const page = await newPage('admin', { permissions: ['clipboard-read', 'clipboard-write'] });
  requireBearer(page, 'admin', ADMIN_KEY);
  let categoryId;

  await step('the signed-out page shows the sign-in form', async () => {
    const response = await page.goto(GATEWAY + '/');
    check(response.status() === 200, `GET / answered ${response.status()}`);
    await expectVisible(page.locator('form').filter({ has: page.getByLabel('API key or JWT', { exact: true }) }), 'a <form> holding the sign-in field');
    await expectVisible(page.getByLabel('API key or JWT', { exact: true }), 'the "API key or JWT" field');
    await expectVisible(button(page, 'Sign in'), 'the "Sign in" button');
    await expectAbsent(page.getByTestId('whoami'), 'whoami while signed out');
    await shot(page, '01-signed-out');
  });

  await step('signing in with the admin key shows "admin · admin" and the servers', async () => {
    await signIn(page, ADMIN_KEY, 'admin · admin');
    await expectVisible(page.getByRole('heading', { level: 2, name: 'Servers', exact: true }), 'the h2 "Servers"');
    await expectVisible(button(page, 'Sign out'), 'the "Sign out" button');
    await expectText(page.getByTestId('live-status'), 'Live', 'the live-status text');
  });

  const catDialog = page.getByRole('dialog', { name: 'New category', exact: true });
  await step('"New category" with colour "red" shows the API error next to Color', async () => {
    await button(page, 'New category').click();
    await expectVisible(catDialog, 'the dialog "New category"');
    await catDialog.getByLabel('Name', { exact: true }).fill(CATEGORY_NAME);
    await catDialog.getByLabel('Icon', { exact: true }).fill(CATEGORY_ICON);
    await catDialog.getByLabel('Color', { exact: true }).fill(env('BAD_COLOR'));
    await catDialog.getByLabel('Description', { exact: true }).fill('Made in the browser test');
    await button(catDialog, 'Create').click();
    await expectFieldError(catDialog.getByLabel('Color', { exact: true }), env('COLOR_ERROR'), 'the Color field');
    await expectVisible(catDialog, 'the dialog "New category" (it stays open)');
    const kept = await catDialog.getByLabel('Name', { exact: true }).inputValue();
    check(kept === CATEGORY_NAME, `the dialog lost its Name value: ${JSON.stringify(kept)}`);
    await shot(page, '02-category-dialog-field-error');
  }, { allow: [/status of 422/] });

  await step('fixing the colour creates the category and its group', async () => {
    await catDialog.getByLabel('Color', { exact: true }).fill(env('GOOD_COLOR'));
    await button(catDialog, 'Create').click();
    await expectAbsent(catDialog, 'the dialog "New category" (closed after Create)');
    const group = page.locator('[data-testid="category-group"]').filter({
      has: page.getByRole('heading', { level: 3, name: CATEGORY_NAME }),
    });
    await expectVisible(group, `the category-group with an h3 naming "${CATEGORY_NAME}"`);
    categoryId = await group.getAttribute('data-category-id');
    check(/^ctg_/.test(categoryId || ''), `data-category-id is ${JSON.stringify(categoryId)}, not a ctg_ id`);
    const heading = await texts(group.getByRole('heading', { level: 3 }));
    check(heading.some((h) => h.includes(CATEGORY_ICON)), `the group heading ${JSON.stringify(heading)} does not show the icon ${CATEGORY_ICON}`);
    const color = await group.evaluate((el) => el.style.getPropertyValue('--category-color').trim());
    check(color === env('GOOD_COLOR'), `the group's --category-color is ${JSON.stringify(color)}, not ${env('GOOD_COLOR')}`);
    report.category_id = categoryId;
  });

  const srvDialog = page.getByRole('dialog', { name: 'New server', exact: true });
  await step('"New server" with a bad URL shows the API error next to URL', async () => {
    await button(page, 'New server').click();
    await expectVisible(srvDialog, 'the dialog "New server"');
    await srvDialog.getByLabel('Name', { exact: true }).fill(SERVER);
    await srvDialog.getByLabel('Title', { exact: true }).fill(TITLE);
    await srvDialog.getByLabel('Description', { exact: true }).fill(env('SERVER_DESCRIPTION'));
    await srvDialog.getByLabel('Transport', { exact: true }).selectOption('streamable_http');
    await srvDialog.getByLabel('URL', { exact: true }).fill(env('BAD_URL'));
    await srvDialog.getByLabel('Headers', { exact: true }).fill('X-Test: one');
    const select = srvDialog.getByLabel('Category', { exact: true });
    const options = await select.locator('option').evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent.trim() })));
    const option = options.find((o) => o.label.includes(CATEGORY_NAME));
    check(option, `the Category select has no option for ${CATEGORY_NAME}: ${JSON.stringify(options)}`);
    check(options.some((o) => o.label === 'None'), `the Category select has no "None" option: ${JSON.stringify(options)}`);
    await select.selectOption(option.value);
    await button(srvDialog, 'Create').click();
    await expectFieldError(srvDialog.getByLabel('URL', { exact: true }), env('URL_ERROR'), 'the URL field');
    await expectVisible(srvDialog, 'the dialog "New server" (it stays open)');
    const kept = await srvDialog.getByLabel('Title', { exact: true }).inputValue();
    check(kept === TITLE, `the dialog lost its Title value: ${JSON.stringify(kept)}`);
    await shot(page, '03-server-dialog-field-error');
  }, { allow: [/status of 422/] });

  await step('fixing the URL creates the server, Disconnected, in its category', async () => {
    await srvDialog.getByLabel('URL', { exact: true }).fill(UPSTREAM_URL);
    await button(srvDialog, 'Create').click();
    await expectAbsent(srvDialog, 'the dialog "New server" (closed after Create)');
    const inGroup = page.locator(`[data-testid="category-group"][data-category-id="${categoryId}"] [data-testid="server-card"][data-server="${SERVER}"]`);
    await expectVisible(inGroup, `the card of ${SERVER} inside the group of ${categoryId}`);
    await expectVisible(page.getByRole('article', { name: TITLE, exact: true }), `an article named by its title "${TITLE}"`);
    await expectText(badge(page, SERVER), 'Disconnected', 'the status badge');
    await expectAttr(badge(page, SERVER), 'data-status', 'disconnected', 'the status badge');
    await expectAttr(badge(page, SERVER), 'aria-live', 'polite', 'the status badge');
    const text = (await card(page, SERVER).innerText()).replace(/\s+/g, ' ');
    for (const want of [TITLE, SERVER, env('SERVER_DESCRIPTION')]) {
      check(text.includes(want), `the card does not show ${JSON.stringify(want)}: ${JSON.stringify(text)}`);
    }
    // The transport, as its value or its label ("Streamable HTTP").
    check(/streamable[ _]http/i.test(text), `the card does not show the transport streamable_http: ${JSON.stringify(text)}`);
    check(/\bPublic\b|\bPrivate\b/.test(text), `the card shows neither "Public" nor "Private": ${JSON.stringify(text)}`);
    await expectVisible(button(card(page, SERVER), 'Connect'), 'the "Connect" button');
    await expectAbsent(button(card(page, SERVER), 'Disconnect'), 'a "Disconnect" button while disconnected');
    await expectAbsent(button(card(page, SERVER), 'Tools'), 'a "Tools" button while disconnected');
    await expectVisible(button(card(page, SERVER), 'Edit'), 'the "Edit" button (admin)');
    await expectVisible(button(card(page, SERVER), 'Delete'), 'the "Delete" button (admin)');
    const group = page.locator(`[data-testid="category-group"][data-category-id="${categoryId}"]`);
    await expectVisible(button(group, 'Edit category'), 'the "Edit category" button (admin)');
    await expectVisible(button(group, 'Delete category'), 'the "Delete category" button (admin)');
  });

  await rendezvous('created', { category_id: categoryId });

  await step(`Connect turns the badge into "${connectedText}"`, async () => {
    await whileHeld(page, /\/api\/v1\/servers\/[^/]+\/connect$/, async () => {
      await button(card(page, SERVER), 'Connect').click();
      await expectText(badge(page, SERVER), 'Connecting…', 'the status badge while the connect request runs');
      await expectAttr(badge(page, SERVER), 'data-status', 'busy', 'the status badge while the connect request runs');
      check(await button(card(page, SERVER), 'Connect').isDisabled(), 'the "Connect" button is enabled while its request runs');
    });
    await expectText(badge(page, SERVER), connectedText, 'the status badge after Connect');
    await expectAttr(badge(page, SERVER), 'data-status', 'connected', 'the status badge after Connect');
    await expectVisible(button(card(page, SERVER), 'Disconnect'), 'the "Disconnect" button');
    await expectAbsent(button(card(page, SERVER), 'Connect'), 'a "Connect" button while connected');
    await shot(page, '04-servers-desktop');
  });

  const {
    langchain_url: langchainUrl, description: KNOWN_TOOL_DESCRIPTION, input_schema: KNOWN_TOOL_SCHEMA,
  } = await rendezvous('connected', { server: SERVER });

  await step(`"Tools" lists the ${N} tools with ${KNOWN_TOOL}'s description and schema`, async () => {
    const toggle = button(card(page, SERVER), 'Tools');
    await expectAttr(toggle, 'aria-expanded', 'false', 'the "Tools" toggle before a click');
    await toggle.click();
    await expectAttr(toggle, 'aria-expanded', 'true', 'the "Tools" toggle after a click');
    const list = card(page, SERVER).getByTestId('tool-list');
    await expectVisible(list, 'the tool-list');
    await until('the tool items', `${N} data-testid=tool`, async () => {
      const n = await list.getByTestId('tool').count();
      return { ok: n === N, seen: `${n}` };
    });
    const tools = await list.getByTestId('tool').evaluateAll((els) => els.map((el) => ({
      names: [...el.querySelectorAll('code, h1, h2, h3, h4, h5, h6')].map((e) => e.textContent.trim()),
      text: el.innerText.replace(/\s+/g, ' '),
      summary: el.querySelector('details > summary')?.textContent.trim() ?? null,
      pre: el.querySelector('details pre')?.textContent ?? null,
    })));
    const known = tools.filter((t) => t.names.includes(KNOWN_TOOL));
    check(known.length === 1, `${known.length} tool items are named ${KNOWN_TOOL} (in a <code> or heading); items: ${JSON.stringify(tools.map((t) => t.names))}`);
    const [tool] = known;
    check(tool.text.includes(KNOWN_TOOL_DESCRIPTION.replace(/\s+/g, ' ')), `${KNOWN_TOOL}'s item does not show its description ${JSON.stringify(KNOWN_TOOL_DESCRIPTION)}: ${JSON.stringify(tool.text)}`);
    check(tool.summary === 'Input schema', `${KNOWN_TOOL}'s <details> summary is ${JSON.stringify(tool.summary)}, not "Input schema"`);
    check(tool.pre !== null, `${KNOWN_TOOL}'s item has no <pre> inside a <details>`);
    let schema;
    try { schema = JSON.parse(tool.pre); } catch (e) { throw new Error(`${KNOWN_TOOL}'s <pre> is not JSON: ${e.message}: ${tool.pre}`); }
    check(isDeepStrictEqual(schema, KNOWN_TOOL_SCHEMA), `${KNOWN_TOOL}'s <pre> schema ${JSON.stringify(schema)} differs from the API's ${JSON.stringify(KNOWN_TOOL_SCHEMA)}`);
    check(tool.pre.includes('\n  '), `${KNOWN_TOOL}'s schema is not pretty-printed: ${JSON.stringify(tool.pre)}`);
    const item = list.getByTestId('tool').filter({ has: page.locator('code, h1, h2, h3, h4, h5, h6').getByText(KNOWN_TOOL, { exact: true }) });
    await item.locator('details > summary').click();
    await until(`${KNOWN_TOOL}'s schema <pre> after opening "Input schema"`, 'visible', async () => ({
      ok: await item.locator('details pre').isVisible(), seen: 'hidden',
    }));
    // A refresh of the page's data (here the one a tab coming back into view
    // makes) redraws the cards: what the reader opened stays open.
    const refreshed = page.waitForResponse((r) => r.url().includes('/api/v1/session/servers'));
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await refreshed;
    // The redraw follows the responses: a schema closed by it stays closed,
    // so sampling for a while after the refresh catches one.
    for (let i = 0; i < 15; i += 1) {
      check(await item.locator('details').evaluate((d) => d.open),
        `${KNOWN_TOOL}'s "Input schema" closed itself when the page refreshed its data`);
      await page.waitForTimeout(100);
    }
    await shot(page, '05-tools-expanded');
  });

  await step('"Tools" again collapses the list', async () => {
    const toggle = button(card(page, SERVER), 'Tools');
    await toggle.click();
    await expectAttr(toggle, 'aria-expanded', 'false', 'the "Tools" toggle after a second click');
    await expectAbsent(card(page, SERVER).getByTestId('tool-list'), 'the tool-list after collapsing');
  });

  await step('"Use it" shows the snippets for the connected server, with copy buttons', async () => {
    await expectVisible(page.getByRole('heading', { level: 2, name: 'Use it', exact: true }), 'the h2 "Use it"');
    await until('the LangChain snippet', `MultiServerMCPClient, "${SERVER}", ${langchainUrl}, <YOUR_TOKEN>`, async () => {
      const [t] = await texts(page.getByTestId('snippet-langchain'));
      const ok = !!t && ['langchain_mcp_adapters.client', 'MultiServerMCPClient', `"${SERVER}"`, langchainUrl, '<YOUR_TOKEN>', 'tool_name_prefix=True'].every((w) => t.includes(w));
      return { ok, seen: t };
    });
    const [json] = await page.getByTestId('snippet-mcp-json').allTextContents();
    let config;
    try { config = JSON.parse(json); } catch (e) { throw new Error(`snippet-mcp-json is not JSON: ${e.message}: ${json}`); }
    const want = { mcpServers: { manifold: { type: 'http', url: `${GATEWAY}/mcp`, headers: { Authorization: 'Bearer <YOUR_TOKEN>' } } } };
    check(isDeepStrictEqual(config, want), `snippet-mcp-json is ${JSON.stringify(config)}, wanted ${JSON.stringify(want)}`);
    check(json.includes('\n  '), 'snippet-mcp-json is not pretty-printed');
    const [inspector] = await texts(page.getByTestId('snippet-inspector'));
    const wantInspector = `npx @modelcontextprotocol/inspector --cli ${GATEWAY}/mcp --transport http --header "Authorization: Bearer <YOUR_TOKEN>" --method tools/list`;
    check(inspector === wantInspector, `snippet-inspector is ${JSON.stringify(inspector)}, wanted ${JSON.stringify(wantInspector)}`);
    for (const name of ['Copy LangChain snippet', 'Copy MCP client config', 'Copy Inspector command']) {
      await expectVisible(button(page, name), `the button "${name}"`);
    }
    await button(page, 'Copy MCP client config').click();
    await until('the clipboard after "Copy MCP client config"', 'the snippet-mcp-json text', async () => {
      const clip = await page.evaluate(() => navigator.clipboard.readText());
      return { ok: clip.trim() === json.trim(), seen: clip };
    });
  });

  await step('phone width (375 px) and dark mode', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    report.phone_scroll_width = width;
    check(width <= 375, `at 375 px the page is ${width} px wide: it scrolls sideways on a phone`);
    await shot(page, '06-phone-375');
    await shot(page, '06-phone-375-first-screen', { fullPage: false });
    await page.setViewportSize({ width: 1280, height: 900 });
    const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    report.body_background = { light, dark };
    await shot(page, '07-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  await step('Disconnect turns the badge into "Disconnected" and empties "Use it"', async () => {
    await whileHeld(page, /\/api\/v1\/servers\/[^/]+\/disconnect$/, async () => {
      await button(card(page, SERVER), 'Disconnect').click();
      await expectText(badge(page, SERVER), 'Disconnecting…', 'the status badge while the disconnect request runs');
      await expectAttr(badge(page, SERVER), 'data-status', 'busy', 'the status badge while the disconnect request runs');
      check(await button(card(page, SERVER), 'Disconnect').isDisabled(), 'the "Disconnect" button is enabled while its request runs');
    });
    await expectText(badge(page, SERVER), 'Disconnected', 'the status badge after Disconnect');
    await expectAttr(badge(page, SERVER), 'data-status', 'disconnected', 'the status badge after Disconnect');
    await expectVisible(button(card(page, SERVER), 'Connect'), 'the "Connect" button after Disconnect');
    await expectAbsent(button(card(page, SERVER), 'Tools'), 'a "Tools" button after Disconnect');
    await until('the LangChain snippet after Disconnect', `no ${langchainUrl}`, async () => {
      const [t] = await texts(page.getByTestId('snippet-langchain'));
      return { ok: t !== undefined && !t.includes(langchainUrl), seen: t };
    });
  });

  await rendezvous('disconnected', { server: SERVER });

  const NEW_TITLE = env('NEW_TITLE');
  await step('"Edit" saves a new title and shows the headers as write-only', async () => {
    await button(card(page, SERVER), 'Edit').click();
    const dialog = page.getByRole('dialog').filter({ has: button(page, 'Save') });
    await expectVisible(dialog, 'a dialog with a "Save" button');
    const name = await dialog.getByLabel('Name', { exact: true }).inputValue();
    check(name === SERVER, `the edit dialog's Name is ${JSON.stringify(name)}, not ${SERVER}`);
    const headers = await dialog.getByLabel('Headers', { exact: true }).inputValue();
    check(headers === '', `the edit dialog shows stored headers: ${JSON.stringify(headers)}`);
    const secret = dialog.getByLabel('OAuth client secret', { exact: true });
    check((await secret.getAttribute('type')) === 'password', '"OAuth client secret" is not a password input');
    await dialog.getByLabel('Title', { exact: true }).fill(NEW_TITLE);
    await button(dialog, 'Save').click();
    await expectAbsent(dialog, 'the edit dialog after Save');
    await expectVisible(page.getByRole('article', { name: NEW_TITLE, exact: true }), `the card named "${NEW_TITLE}"`);
  });

  await rendezvous('edited', { server: SERVER });

  const DEAD = env('DEAD_SERVER');
  await step('a failed connect shows "Failed: …" and the API error in the card', async () => {
    const group = page.locator('[data-testid="category-group"][data-category-id=""]');
    await expectVisible(group, 'the group with data-category-id=""');
    await expectText(group.getByRole('heading', { level: 3 }), 'Uncategorized', 'the last group\'s h3');
    await expectVisible(group.locator(`[data-testid="server-card"][data-server="${DEAD}"]`), `${DEAD} in "Uncategorized"`);
    const groups = await page.locator('[data-testid="category-group"]').evaluateAll((gs) => gs.map((g) => g.dataset.categoryId));
    check(groups[groups.length - 1] === '', `"Uncategorized" is not the last group: ${JSON.stringify(groups)}`);
    await button(card(page, DEAD), 'Connect').click();
    await expectAttr(badge(page, DEAD), 'data-status', 'failed', 'the badge after a failed connect');
  }, { allow: [/status of 5\d\d/] });

  const { last_error: lastError, message } = await rendezvous('failed', { server: DEAD });

  await step('the failed card shows the session\'s last error and the API\'s message', async () => {
    await expectText(badge(page, DEAD), `Failed: ${lastError}`, 'the badge of the failed server');
    await until('the card\'s role=alert', `a visible alert containing ${JSON.stringify(message)}`, async () => {
      const alerts = [];
      for (const a of await card(page, DEAD).getByRole('alert').all()) {
        if (await a.isVisible()) alerts.push((await a.innerText()).trim());
      }
      return { ok: alerts.some((t) => t.includes(message)), seen: alerts };
    });
    await expectVisible(button(card(page, DEAD), 'Connect'), 'the "Connect" button of a failed server');
    await shot(page, '08-failed-connect');
  });

  await step('"Edit category" saves a new colour, shown on the group', async () => {
    const group = page.locator(`[data-testid="category-group"][data-category-id="${categoryId}"]`);
    await button(group, 'Edit category').click();
    const dialog = page.getByRole('dialog').filter({ has: page.getByRole('button', { name: 'Save', exact: true }) });
    await expectVisible(dialog, 'a category dialog with a "Save" button');
    const name = await dialog.getByLabel('Name', { exact: true }).inputValue();
    check(name === CATEGORY_NAME, `the edit dialog's Name is ${JSON.stringify(name)}, not ${CATEGORY_NAME}`);
    await dialog.getByLabel('Color', { exact: true }).fill(env('NEW_COLOR'));
    await button(dialog, 'Save').click();
    await expectAbsent(dialog, 'the category dialog after Save');
    await until("the group's --category-color", env('NEW_COLOR'), async () => {
      const color = await group.evaluate((el) => el.style.getPropertyValue('--category-color').trim());
      return { ok: color === env('NEW_COLOR'), seen: color };
    });
  });

  await rendezvous('category-edited', { category_id: categoryId });

  await step('"Delete" asks in a dialog; Cancel keeps the server, Delete removes it', async () => {
    const confirm = page.getByRole('dialog', { name: `Delete ${SERVER}?`, exact: true });
    await button(card(page, SERVER), 'Delete').click();
    await expectVisible(confirm, `the dialog "Delete ${SERVER}?"`);
    await shot(page, '09-delete-dialog');
    await button(confirm, 'Cancel').click();
    await expectAbsent(confirm, 'the delete dialog after Cancel');
    await expectVisible(card(page, SERVER), 'the card after Cancel');
    await button(card(page, SERVER), 'Delete').click();
    await expectVisible(confirm, `the dialog "Delete ${SERVER}?" again`);
    await button(confirm, 'Delete').click();
    await expectAbsent(confirm, 'the delete dialog after Delete');
    await expectAbsent(card(page, SERVER), 'the deleted server\'s card');
    const group = page.locator(`[data-testid="category-group"][data-category-id="${categoryId}"]`);
    const confirmCategory = page.getByRole('dialog', { name: `Delete ${CATEGORY_NAME}?`, exact: true });
    await button(group, 'Delete category').click();
    await expectVisible(confirmCategory, `the dialog "Delete ${CATEGORY_NAME}?"`);
    await button(confirmCategory, 'Delete').click();
    await expectAbsent(confirmCategory, 'the category delete dialog after Delete');
    await expectAbsent(group, 'the deleted category\'s group');
  });

  await rendezvous('deleted', { server: SERVER, category_id: categoryId });

  await step('"Sign out" forgets the key and shows the sign-in form', async () => {
    await button(page, 'Sign out').click();
    await expectVisible(page.getByLabel('API key or JWT', { exact: true }), 'the sign-in field after Sign out');
    await expectAbsent(page.getByTestId('whoami'), 'whoami after Sign out');
    const kept = await page.evaluate(() => sessionStorage.getItem('manifold.token'));
    check(kept === null, `sessionStorage still holds manifold.token: ${JSON.stringify(kept)}`);
  });
});

/**
 * Runs `fn` while requests to `url` are held back (so the page's "busy"
 * state can be seen whatever the machine's speed), then lets them go.
 */
async function whileHeld(page, url, fn) {
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  let held = 0;
  await page.route(url, async (route) => {
    held += 1;
    await gate;
    await route.continue();
  });
  try {
    await fn();
    check(held === 1, `${held} requests to ${url} were made, wanted 1`);
  } finally {
    release();
    await page.unroute(url, { behavior: 'wait' });
  }
}
