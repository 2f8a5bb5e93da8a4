// Choosing tools in the page: the admin hides a tool from every session in
// the server's form, and alice's open page counts it away live; alice then
// hides a tool from her own session with its "Shown to models" toggle and
// shows it again, and the card's count follows each change.
//
// Env: ADMIN_KEY, ALICE_KEY, SERVER (a public fixture server alice has
// connected), TOOL_COUNT (its tools), SERVER_HIDDEN (the tool the admin
// hides), SESSION_HIDDEN (the tool alice hides).
// Rendezvous: `server-filtered` (the admin saved the form), `session-hidden`
// (alice switched her tool off), `session-shown` (and on again).

import {
  GATEWAY, run, step, env, newPage, shot, until, rendezvous, expectText,
  expectVisible, signIn, card, badge, button,
} from './lib.mjs';

const SERVER = env('SERVER');
const COUNT = Number(env('TOOL_COUNT'));
const SERVER_HIDDEN = env('SERVER_HIDDEN');
const SESSION_HIDDEN = env('SESSION_HIDDEN');

await run(async () => {
  const alice = await newPage('alice');
  await step("alice's page counts the tools of her connected server", async () => {
    await alice.goto(GATEWAY + '/');
    await signIn(alice, env('ALICE_KEY'), 'alice · user');
    await expectText(badge(alice, SERVER), `Connected · ${COUNT} tools`, `the badge of ${SERVER}`);
  });

  const admin = await newPage('admin');
  await step("the admin hides a tool from every session in the server's form", async () => {
    await admin.goto(GATEWAY + '/');
    await signIn(admin, env('ADMIN_KEY'), 'admin · admin');
    await button(card(admin, SERVER), 'Edit').click();
    const dialog = admin.getByRole('dialog').filter({ has: button(admin, 'Save') });
    await expectVisible(dialog, 'the "Edit server" dialog');
    await dialog.getByLabel('Hide', { exact: true }).fill(`${SERVER_HIDDEN}\n`);
    await shot(admin, 'server-filter');
    await button(dialog, 'Save').click();
    await until('the dialog closes', 'no open dialog', async () => {
      const open = await admin.getByRole('dialog').count();
      return { ok: open === 0, seen: `${open} open` };
    });
    await rendezvous('server-filtered');
  });

  await step("alice's page counts the hidden tool away without a reload", async () => {
    await expectText(badge(alice, SERVER), `Connected · ${COUNT - 1} tools`, `the badge of ${SERVER} after the admin's filter`);
    await button(card(alice, SERVER), 'Tools').click();
    const names = card(alice, SERVER).getByTestId('tool').locator('.tool-name');
    await until('the tool list', `${COUNT - 1} tools without ${SERVER}__${SERVER_HIDDEN}`, async () => {
      const seen = await names.allTextContents();
      return { ok: seen.length === COUNT - 1 && !seen.includes(`${SERVER}__${SERVER_HIDDEN}`) && seen.every((n) => n.startsWith(`${SERVER}__`)), seen };
    });
  });

  await step('alice hides a tool from her own session with its toggle', async () => {
    const tool = card(alice, SERVER).locator(`[data-testid="tool"][data-tool="${SESSION_HIDDEN}"]`);
    const toggle = tool.getByLabel('Shown to models in my session', { exact: true });
    await expectVisible(toggle, `the toggle of ${SESSION_HIDDEN}`);
    await toggle.uncheck();
    await expectText(badge(alice, SERVER), `Connected · ${COUNT - 2} of ${COUNT - 1} tools shown`, 'the badge after hiding one');
    await shot(alice, 'session-filter');
    await rendezvous('session-hidden');
  });

  await step('and shows it again', async () => {
    const tool = card(alice, SERVER).locator(`[data-testid="tool"][data-tool="${SESSION_HIDDEN}"]`);
    await tool.getByLabel('Shown to models in my session', { exact: true }).check();
    await expectText(badge(alice, SERVER), `Connected · ${COUNT - 1} tools`, 'the badge after showing it again');
    await rendezvous('session-shown');
  });
});
