// Toolsets in the page: alice creates one in the "New toolset" dialog
// (seeing the API's error for an entry it refuses first), its card shows
// its entries and its /mcp/t/ URL, and she deletes it.
//
// Env: ALICE_KEY, SERVER (a public fixture server alice has connected),
// RENAMED (the tool she exposes under NEW_NAME), NEW_NAME.
// Rendezvous: `created` (the test checks /mcp/t/kit over MCP), `deleted`.

import {
  GATEWAY, run, step, env, newPage, shot, until, rendezvous, expectText,
  expectVisible, expectAbsent, signIn, button,
} from './lib.mjs';

const SERVER = env('SERVER');
const RENAMED = env('RENAMED');
const NEW_NAME = env('NEW_NAME');

await run(async () => {
  const page = await newPage('alice');
  await step('alice opens the New toolset dialog', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, env('ALICE_KEY'), 'alice · user');
    await expectVisible(page.getByRole('heading', { name: 'Toolsets', exact: true }), 'the Toolsets heading');
    await button(page, 'New toolset').click();
    await expectVisible(page.getByRole('dialog', { name: 'New toolset', exact: true }), 'the dialog');
  });

  await step('an entry the API refuses shows its error, then the toolset is created', async () => {
    const dialog = page.getByRole('dialog', { name: 'New toolset', exact: true });
    await dialog.getByLabel('Name', { exact: true }).fill('kit');
    await dialog.getByLabel('Title', { exact: true }).fill('Alice kit');
    await dialog.getByLabel('Entries', { exact: true }).fill(`${SERVER} echo\nnope echo`);
    await button(dialog, 'Create').click();
    await until('the refusal', 'an error naming the unknown server', async () => {
      const text = (await dialog.textContent()) ?? '';
      return { ok: /server/i.test(text) && /nope/.test(text), seen: text.slice(-200) };
    });
    await dialog.getByLabel('Entries', { exact: true }).fill(`${SERVER} echo\n${SERVER} ${RENAMED} as ${NEW_NAME}`);
    await button(dialog, 'Create').click();
    await until('the dialog closes', 'no open dialog', async () => {
      const open = await page.getByRole('dialog').count();
      return { ok: open === 0, seen: `${open} open` };
    });
    const card = page.locator('[data-testid="toolset-card"][data-toolset="kit"]');
    await expectVisible(card, 'the card of kit');
    await expectText(card.getByTestId('toolset-url'), `${GATEWAY}/mcp/t/kit`, 'its MCP URL');
    await until('its entries', `echo and ${RENAMED} shown as ${NEW_NAME}`, async () => {
      const text = ((await card.textContent()) ?? '').replace(/\s+/g, ' ');
      return { ok: text.includes(`${SERVER} · echo`) && text.includes(`${SERVER} · ${RENAMED} shown as ${NEW_NAME}`), seen: text };
    });
    await shot(page, 'created');
    await rendezvous('created');
  }, { allow: [/status of 422/] });

  await step('alice deletes it', async () => {
    const card = page.locator('[data-testid="toolset-card"][data-toolset="kit"]');
    await button(card, 'Delete').click();
    const dialog = page.getByRole('dialog', { name: 'Delete kit?', exact: true });
    await button(dialog, 'Delete').click();
    await expectAbsent(card, 'the card of kit');
    await rendezvous('deleted');
  });
});
