// Entry point: sign-in, page state, server actions and live updates.

import { api, configure } from './api.js';
import { h, replace } from './dom.js';
import { categoryDialog, serverDialog } from './editors.js';
import { closeAllDialogs, confirmDelete } from './forms.js';
import { LiveStatus } from './live.js';
import { ServersView } from './servers.js';
import { SnippetsPanel } from './snippets.js';
import { ToolsetsPanel } from './toolsets.js';
import { ActivityPanel } from './activity.js';
import { KeysPanel } from './keys.js';
import { SearchBox } from './search.js';
import { TransferPanel } from './transfer.js';
import { TryIt } from './tryit.js';

const TOKEN_KEY = 'manifold.token';
const EXPIRED = 'Your session has expired or the key was revoked';
// Catalog changes often come in bursts (a category, then its servers).
const CATALOG_DEBOUNCE_MS = 200;
const $ = (id) => document.getElementById(id);

const model = {
  me: null,
  token: null,
  categories: [],
  servers: new Map(),
  busy: new Map(),
  errors: new Map(),
  notes: new Map(),
  openTools: new Set(),
  tools: new Map(),
  eventAt: new Map(),
  search: [],
};

let live = null;
let activity = null;
let allToolsLoading = null;
let resyncTimer = null;
let generation = 0;
// Loads started / the newest load applied: an older load never overwrites a newer one.
let loadsStarted = 0;
let loadApplied = 0;

const actions = {
  connect: (id) => runConnection(id, 'connect'),
  disconnect: (id) => runConnection(id, 'disconnect'),
  authorize,
  forgetAuthorization,
  toggleTools,
  setToolShown,
  editServer,
  deleteServer,
  editCategory,
  deleteCategory,
  tryit: new TryIt({ token: () => model.token, onUnauthorized: () => signOut(EXPIRED) }),
  searchCounted: (words, servers, tools) => search.count(words, servers, tools),
};
const view = new ServersView($('servers'), model, actions);
const snippets = new SnippetsPanel($('snippets'));
const toolsets = new ToolsetsPanel($('toolsets'), model);
const keys = new KeysPanel($('keys'), model);
const search = new SearchBox($('search'), {
  onChange: (words) => {
    model.search = words;
    view.render();
    if (words.length) loadAllTools();
  },
});
const transfer = new TransferPanel($('transfer'), model, {
  connect: async (name) => {
    try {
      applyStatus(await api.connect(name));
      return { ok: true };
    } catch (error) {
      return { ok: false, message: error.message };
    } finally {
      scheduleReload(300);
    }
  },
  onCreated: () => reload(),
});

configure({
  token: () => model.token,
  onUnauthorized: () => signOut(EXPIRED),
  onRateLimited: (seconds) => rateLimited(seconds),
});

// ---- sign-in / sign-out -------------------------------------------------

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('token');
  const token = input.value.trim();
  if (!token) {
    showSignInError('Enter an API key or a JWT.');
    input.focus();
    return;
  }
  const button = $('signin-submit');
  button.disabled = true;
  try {
    const me = await api.me({ token, quiet401: true });
    sessionStorage.setItem(TOKEN_KEY, token);
    input.value = '';
    await start(token, me);
  } catch (error) {
    showSignInError(error.message);
    input.focus();
  } finally {
    button.disabled = false;
  }
});

$('signout').addEventListener('click', () => signOut());

function showSignInError(message) {
  const alert = $('signin-error');
  alert.textContent = message;
  alert.hidden = !message;
}

function signOut(message = '') {
  generation += 1;
  clearTimeout(resyncTimer);
  live?.stop();
  live = null;
  activity?.stop();
  activity = null;
  actions.tryit.reset();
  search.clear();
  model.search = [];
  sessionStorage.removeItem(TOKEN_KEY);
  closeAllDialogs();
  Object.assign(model, { me: null, token: null, categories: [] });
  for (const key of ['servers', 'busy', 'errors', 'notes', 'tools', 'eventAt']) model[key].clear();
  model.openTools.clear();
  view.reset();
  $('app').hidden = true;
  $('account').hidden = true;
  $('signin').hidden = false;
  showSignInError(message);
  $('token').focus();
}

