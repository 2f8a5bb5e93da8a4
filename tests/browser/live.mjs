// Live badge: a user's page follows changes made elsewhere by the Rust test
// (a REST connect, a tool added through an MCP client, a REST disconnect),
// without a reload, through the `serverStatusChanged` subscription on
// /graphql/ws.
//
// Env: USER_KEY, USER_ID, SERVER_NAME, SERVER_TITLE, EXPECTED_TOOLS.
// Rendezvous: `signed-in` (the test creates the server), `watching` (the
// test connects it), `connected-seen` (an MCP client calls the upstream's
// `add_tool`; answer: {tool_count} from the API), `grown` (the test
// disconnects it).
// Report: live_status, websockets (URLs), status_frames (frames naming the
// server after each change).

import {
  GATEWAY, run, step, env, newPage, requireBearer, shot, rendezvous, report, until,
  expectText, expectVisible, expectAttr, signIn, card, badge, button,
} from './lib.mjs';

const USER_KEY = env('USER_KEY');
const USER_ID = env('USER_ID');
const SERVER = env('SERVER_NAME');
const TITLE = env('SERVER_TITLE');
const N = Number(env('EXPECTED_TOOLS'));
const connectedText = `Connected · ${N} ${N === 1 ? 'tool' : 'tools'}`;

await run(async () => {
  const page = await newPage('user');
  requireBearer(page, 'user', USER_KEY);
  const sockets = [];
  /** Text frames received on /graphql/ws that name the server. */
  const frames = [];
  page.on('websocket', (ws) => {
    sockets.push(ws.url());
    ws.on('framereceived', ({ payload }) => {
      const text = typeof payload === 'string' ? payload : payload.toString('utf8');
      if (ws.url().includes('/graphql/ws') && text.includes('serverStatusChanged') && text.includes(SERVER)) {
        frames.push(text);
      }
    });
  });
  report.websockets = sockets;

  await step('the user signs in', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, USER_KEY, `${USER_ID} · user`);
    await expectVisible(page.getByRole('heading', { level: 2, name: 'Servers', exact: true }), 'the h2 "Servers"');
  });

  await rendezvous('signed-in');

  await step('after a reload the new private server shows, Disconnected, and the page is Live', async () => {
    await page.reload();
    await expectText(page.getByTestId('whoami'), `${USER_ID} · user`, 'whoami after a reload (the key is kept for the tab)');
    await expectVisible(page.getByRole('article', { name: TITLE, exact: true }), `the card "${TITLE}"`);
    await expectText(badge(page, SERVER), 'Disconnected', 'the status badge');
    await expectText(page.getByTestId('live-status'), 'Live', 'the live-status text');
    report.live_status = (await page.getByTestId('live-status').textContent()).trim();
    check(sockets.some((u) => u.startsWith(GATEWAY.replace(/^http/, 'ws') + '/graphql/ws')), `no WebSocket to ${GATEWAY.replace(/^http/, 'ws')}/graphql/ws was opened; sockets: ${JSON.stringify(sockets)}`);
  });

  const before = frames.length;
  await rendezvous('watching');

  await step(`a REST connect turns the badge into "${connectedText}" without a reload`, async () => {
    await expectText(badge(page, SERVER), connectedText, 'the status badge after the REST connect');
    await expectAttr(badge(page, SERVER), 'data-status', 'connected', 'the status badge after the REST connect');
    await expectVisible(button(card(page, SERVER), 'Disconnect'), 'the "Disconnect" button');
    await expectVisible(button(card(page, SERVER), 'Tools'), 'the "Tools" button');
    await until('a serverStatusChanged frame on /graphql/ws naming the server', 'one', async () => ({ ok: frames.length > before, seen: `${frames.length - before}` }));
    await shot(page, 'connected-live');
  });

  const middle = frames.length;
  const { tool_count: grown } = await rendezvous('connected-seen');

  await step('a tool added through an MCP client shows in the badge without a reload', async () => {
    check(grown === N + 1, `the API says ${grown} tools after add_tool, wanted ${N + 1}`);
    await expectText(badge(page, SERVER), `Connected · ${grown} tools`, 'the status badge after add_tool');
    await until('a serverStatusChanged frame after add_tool', 'one', async () => ({ ok: frames.length > middle, seen: `${frames.length - middle}` }));
  });

  const last = frames.length;
  await rendezvous('grown');

  await step('a REST disconnect turns the badge into "Disconnected" without a reload', async () => {
    await expectText(badge(page, SERVER), 'Disconnected', 'the status badge after the REST disconnect');
    await expectAttr(badge(page, SERVER), 'data-status', 'disconnected', 'the status badge after the REST disconnect');
    await expectVisible(button(card(page, SERVER), 'Connect'), 'the "Connect" button');
    await until('a serverStatusChanged frame on /graphql/ws after the disconnect', 'one', async () => ({ ok: frames.length > last, seen: `${frames.length - last}` }));
    await expectText(page.getByTestId('live-status'), 'Live', 'the live-status text at the end');
    report.status_frames = frames;
  });
});

function check(cond, message) {
  if (!cond) throw new Error(message);
}
