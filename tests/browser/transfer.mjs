// Import / export: the admin pastes an mcpServers JSON with one stdio and
// one HTTP server, previews it (a dry run creates nothing), creates both,
// and the page connects each; the export shows them back.
//
// Env: ADMIN_KEY, IMPORT_JSON (the mcpServers JSON), NAMES (the two server
// names, comma-separated). Rendezvous: `previewed` (the test checks nothing
// was created), `imported` (it checks both are connected).

import {
  GATEWAY, run, step, env, newPage, shot, until, rendezvous, texts, check, signIn, button,
  expectVisible, card, badge,
} from './lib.mjs';

const NAMES = env('NAMES').split(',');

async function importRows(page) {
  return page.getByTestId('import-row').evaluateAll((els) => els.map((el) => ({
    name: el.dataset.name,
    action: el.querySelector('[data-testid="import-action"]').textContent.trim(),
    connection: el.querySelector('[data-testid="import-connection"]').textContent.trim(),
  })));
}

await run(async () => {
  const page = await newPage('admin');

  await step('the admin previews an mcpServers JSON', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, env('ADMIN_KEY'), 'admin · admin');
    await page.getByLabel('mcpServers JSON', { exact: true }).fill(env('IMPORT_JSON'));
    await button(page, 'Preview').click();
    await until('the preview', `${NAMES.join(' and ')} will be created`, async () => {
      const seen = await importRows(page);
      return { ok: seen.length === 2 && NAMES.every((n) => seen.some((r) => r.name === n && r.action === 'Will be created')), seen };
    });
    await shot(page, 'preview');
    await rendezvous('previewed');
  });

  await step('"Create 2 servers" creates and connects both', async () => {
    await button(page, 'Create 2 servers').click();
    await until('the import', 'both created and connected', async () => {
      const seen = await importRows(page);
      return { ok: seen.length === 2 && seen.every((r) => r.action === 'Created' && r.connection === 'Connected'), seen };
    });
    for (const name of NAMES) {
      await expectVisible(card(page, name), `the card of ${name}`);
      await until(`the badge of ${name}`, 'connected', async () => ({
        ok: (await badge(page, name).getAttribute('data-status')) === 'connected',
        seen: await badge(page, name).getAttribute('data-status'),
      }));
    }
    await shot(page, 'imported');
    await rendezvous('imported');
  });

  await step('the export shows both servers as mcpServers JSON', async () => {
    await button(page, 'Export mcpServers JSON').click();
    const pre = page.getByTestId('export-mcp_servers');
    await expectVisible(pre, 'the exported JSON');
    const data = JSON.parse((await texts(pre))[0]);
    check(NAMES.every((n) => data.mcpServers && n in data.mcpServers), `the export: ${JSON.stringify(data)}`);
  });
});
