// The fallback when the live connection cannot be had: with every
// /graphql/ws socket closed right after it opens, the page says "Polling"
// and still picks up a REST connect (through GET /session/servers every
// 5 s); once sockets get through again it returns to "Live" by itself.
//
// Env: USER_KEY, USER_ID, SERVER_NAME (created by the test, disconnected),
// EXPECTED_TOOLS.
// Rendezvous: `polling` (the test connects the server), `live-again` (the
// test disconnects it).

import {
  GATEWAY, run, step, env, newPage, rendezvous, until, check,
  expectText, expectAttr, signIn, badge,
} from './lib.mjs';

const SERVER = env('SERVER_NAME');
const N = Number(env('EXPECTED_TOOLS'));
const connectedText = `Connected · ${N} ${N === 1 ? 'tool' : 'tools'}`;
/** One poll period (5 s) plus margin: a ceiling, not a speed assertion. */
const POLL_WAIT = 15000;
/** The page's reconnect back-off grows to 30 s; one full period plus margin. */
const RECONNECT_WAIT = 45000;

await run(async () => {
  const page = await newPage('user');
  let blocked = true;
  let refused = 0;
  await page.routeWebSocket(/\/graphql\/ws$/, (ws) => {
    if (blocked) {
      refused += 1;
      ws.close({ code: 1011, reason: 'live updates are down in this test' });
    } else {
      ws.connectToServer();
    }
  });

  await step('with /graphql/ws refused the page signs in and says "Polling"', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, env('USER_KEY'), `${env('USER_ID')} · user`);
    await expectText(badge(page, SERVER), 'Disconnected', 'the status badge');
    await expectText(page.getByTestId('live-status'), 'Polling', 'the live-status text without a socket');
    check(refused > 0, 'the page never tried /graphql/ws');
  });

  await rendezvous('polling');

  await step(`a REST connect still reaches the badge by polling: "${connectedText}"`, async () => {
    await until('the status badge while polling', JSON.stringify(connectedText), async () => {
      const [t] = await badge(page, SERVER).allTextContents();
      return { ok: t !== undefined && t.trim() === connectedText, seen: t };
    }, POLL_WAIT);
    await expectAttr(badge(page, SERVER), 'data-status', 'connected', 'the status badge while polling');
    await expectText(page.getByTestId('live-status'), 'Polling', 'the live-status text (still no socket)');
  });

  await step('once sockets get through, the page is "Live" again on its own', async () => {
    blocked = false;
    await until('the live-status text after sockets are let through', '"Live"', async () => {
      const [t] = await page.getByTestId('live-status').allTextContents();
      return { ok: t !== undefined && t.trim() === 'Live', seen: t };
    }, RECONNECT_WAIT);
  });

  await rendezvous('live-again');

  await step('and follows the next change live: "Disconnected"', async () => {
    await expectText(badge(page, SERVER), 'Disconnected', 'the status badge after the REST disconnect');
  });
});
