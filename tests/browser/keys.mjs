// Keys: the admin creates a key for carol from the page, sees it once with
// a copy button and the warning, the test signs in with it, and the admin
// revokes it from the page.
//
// Env: ADMIN_KEY. Rendezvous: `created` ({key}: the test checks it works),
// `revoked` (the test checks it no longer does).

import {
  GATEWAY, run, step, env, newPage, shot, until, rendezvous, texts, check, signIn, button,
  expectVisible, expectAbsent,
} from './lib.mjs';

await run(async () => {
  const page = await newPage('admin');
  let key;

  await step('the admin signs in and opens "New key"', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, env('ADMIN_KEY'), 'admin · admin');
    await button(page, 'New key').click();
    await expectVisible(page.getByRole('dialog', { name: 'New API key' }), 'the "New API key" dialog');
  });

  await step('a key for carol is created and shown once with a copy button', async () => {
    const dialog = page.getByRole('dialog', { name: 'New API key' });
    await dialog.getByLabel('Name', { exact: true }).fill('laptop');
    await dialog.getByLabel('User', { exact: true }).fill('carol');
    await dialog.getByLabel('Role', { exact: true }).selectOption('user');
    await button(dialog, 'Create key').click();
    const shown = page.getByRole('dialog', { name: 'Key created' });
    await expectVisible(shown, 'the "Key created" dialog');
    const intro = (await texts(shown.locator('.dialog-intro')))[0] ?? '';
    check(intro.includes('will not be shown again'), `the warning: ${JSON.stringify(intro)}`);
    await expectVisible(button(shown, 'Copy key'), 'the "Copy key" button');
    key = await shown.getByTestId('new-key').inputValue();
    check(key.startsWith('mfk_'), `the shown key: ${JSON.stringify(key.slice(0, 6))}…`);
    await shot(page, 'created');
    await rendezvous('created', { key });
    await button(shown, 'Done').click();
    await expectAbsent(shown, 'the "Key created" dialog after Done');
  });

  await step('the list shows the key, never its secret, and revokes it', async () => {
    const row = page.locator('[data-testid="key-row"][data-key-name="laptop"]');
    await expectVisible(row, 'the row of "laptop"');
    const text = (await texts(row))[0];
    check(!text.includes(key), 'the list shows the whole key');
    check(text.includes('carol'), `the row names carol: ${text}`);
    await button(row, 'Revoke laptop').click();
    const confirm = page.getByRole('dialog', { name: 'Revoke laptop?' });
    await button(confirm, 'Revoke').click();
    await until('the revoked key', 'marked revoked or gone', async () => {
      const n = await row.count();
      const state = n ? (await texts(row.getByTestId('key-state')))[0] : 'gone';
      return { ok: state === 'gone' || /^Revoked/.test(state), seen: state };
    });
    await rendezvous('revoked');
  });
});