async function start(token, me) {
  generation += 1;
  model.token = token;
  model.me = me;
  $('whoami').textContent = `${me.user_id} · ${me.role}`;
  $('new-category').hidden = me.role !== 'admin';
  $('new-server').hidden = me.auth === 'anonymous';
  $('new-toolset').hidden = me.auth === 'anonymous';
  for (const el of document.querySelectorAll('[data-signed-in]')) el.hidden = me.auth === 'anonymous';
  activity = me.auth === 'anonymous' ? null : new ActivityPanel($('activity'), model);
  $('signin').hidden = true;
  showSignInError('');
  $('account').hidden = false;
  $('app').hidden = false;
  $('servers').setAttribute('aria-busy', 'true');
  await Promise.all([reload(), toolsets.refresh(), activity?.refresh(), me.auth === 'anonymous' ? null : keys.refresh()]);
  $('servers').removeAttribute('aria-busy');
  $('main-heading').focus();
  live = new LiveStatus({
    token: () => model.token,
    onChange: applyChange,
    onCatalog: () => {
      scheduleReload(CATALOG_DEBOUNCE_MS);
      toolsets.refresh();
    },
    onResync: () => reload(),
    poll: () => reload(),
    onMode: (mode) => {
      const el = $('live-status');
      el.textContent = mode === 'live' ? 'Live' : 'Polling';
      el.dataset.mode = mode;
    },
    onRejected: () => api.me().catch(() => {}),
    extra: activity ? {
      activity: {
        query: 'subscription Activity { auditEventAdded { id at kind userId server target outcome durationMs surface clientName } }',
        next: (data) => data.auditEventAdded && activity?.add(data.auditEventAdded),
        up: (up) => activity?.setLive(up),
      },
    } : {},
  });
  activity?.setLive(false);
  live.start();
}

// ---- data -------------------------------------------------------------

/** Reloads categories, servers and this session's statuses. */
async function reload() {
  if (!model.token) return;
  const mine = generation;
  const load = ++loadsStarted;
  const startedAt = performance.now();
  let categories;
  let catalog;
  let statuses;
  try {
    [categories, catalog, statuses] = await Promise.all([
      api.categories().catch((e) => (e.status === 403 ? [] : Promise.reject(e))),
      api.servers().catch((e) => (e.status === 403 ? [] : Promise.reject(e))),
      api.sessionServers(),
    ]);
  } catch (error) {
    if (mine === generation && error.status !== 401) setNotice(`Could not load servers: ${error.message}`);
    return;
  }
  if (mine !== generation || load < loadApplied) return;
  loadApplied = load;
  setNotice('');
  model.categories = categories;
  const byId = new Map(catalog.map((s) => [s.id, s]));
  const next = new Map();
  for (const status of statuses) {
    const merged = { ...byId.get(status.id), ...status };
    const old = model.servers.get(status.id);
    if (old && (model.eventAt.get(status.id) ?? 0) > startedAt) {
      // A live change arrived after this load started: it is newer.
      for (const key of ['status', 'tool_count', 'connected_at', 'last_error', 'retry_at', 'reconnects', 'protocol_version', 'oauth']) merged[key] = old[key];
    }
    next.set(status.id, merged);
  }
  model.servers = next;
  view.render();
  if (model.search.length) loadAllTools();
  for (const id of model.openTools) if (next.get(id)?.status === 'CONNECTED' && !model.tools.has(id)) loadTools(id);
  snippets.refresh(connectedNames());
}

function scheduleReload(ms) {
  clearTimeout(resyncTimer);
  resyncTimer = setTimeout(() => reload(), ms);
}

function connectedNames() {
  return [...model.servers.values()].filter((s) => s.status === 'CONNECTED').map((s) => s.name);
}

