// Activity: alice's page lists her audit events; a tool call she makes
// through /mcp while the page is open appears without a reload (the
// auditEventAdded subscription), with its tool, outcome and duration;
// bob's calls never show; the outcome filter narrows the list.
//
// Env: ALICE_KEY (alice connected the fixture as `fx`).
// Rendezvous: `watching` (the page is live; the test then calls fx__echo
// as bob, and fx__echo and fx__fail as alice, through /mcp).

import {
  GATEWAY, run, step, env, newPage, shot, until, rendezvous, texts, signIn, button,
} from './lib.mjs';

const rows = (page) => page.getByTestId('activity-row');

async function seenRows(page) {
  return rows(page).evaluateAll((els) => els.map((el) => ({
    kind: el.dataset.kind, target: el.dataset.target, outcome: el.dataset.outcome,
    cells: [...el.children].map((c) => c.textContent.trim()),
  })));
}

await run(async () => {
  const page = await newPage('alice');

  await step('alice signs in; Activity lists her connect and is live', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, env('ALICE_KEY'), 'alice · user');
    await until('the connect event', 'a connect row for fx', async () => {
      const seen = await seenRows(page);
      return { ok: seen.some((r) => r.kind === 'connect' && r.cells[3] === 'fx'), seen };
    });
    await until('the activity status', '"… · live"', async () => {
      const seen = (await texts(page.getByTestId('activity-status')))[0];
      return { ok: /· live$/.test(seen ?? ''), seen };
    });
  });

  await step('her tool calls appear live, with outcome and duration, and bob\'s do not', async () => {
    await rendezvous('watching');
    await until('the calls', 'fx__echo ok and fx__fail tool_error rows', async () => {
      const seen = await seenRows(page);
      const echo = seen.find((r) => r.kind === 'tools/call' && r.target === 'fx__echo');
      const fail = seen.find((r) => r.kind === 'tools/call' && r.target === 'fx__fail');
      const ok = echo && echo.outcome === 'ok' && /^\d+ ms$|^\d+\.\d s$/.test(echo.cells[6])
        && echo.cells[2] === 'alice' && fail && fail.outcome !== 'ok';
      return { ok, seen };
    });
    const seen = await seenRows(page);
    const strangers = seen.filter((r) => r.cells[2] !== 'alice');
    if (strangers.length) throw new Error(`events of another user show: ${JSON.stringify(strangers)}`);
    const echoes = seen.filter((r) => r.target === 'fx__echo');
    if (echoes.length !== 1) throw new Error(`${echoes.length} fx__echo rows (bob's call must not show): ${JSON.stringify(echoes)}`);
    await shot(page, 'live');
  });

  await step('the outcome filter narrows the list', async () => {
    await page.getByLabel('Outcome', { exact: true }).fill('ok');
    await button(page, 'Apply filters').click();
    await until('the filtered rows', 'only ok outcomes, fx__echo among them', async () => {
      const seen = await seenRows(page);
      return { ok: seen.length > 0 && seen.every((r) => r.outcome === 'ok') && seen.some((r) => r.target === 'fx__echo'), seen };
    });
  });
});
