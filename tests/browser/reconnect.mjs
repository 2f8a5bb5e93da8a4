// A broken upstream link, live: a user's page shows a connected server; the
// Rust test kills its upstream (SIGKILL) and the badge turns to
// "Reconnecting" with the link's last error, without a reload; the test
// starts the upstream again on the same port and the badge returns to
// "Connected · N tools" with one reconnect counted.
//
// Env: USER_KEY, USER_ID, SERVER_NAME, EXPECTED_TOOLS.
// Rendezvous: `connected-seen` (the test kills the upstream),
// `reconnecting-seen` with {badge, health} (the test restarts it).
// Report: live_status, connected / reconnecting / reconnected ({badge,
// health} as the page showed them), statuses (the server's statuses in
// serverStatusChanged frames, in order).

import {
  GATEWAY, run, step, env, newPage, requireBearer, shot, rendezvous, report, until,
  texts, expectText, expectVisible, expectAbsent, expectAttr, check, signIn, card, badge, button,
} from './lib.mjs';

const USER_KEY = env('USER_KEY');
const USER_ID = env('USER_ID');
const SERVER = env('SERVER_NAME');
const N = Number(env('EXPECTED_TOOLS'));
const connectedText = `Connected · ${N} ${N === 1 ? 'tool' : 'tools'}`;

await run(async () => {
  const page = await newPage('user');
  requireBearer(page, 'user', USER_KEY);
  /** The server's status in each serverStatusChanged frame, in order. */
  const statuses = [];
  page.on('websocket', (ws) => {
    if (!ws.url().includes('/graphql/ws')) return;
    ws.on('framereceived', ({ payload }) => {
      const text = typeof payload === 'string' ? payload : payload.toString('utf8');
      if (!text.includes('serverStatusChanged')) return;
      try {
        const change = JSON.parse(text).payload?.data?.serverStatusChanged;
        if (change?.name === SERVER) statuses.push(change.status);
      } catch { /* not JSON: not ours */ }
    });
  });
  report.statuses = statuses;
  const health = () => card(page, SERVER).getByTestId('link-health');
  /** What the card shows now: the badge's and the health line's text. */
  const shown = async () => ({
    badge: (await texts(badge(page, SERVER)))[0] ?? null,
    health: (await texts(health()))[0] ?? null,
  });

  await step(`the user signs in and sees the server "${connectedText}", live`, async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, USER_KEY, `${USER_ID} · user`);
    await expectText(badge(page, SERVER), connectedText, 'the status badge');
    await expectAttr(badge(page, SERVER), 'data-status', 'connected', 'the status badge');
    await expectText(page.getByTestId('live-status'), 'Live', 'the live-status text');
    report.live_status = 'Live';
    await until('the link-health line', 'visible, starting "MCP "', async () => {
      const seen = await texts(health());
      return { ok: seen.length === 1 && seen[0].startsWith('MCP ') && (await health().isVisible()), seen: seen.join(' | ') || 'no element' };
    });
    report.connected = await shown();
    check(!report.connected.health.includes('last error'), `a healthy link shows no last error: ${report.connected.health}`);
    // Gone after a navigation: proves the later steps saw no reload.
    await page.evaluate(() => { window.__sameDocument = true; });
    await shot(page, 'connected');
  });

  await rendezvous('connected-seen');

  await step('with the upstream killed, the badge turns to "Reconnecting" and the card says why, without a reload', async () => {
    await expectAttr(badge(page, SERVER), 'data-status', 'reconnecting', 'the status badge after the upstream died');
    await until('the status badge after the upstream died', 'a text starting "Reconnecting"', async () => {
      const seen = await texts(badge(page, SERVER));
      return { ok: seen.length === 1 && seen[0].startsWith('Reconnecting'), seen: seen.join(' | ') || 'no element' };
    });
    await until('the link-health line while reconnecting', 'a text containing "last error:"', async () => {
      const seen = await texts(health());
      return { ok: seen.length === 1 && seen[0].includes('last error:') && (await health().isVisible()), seen: seen.join(' | ') || 'no element' };
    });
    await expectVisible(button(card(page, SERVER), 'Disconnect'), 'the "Disconnect" button while reconnecting');
    await expectAbsent(button(card(page, SERVER), 'Connect'), 'the "Connect" button while reconnecting');
    await expectAbsent(button(card(page, SERVER), 'Tools'), 'the "Tools" button while reconnecting');
    check(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    check(statuses.includes('RECONNECTING'), `no serverStatusChanged frame said RECONNECTING: ${JSON.stringify(statuses)}`);
    report.reconnecting = await shown();
    await shot(page, 'reconnecting');
  });

  await rendezvous('reconnecting-seen', report.reconnecting);

  await step(`with the upstream back, the badge returns to "${connectedText}" and counts 1 reconnect, without a reload`, async () => {
    await expectText(badge(page, SERVER), connectedText, 'the status badge after the upstream came back');
    await expectAttr(badge(page, SERVER), 'data-status', 'connected', 'the status badge after the upstream came back');
    await until('the link-health line after the upstream came back', 'a text containing "1 reconnect" and no "last error"', async () => {
      const seen = await texts(health());
      const ok = seen.length === 1 && /(^| )1 reconnect($| )/.test(seen[0]) && !seen[0].includes('last error');
      return { ok, seen: seen.join(' | ') || 'no element' };
    });
    await expectVisible(button(card(page, SERVER), 'Disconnect'), 'the "Disconnect" button after the upstream came back');
    await expectVisible(button(card(page, SERVER), 'Tools'), 'the "Tools" button after the upstream came back');
    check(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    await expectText(page.getByTestId('live-status'), 'Live', 'the live-status text at the end');
    report.reconnected = await shown();
    await shot(page, 'reconnected');
  });
});