/** One serverStatusChanged from the live connection. */
function applyChange(change) {
  const s = model.servers.get(change.id);
  if (!s) {
    scheduleReload(0);
    return;
  }
  const before = `${s.status}/${s.tool_count}`;
  model.eventAt.set(change.id, performance.now());
  Object.assign(s, {
    status: change.status,
    tool_count: change.toolCount,
    connected_at: change.connectedAt,
    last_error: change.lastError,
    retry_at: change.retryAt,
    reconnects: change.reconnects,
    protocol_version: change.protocolVersion,
    oauth: change.oauth ? change.oauth.toLowerCase() : undefined,
  });
  if (change.status === 'CONNECTED') {
    model.errors.delete(s.id);
    model.notes.delete(s.id);
  }
  if (before !== `${s.status}/${s.tool_count}`) model.tools.delete(s.id);
  if (model.openTools.has(s.id) && s.status === 'CONNECTED' && !model.tools.has(s.id)) loadTools(s.id);
  view.update(s.id);
  snippets.refresh(connectedNames());
}

function applyStatus(status) {
  const s = model.servers.get(status.id);
  if (!s) return;
  model.eventAt.set(status.id, performance.now());
  Object.assign(s, status);
  if (Array.isArray(status.tools)) model.tools.set(status.id, status.tools.map(toolOf(s.name)));
  delete s.tools;
}

const toolOf = (server) => (t) => ({
  server,
  name: t.name,
  description: t.description,
  input_schema: t.input_schema ?? t.inputSchema ?? {},
});

// ---- card actions -----------------------------------------------------

async function runConnection(id, kind) {
  if (model.busy.has(id)) return;
  const card = document.activeElement?.closest?.('[data-testid="server-card"]');
  model.busy.set(id, kind);
  model.errors.delete(id);
  model.notes.delete(id);
  view.update(id);
  try {
    const status = kind === 'connect' ? await api.connect(id) : await api.disconnect(id);
    applyStatus(status);
  } catch (error) {
    if (error.status === 401) return;
    const s = model.servers.get(id);
    if (error.code === 'oauth_required' && s) s.oauth = 'required';
    model.errors.set(id, error.message);
  } finally {
    model.busy.delete(id);
  }
  view.update(id);
  // Keep keyboard users on the card whose button they pressed.
  if (card && (document.activeElement === document.body || document.activeElement?.hidden)) view.focusActions(id);
  snippets.refresh(connectedNames());
  scheduleReload(300);
}

async function authorize(id) {
  if (model.busy.has(id)) return;
  model.busy.set(id, 'authorize');
  model.errors.delete(id);
  view.update(id);
  try {
    const { authorization_url: url } = await api.authorize(id);
    window.open(url, '_blank', 'noopener');
    model.notes.set(id, 'Finish the authorization in the new tab; this card updates when it connects.');
  } catch (error) {
    if (error.status !== 401) model.errors.set(id, error.message);
  } finally {
    model.busy.delete(id);
  }
  view.update(id);
}

async function forgetAuthorization(id) {
  model.errors.delete(id);
  model.notes.delete(id);
  try {
    await api.forgetAuthorization(id);
    const s = model.servers.get(id);
    if (s) s.oauth = 'required';
  } catch (error) {
    if (error.status !== 401) model.errors.set(id, error.message);
  }
  view.update(id);
  scheduleReload(0);
}

function toggleTools(id) {
  if (model.openTools.has(id)) {
    model.openTools.delete(id);
  } else {
    model.openTools.add(id);
    if (!model.tools.has(id) || model.tools.get(id) instanceof Error) loadTools(id);
  }
  view.update(id);
}

async function loadTools(id) {
  const s = model.servers.get(id);
  if (!s) return;
  model.tools.set(id, 'loading');
  view.update(id);
  try {
    const { tools } = await api.sessionTools();
    model.tools.set(id, tools.filter((t) => t.server === s.name));
  } catch (error) {
    model.tools.set(id, error);
  }
  view.update(id);
}

/**
 * Loads every connected server's tools at once (for the search) when one
 * of them has no loaded list.
 */
