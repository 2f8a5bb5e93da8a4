// OAuth in the page: a user's card for an OAuth server says "Needs
// authorization"; "Authorize" opens the authorization server in a new tab;
// once the user approves there (the fixture approves the user named by the
// X-Fixture-User header, added to that one request) the gateway's callback
// connects the server and the first tab's badge turns "Connected · N
// tools" live.
//
// Env: USER_KEY, USER_ID, SERVER_NAME, FIXTURE_ORIGIN.
// Rendezvous: `authorized` (answer: {tool_count} from the API).

import {
  GATEWAY, run, step, env, newPage, watch, shot, rendezvous, report, until, check,
  expectText, expectVisible, expectAbsent, expectAttr, signIn, card, badge, button,
} from './lib.mjs';

const SERVER = env('SERVER_NAME');
const USER_ID = env('USER_ID');
const FIXTURE = env('FIXTURE_ORIGIN');

await run(async () => {
  const page = await newPage('user');
  const context = page.context();

  await step('the OAuth server\'s card says "Needs authorization" with an "Authorize" button', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, env('USER_KEY'), `${USER_ID} · user`);
    await expectVisible(card(page, SERVER), `the card of ${SERVER}`);
    await expectText(badge(page, SERVER), 'Needs authorization', 'the status badge');
    await expectAttr(badge(page, SERVER), 'data-status', 'needs-authorization', 'the status badge');
    await expectVisible(button(card(page, SERVER), 'Authorize'), 'the "Authorize" button');
    await expectAbsent(button(card(page, SERVER), 'Tools'), 'a "Tools" button before authorization');
    await shot(page, 'needs-authorization');
  });

  let popup;
  await step('"Authorize" opens the authorization server in a new tab, which lands on the gateway\'s callback', async () => {
    const asked = [];
    await context.route(`${FIXTURE}/authorize**`, (route) => {
      asked.push(route.request().url());
      return route.continue({ headers: { ...route.request().headers(), 'x-fixture-user': USER_ID } });
    });
    const opened = context.waitForEvent('page');
    await button(card(page, SERVER), 'Authorize').click();
    popup = await opened;
    watch(popup, 'authorization tab');
    await popup.waitForLoadState('load');
    await until('the authorization tab', `the gateway's /oauth/callback page saying "authorized and connected"`, async () => {
      const url = popup.url();
      const text = await popup.locator('body').innerText().catch(() => '');
      return { ok: url.startsWith(`${GATEWAY}/oauth/callback?`) && text.includes('authorized and connected'), seen: `${url}: ${text.slice(0, 200)}` };
    });
    check(asked.length === 1, `the tab asked the authorization server ${asked.length} times: ${JSON.stringify(asked)}`);
    const query = new URL(asked[0]).searchParams;
    for (const p of ['client_id', 'state', 'code_challenge', 'redirect_uri']) {
      check(query.get(p), `the authorization request has no ${p}: ${asked[0]}`);
    }
    report.authorization_tab = { asked: asked[0], landed: popup.url() };
    await shot(popup, 'callback-tab');
  });

  await step('the first tab\'s badge turns connected without a reload', async () => {
    await expectAttr(badge(page, SERVER), 'data-status', 'connected', 'the status badge after the callback');
    await expectVisible(button(card(page, SERVER), 'Disconnect'), 'the "Disconnect" button');
    await expectAbsent(button(card(page, SERVER), 'Authorize'), 'an "Authorize" button once authorized');
  });

  const { tool_count: n } = await rendezvous('authorized');

  await step('with the API\'s tool count', async () => {
    check(Number.isInteger(n) && n > 0, `the test answered tool_count ${n}`);
    await expectText(badge(page, SERVER), `Connected · ${n} ${n === 1 ? 'tool' : 'tools'}`, 'the status badge');
    await shot(page, 'authorized');
  });
});
