// Isolation in the page: alice sees her private server, bob never does; a
// user gets no category management and no Edit/Delete on a public server
// (but does on their own); a bad key shows the API's error at sign-in; a
// key revoked while its page is open leads back to the sign-in form.
//
// Env: ALICE_KEY, BOB_KEY, ALICE_SERVER, ALICE_TITLE, BOB_SERVER,
// PUBLIC_SERVER, BOB_NEW_SERVER, UPSTREAM_URL, BAD_KEY, BAD_KEY_MESSAGE.
// Rendezvous: `bob-created` (bob made BOB_NEW_SERVER in the dialog),
// `revoke-alice` (the test revokes alice's key).

import {
  GATEWAY, run, step, env, newPage, shot, until, check, rendezvous,
  expectText, expectVisible, expectAbsent, signIn, card, button,
} from './lib.mjs';

const ALICE_SERVER = env('ALICE_SERVER');
const ALICE_TITLE = env('ALICE_TITLE');
const BOB_SERVER = env('BOB_SERVER');
const PUBLIC_SERVER = env('PUBLIC_SERVER');
const BOB_NEW = env('BOB_NEW_SERVER');

await run(async () => {
  const alice = await newPage('alice');
  await step('alice sees her private server and the public one', async () => {
    await alice.goto(GATEWAY + '/');
    await signIn(alice, env('ALICE_KEY'), 'alice · user');
    await expectVisible(card(alice, ALICE_SERVER), `alice's card ${ALICE_SERVER}`);
    await expectVisible(card(alice, PUBLIC_SERVER), `the public card ${PUBLIC_SERVER}`);
    await expectVisible(button(card(alice, ALICE_SERVER), 'Edit'), `"Edit" on alice's own server`);
    await expectVisible(button(card(alice, ALICE_SERVER), 'Delete'), `"Delete" on alice's own server`);
  });

  const bob = await newPage('bob');
  await step("bob's page never shows alice's private server", async () => {
    await bob.goto(GATEWAY + '/');
    await signIn(bob, env('BOB_KEY'), 'bob · user');
    await expectVisible(card(bob, BOB_SERVER), `bob's card ${BOB_SERVER}`);
    await expectVisible(card(bob, PUBLIC_SERVER), `the public card ${PUBLIC_SERVER}`);
    await expectAbsent(card(bob, ALICE_SERVER), `alice's card on bob's page`);
    await expectText(bob.getByTestId('live-status'), 'Live', "bob's live-status text");
    const html = await bob.content();
    check(!html.includes(ALICE_SERVER) && !html.includes(ALICE_TITLE), `bob's page mentions alice's server (${ALICE_SERVER} / ${ALICE_TITLE}) somewhere in its DOM`);
    await shot(bob, 'bob');
  });

  await step('a user may create servers but manages no category and no public server', async () => {
    await expectVisible(button(bob, 'New server'), 'the "New server" button for a user');
    await expectAbsent(button(bob, 'New category'), 'a "New category" button for a user');
    await expectAbsent(button(bob, 'Edit category'), 'an "Edit category" button for a user');
    await expectAbsent(button(bob, 'Delete category'), 'a "Delete category" button for a user');
    await expectAbsent(button(card(bob, PUBLIC_SERVER), 'Edit'), 'an "Edit" button on the public server');
    await expectAbsent(button(card(bob, PUBLIC_SERVER), 'Delete'), 'a "Delete" button on the public server');
    await expectVisible(button(card(bob, BOB_SERVER), 'Edit'), `"Edit" on bob's own server`);
    await expectVisible(button(card(bob, BOB_SERVER), 'Delete'), `"Delete" on bob's own server`);
    await button(bob, 'New server').click();
    const dialog = bob.getByRole('dialog', { name: 'New server', exact: true });
    await expectVisible(dialog, 'the dialog "New server"');
    const transports = await dialog.getByLabel('Transport', { exact: true }).locator('option').evaluateAll((os) => os.map((o) => o.value));
    check(!transports.includes('stdio'), `a user is offered the stdio transport: ${JSON.stringify(transports)}`);
    await expectAbsent(dialog.getByLabel('Public', { exact: true }), 'a "Public" checkbox for a user');
    await dialog.getByLabel('Name', { exact: true }).fill(BOB_NEW);
    await dialog.getByLabel('Title', { exact: true }).fill('Made by bob');
    await dialog.getByLabel('Transport', { exact: true }).selectOption('streamable_http');
    await dialog.getByLabel('URL', { exact: true }).fill(env('UPSTREAM_URL'));
    await button(dialog, 'Create').click();
    await expectAbsent(dialog, 'the dialog after Create');
    await expectVisible(card(bob, BOB_NEW), `bob's new card ${BOB_NEW}`);
    const text = await card(bob, BOB_NEW).innerText();
    check(/\bPrivate\b/.test(text), `bob's new server is not shown as Private: ${JSON.stringify(text)}`);
    await expectVisible(button(card(bob, BOB_NEW), 'Edit'), `"Edit" on bob's new server`);
  });

  await rendezvous('bob-created', { server: BOB_NEW });

  await step('after Sign out, a bad key shows the API error and keeps the form', async () => {
    await button(bob, 'Sign out').click();
    const field = bob.getByLabel('API key or JWT', { exact: true });
    await expectVisible(field, 'the sign-in field after Sign out');
    await field.fill(env('BAD_KEY'));
    await button(bob, 'Sign in').click();
    const message = env('BAD_KEY_MESSAGE');
    await until('the sign-in alert', `a role=alert containing ${JSON.stringify(message)}`, async () => {
      const alerts = (await bob.getByRole('alert').allTextContents()).map((t) => t.trim()).filter(Boolean);
      return { ok: alerts.some((t) => t.includes(message)), seen: alerts };
    });
    await expectVisible(field, 'the sign-in field after a failed sign-in');
    await expectAbsent(bob.getByTestId('whoami'), 'whoami after a failed sign-in');
    const kept = await bob.evaluate(() => sessionStorage.getItem('manifold.token'));
    check(kept === null, `a rejected key was kept in sessionStorage: ${JSON.stringify(kept)}`);
    await shot(bob, 'bad-key');
  }, { allow: [/status of 401/] });

  await rendezvous('revoke-alice');

  await step("alice's revoked key brings her page back to the sign-in form", async () => {
    await alice.reload();
    await expectVisible(alice.getByLabel('API key or JWT', { exact: true }), 'the sign-in field after a 401');
    await expectAbsent(alice.getByTestId('whoami'), 'whoami after a 401');
    await expectAbsent(card(alice, ALICE_SERVER), "alice's card after a 401");
    const kept = await alice.evaluate(() => sessionStorage.getItem('manifold.token'));
    check(kept === null, `the revoked key is still in sessionStorage: ${JSON.stringify(kept)}`);
  }, { allow: [/status of 401/] });
});