function loadAllTools() {
  const missing = [...model.servers.values()].some((s) => s.status === 'CONNECTED' && !Array.isArray(model.tools.get(s.id)));
  if (!missing || allToolsLoading) return;
  allToolsLoading = api.sessionTools().then(({ tools }) => {
    for (const s of model.servers.values()) {
      if (s.status === 'CONNECTED') model.tools.set(s.id, tools.filter((t) => t.server === s.name));
    }
    view.render();
  }).catch(() => {}).finally(() => {
    allToolsLoading = null;
  });
}

/**
 * Shows or hides one tool in the signed-in session's MCP views by putting
 * its `{server}__{tool}` name into (or out of) the session filter's deny
 * list; the list then reloads with everyone's `hidden` flags.
 */
async function setToolShown(id, tool, shown) {
  const s = model.servers.get(id);
  if (!s) return;
  const qualified = `${s.name}__${tool}`;
  model.errors.delete(id);
  model.notes.delete(id);
  try {
    const filter = await api.sessionToolFilter();
    const deny = filter.deny.filter((pattern) => pattern !== qualified);
    if (!shown) deny.push(qualified);
    await api.setSessionToolFilter({ allow: filter.allow, deny });
    const { tools } = await api.sessionTools();
    const mine = tools.filter((t) => t.server === s.name);
    model.tools.set(id, mine);
    if (shown && mine.find((t) => t.name === tool)?.hidden) {
      model.notes.set(id, `${qualified} stays hidden: a pattern of your tool filter still hides it.`);
    }
  } catch (error) {
    if (error.status !== 401) model.errors.set(id, error.message);
  }
  view.update(id);
}

async function editServer(id) {
  try {
    const server = await api.server(id);
    serverDialog(model, server, () => reload());
  } catch (error) {
    if (error.status !== 401) {
      model.errors.set(id, error.message);
      view.update(id);
    }
  }
}

function deleteServer(id) {
  const s = model.servers.get(id);
  if (!s) return;
  confirmDelete(s.name, `“${s.title || s.name}” is removed from the catalog and disconnected for everyone.`, async () => {
    await api.deleteServer(id);
    model.openTools.delete(id);
    await reload();
  });
}

function editCategory(id) {
  const category = model.categories.find((c) => c.id === id);
  if (category) categoryDialog(category, () => reload());
}

function deleteCategory(id) {
  const category = model.categories.find((c) => c.id === id);
  if (!category) return;
  confirmDelete(category.name, 'Its servers stay and become uncategorized.', async () => {
    await api.deleteCategory(id);
    await reload();
  });
}

// Live events are best effort (a replica's may be missed): refresh on return.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && model.me) reload();
});

$('new-category').addEventListener('click', () => categoryDialog(null, () => reload()));
$('new-server').addEventListener('click', () => serverDialog(model, null, () => reload()));
$('new-toolset').addEventListener('click', () => toolsets.open());
$('new-key').addEventListener('click', () => keys.open());

// ---- notices ------------------------------------------------------------

function setNotice(text) {
  const notice = $('notice');
  if (notice.dataset.kind === 'rate' && !text) return;
  notice.textContent = text;
  notice.hidden = !text;
  delete notice.dataset.kind;
}

let rateTimer = null;
function rateLimited(seconds) {
  const notice = $('notice');
  let left = seconds;
  const tick = () => {
    if (left <= 0) {
      clearInterval(rateTimer);
      delete notice.dataset.kind;
      notice.hidden = true;
      notice.textContent = '';
      return;
    }
    notice.dataset.kind = 'rate';
    replace(notice, h('span', { text: `Rate limited, retrying in ${left} s` }));
    notice.hidden = false;
    left -= 1;
  };
  clearInterval(rateTimer);
  tick();
  rateTimer = setInterval(tick, 1000);
}

// The "retry in N s" of a reconnecting server counts down between events.
setInterval(() => {
  for (const s of model.servers.values()) if (s.status === 'RECONNECTING') view.update(s.id);
}, 1000);

// ---- boot ---------------------------------------------------------------

async function boot() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    signOut();
    return;
  }
  try {
    const me = await api.me({ token, quiet401: true });
    await start(token, me);
  } catch (error) {
    signOut(error.status === 401 ? EXPIRED : error.message);
  }
}

boot();
