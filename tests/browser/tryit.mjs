// Search, tool names and Try it: the search box narrows the server cards
// and their tool lists and says how many match; each tool shows the name
// models see (`{server}__{tool}`) and its annotations; Try it calls `echo`,
// `file_ticket` (a nested-object schema: enum, integer, boolean, array,
// nested fieldsets) and `tiny_image` (an image result) through /mcp as the
// signed-in user, and shows `link_note`'s resource link, `fail`'s isError
// and a JSON-RPC error with its code; a failed server's whole error text
// can be read.
//
// Env: ALICE_KEY, SERVER (a FIXTURE_RICH fixture alice connected),
// FAILED_SERVER (alice's server that failed to connect) and FAILED_ERROR
// (its last_error as the API reports it).

import { isDeepStrictEqual } from 'node:util';
import {
  GATEWAY, run, step, env, newPage, shot, until, texts, expectText, expectVisible, expectAbsent,
  check, signIn, card, badge, button, requireBearer,
} from './lib.mjs';

const SERVER = env('SERVER');
const FAILED = env('FAILED_SERVER');
const FAILED_ERROR = env('FAILED_ERROR');
const ALICE_KEY = env('ALICE_KEY');

await run(async () => {
  const page = await newPage('alice');
  requireBearer(page, 'alice', ALICE_KEY);
  const tool = (name) => card(page, SERVER).locator(`[data-testid="tool"][data-tool="${name}"]`);

  await step('alice signs in and sees both servers', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, ALICE_KEY, 'alice · user');
    await expectVisible(card(page, SERVER), `the card of ${SERVER}`);
    await expectVisible(card(page, FAILED), `the card of ${FAILED}`);
  });

  await step('the whole failure text of a failed server can be read', async () => {
    const details = card(page, FAILED).getByTestId('failure-details');
    await expectVisible(details, 'the "Show full error" disclosure');
    await details.locator('summary').click();
    await expectText(details.locator('pre'), FAILED_ERROR.replace(/\s+/g, ' ').trim(), 'the full error text');
  });

  await step('the search narrows the cards and the tool lists, and counts', async () => {
    const search = page.getByLabel('Search servers and tools', { exact: true });
    await search.fill('ticket');
    await expectText(page.getByTestId('search-status'), '1 server and 1 tool match “ticket”.', 'the search count');
    await expectAbsent(card(page, FAILED), `the card of ${FAILED} while searching "ticket"`);
    await expectText(card(page, SERVER).getByTestId('search-matches'), `Matching tool: ${SERVER}__file_ticket`, 'the matching tools line');
    await button(card(page, SERVER), 'Tools').click();
    await until('the narrowed tool list', `only ${SERVER}__file_ticket`, async () => {
      const seen = await texts(card(page, SERVER).getByTestId('tool').locator('.tool-name'));
      return { ok: seen.length === 1 && seen[0] === `${SERVER}__file_ticket`, seen };
    });
    await shot(page, 'search');
    await search.fill('nothing-has-this-name');
    await expectText(page.getByTestId('search-status'), 'No server or tool matches “nothing-has-this-name”.', 'the count of a search without match');
    await expectAbsent(card(page, SERVER), 'every card while nothing matches');
    await search.fill('');
    await expectVisible(card(page, FAILED), `the card of ${FAILED} after clearing the search`);
    await until('the whole tool list', 'more than one tool', async () => {
      const n = await card(page, SERVER).getByTestId('tool').count();
      return { ok: n > 1, seen: `${n}` };
    });
  });

  await step('tools show the name models see, their title and annotations', async () => {
    await expectText(tool('echo').locator('.tool-name'), `${SERVER}__echo`, 'the name of echo');
    await expectText(tool('file_ticket').locator('.tool-title'), 'File a ticket', "file_ticket's title");
    const hints = await texts(tool('file_ticket').getByTestId('tool-hints').locator('li'));
    check(isDeepStrictEqual(hints, ['Writes', 'Not destructive', 'Not idempotent', 'Closed world']), `file_ticket's annotation badges: ${JSON.stringify(hints)}`);
    const image = await texts(tool('tiny_image').getByTestId('tool-hints').locator('li'));
    check(isDeepStrictEqual(image, ['Read-only']), `tiny_image's annotation badges: ${JSON.stringify(image)}`);
  });

  await step('Try it calls echo and shows its text and duration', async () => {
    await button(tool('echo'), 'Try it').click();
    const panel = tool('echo').getByTestId('tryit');
    await panel.getByLabel('text (required)', { exact: true }).fill('hello from the page');
    await button(panel, `Call ${SERVER}__echo`).click();
    await expectText(panel.getByTestId('result-text').locator('pre'), 'hello from the page', 'the echoed text');
    await until('the status', '"Done in N ms."', async () => {
      const seen = (await texts(panel.getByTestId('tryit-status')))[0];
      return { ok: /^Done in \d+(\.\d)? (ms|s)\.$/.test(seen ?? ''), seen };
    });
  });

  await step('Try it fills a nested-object form and sends what it says', async () => {
    const t = tool('file_ticket');
    await button(t, 'Try it').click();
    const panel = t.getByTestId('tryit');
    await panel.getByLabel('title (required)', { exact: true }).fill('Printer on fire');
    await panel.getByLabel('priority', { exact: true }).selectOption({ label: 'high' });
    await panel.getByLabel('estimate', { exact: true }).fill('3');
    await panel.getByLabel('urgent', { exact: true }).selectOption({ label: 'true' });
    await button(panel, 'Add labels').click();
    await panel.getByLabel('labels 1 (required)', { exact: true }).fill('hardware');
    await button(panel, 'Add labels').click();
    await panel.getByLabel('labels 2 (required)', { exact: true }).fill('urgent');
    const reporter = panel.getByRole('group', { name: 'reporter (required)' });
    await reporter.getByLabel('name (required)', { exact: true }).fill('Ada');
    const contact = reporter.getByRole('group', { name: 'contact' });
    await contact.getByLabel('email (required)', { exact: true }).fill('ada@example.com');
    await shot(page, 'tryit-form');
    await button(panel, `Call ${SERVER}__file_ticket`).click();
    const expected = {
      ticket: {
        title: 'Printer on fire', priority: 'high', estimate: 3, urgent: true,
        labels: ['hardware', 'urgent'], reporter: { name: 'Ada', contact: { email: 'ada@example.com' } },
      },
    };
    await until('the structured content', JSON.stringify(expected), async () => {
      const pre = panel.getByTestId('result-structured').locator('pre');
      if (!(await pre.count())) return { ok: false, seen: 'no structured content' };
      const seen = JSON.parse(await pre.textContent());
      return { ok: isDeepStrictEqual(seen, expected), seen };
    });
  });

  await step('the raw JSON mode sends the arguments as typed', async () => {
    const panel = tool('file_ticket').getByTestId('tryit');
    await panel.getByLabel('Edit the arguments as JSON', { exact: true }).check();
    const raw = panel.getByLabel('Arguments (JSON object)', { exact: true });
    const prefilled = JSON.parse(await raw.inputValue());
    check(prefilled.reporter?.contact?.email === 'ada@example.com', `the JSON mode starts from the form's values: ${JSON.stringify(prefilled)}`);
    await raw.fill('{"title": "Raw", "reporter": {"name": "Grace"}}');
    await button(panel, `Call ${SERVER}__file_ticket`).click();
    await until('the structured content', 'the raw arguments', async () => {
      const seen = JSON.parse(await panel.getByTestId('result-structured').locator('pre').textContent());
      return { ok: isDeepStrictEqual(seen, { ticket: { title: 'Raw', reporter: { name: 'Grace' } } }), seen };
    });
  });

  await step('Try it shows an image result', async () => {
    await button(tool('tiny_image'), 'Try it').click();
    const panel = tool('tiny_image').getByTestId('tryit');
    await button(panel, `Call ${SERVER}__tiny_image`).click();
    const img = panel.getByTestId('result-image').locator('img');
    await expectVisible(img, 'the result image');
    await until('the decoded image', 'a 4×4 image', async () => {
      const seen = await img.evaluate((el) => ({ w: el.naturalWidth, h: el.naturalHeight, alt: el.alt, src: el.src.slice(0, 22) }));
      return { ok: seen.w === 4 && seen.h === 4 && seen.alt.includes('image/png') && seen.src === 'data:image/png;base64,', seen };
    });
    await shot(page, 'tryit-image');
  });

  await step('Try it shows a resource link and a tool error', async () => {
    await button(tool('link_note'), 'Try it').click();
    const link = tool('link_note').getByTestId('tryit');
    await link.getByLabel('name (required)', { exact: true }).selectOption({ label: 'todo' });
    await button(link, `Call ${SERVER}__link_note`).click();
    await until('the resource link', 'its URI', async () => {
      const seen = await texts(link.getByTestId('result-resource_link').locator('code'));
      return { ok: seen.length === 1 && seen[0].endsWith('note://fixture/todo'), seen };
    });
    await button(tool('fail'), 'Try it').click();
    const fail = tool('fail').getByTestId('tryit');
    await button(fail, `Call ${SERVER}__fail`).click();
    await expectVisible(fail.getByTestId('tryit-tool-error'), 'the isError notice');
    await expectText(fail.getByTestId('result-text').locator('pre'), 'fail: this tool always fails', "fail's text");
  });

  await step('a JSON-RPC error shows with its code', async () => {
    // Hidden from her session's MCP views, `slow` is no tool of /mcp any more.
    await button(tool('slow'), 'Try it').click();
    await tool('slow').getByLabel('Shown to models in my session', { exact: true }).uncheck();
    await until('the badge after hiding slow', '"… N of M tools shown"', async () => {
      const seen = (await texts(badge(page, SERVER)))[0];
      return { ok: /of \d+ tools shown$/.test(seen ?? ''), seen };
    });
    const panel = tool('slow').getByTestId('tryit');
    await expectVisible(panel, 'the Try it panel of slow after the list redrew');
    await panel.getByLabel('seconds (required)', { exact: true }).fill('0');
    await button(panel, `Call ${SERVER}__slow`).click();
    const error = panel.getByTestId('tryit-rpc-error');
    await expectVisible(error, 'the JSON-RPC error');
    const codes = await texts(error.locator('code'));
    check(codes.includes('unknown_tool') && codes.includes('-32602'), `the error's codes: ${JSON.stringify(codes)}`);
    await shot(page, 'tryit-error');
  });
});
