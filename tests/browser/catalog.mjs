// Live catalog: a user's open page follows servers and categories the admin
// creates, renames, moves and deletes over REST, without a reload, through
// the `catalogChanged` subscription on /graphql/ws, and never hears of the
// admin's private server.
//
// Env: USER_KEY, USER_ID.
// Rendezvous: `signed-in` (the test creates a private and a public server;
// answer: {private_id, private_name, public_id, name, title}), `appeared` (it renames the
// public one; answer: {title}), `renamed` (it creates a category; answer:
// {category_id, category_name}), `category-empty` (it moves the server into
// the category), `grouped` (it deletes the server).
// Report: live_status, catalog_frames (catalogChanged frames received).

import {
  GATEWAY, run, step, env, newPage, requireBearer, shot, rendezvous, until, report,
  expectText, expectVisible, expectAbsent, signIn, card, check,
} from './lib.mjs';

const USER_KEY = env('USER_KEY');
const USER_ID = env('USER_ID');

await run(async () => {
  const page = await newPage('user');
  requireBearer(page, 'user', USER_KEY);
  /** catalogChanged frames received on /graphql/ws. */
  const frames = [];
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      const text = typeof payload === 'string' ? payload : payload.toString('utf8');
      if (ws.url().includes('/graphql/ws') && text.includes('catalogChanged')) frames.push(text);
    });
  });
  const group = (id) => page.locator(`[data-testid="category-group"][data-category-id="${id}"]`);
  const live = () => expectText(page.getByTestId('live-status'), 'Live', 'the live-status text');

  await step('the user signs in and the page is Live', async () => {
    await page.goto(GATEWAY + '/');
    await signIn(page, USER_KEY, `${USER_ID} · user`);
    await expectVisible(page.getByRole('heading', { level: 2, name: 'Servers', exact: true }), 'the h2 "Servers"');
    await live();
    // Gone after any reload or navigation.
    await page.evaluate(() => { window.__sameDocument = true; });
  });

  const created = await rendezvous('signed-in');

  await step('the admin\'s new public server appears without a reload; the private one does not', async () => {
    await expectVisible(page.getByRole('article', { name: created.title, exact: true }), `the card "${created.title}"`);
    await expectVisible(group('').locator(`[data-testid="server-card"][data-server="${created.name}"]`), 'the card in the "Uncategorized" group');
    await until('a catalogChanged frame naming the public server', 'one', async () => ({
      ok: frames.some((f) => f.includes(created.public_id)),
      seen: `${frames.length} frames`,
    }));
    check(!frames.some((f) => f.includes(created.private_id)), `the page heard of the admin's private server: ${JSON.stringify(frames)}`);
    await expectAbsent(page.locator(`[data-testid="server-card"][data-server="${created.private_name}"]`), 'a card for the private server');
    await shot(page, 'appeared');
  });

  const renamed = await rendezvous('appeared');

  await step('a rename shows the new title', async () => {
    await expectVisible(page.getByRole('article', { name: renamed.title, exact: true }), `the card "${renamed.title}"`);
    await expectAbsent(page.getByRole('article', { name: created.title, exact: true }), `the card "${created.title}"`);
  });

  const category = await rendezvous('renamed');

  await step('a new category without visible servers shows no group to a user', async () => {
    await until('a catalogChanged frame naming the category', 'one', async () => ({
      ok: frames.some((f) => f.includes(category.category_id)),
      seen: `${frames.length} frames`,
    }));
    await expectAbsent(group(category.category_id), 'the new category\'s group');
  });

  await rendezvous('category-empty');

  await step('the category shows up as a group once it holds the server', async () => {
    const section = group(category.category_id);
    await expectVisible(section, 'the new category\'s group');
    const heading = section.getByRole('heading', { level: 3 });
    await until('the group\'s h3', `its text to hold ${JSON.stringify(category.category_name)}`, async () => {
      const seen = (await heading.allTextContents()).join(' | ');
      return { ok: seen.includes(category.category_name), seen: JSON.stringify(seen) };
    });
    await expectVisible(section.locator(`[data-testid="server-card"][data-server="${created.name}"]`), 'the card inside the group');
    await expectAbsent(group('').locator(`[data-testid="server-card"][data-server="${created.name}"]`), 'the card in "Uncategorized"');
    await shot(page, 'grouped');
  });

  await rendezvous('grouped');

  await step('a delete removes the card (and the now empty group) without a reload', async () => {
    await expectAbsent(card(page, created.name), 'the deleted server\'s card');
    await expectAbsent(group(category.category_id), 'the emptied category\'s group');
    check(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    await live();
    report.live_status = (await page.getByTestId('live-status').textContent()).trim();
    report.catalog_frames = frames;
  });
});
