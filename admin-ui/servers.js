// The Servers view: category groups and server cards, updated in place so
// focus and open tool lists survive live updates.

import { h, replace, setVar, uid } from './dom.js';
import { matchOf } from './search.js';
import { forgetTools, renderTools } from './toollist.js';

/** The badge state of a server: [data-status, text]; `tools`: its loaded tool list, if any. */
export function badgeOf(s, busy, tools) {
  if (busy === 'connect') return ['busy', 'Connecting…'];
  if (busy === 'disconnect') return ['busy', 'Disconnecting…'];
  if (s.status === 'CONNECTED') {
    const n = s.tool_count ?? 0;
    const hidden = Array.isArray(tools) ? tools.filter((t) => t.hidden).length : 0;
    if (hidden) return ['connected', `Connected · ${n - hidden} of ${n} tools shown`];
    return ['connected', `Connected · ${n} ${n === 1 ? 'tool' : 'tools'}`];
  }
  if (s.status === 'RECONNECTING') {
    const left = s.retry_at ? Math.ceil((Date.parse(s.retry_at) - Date.now()) / 1000) : NaN;
    return ['reconnecting', left > 0 ? `Reconnecting · retry in ${left} s` : 'Reconnecting…'];
  }
  if (s.oauth === 'required') return ['needs-authorization', 'Needs authorization'];
  if (s.status === 'FAILED') return ['failed', `Failed: ${s.last_error || 'unknown error'}`];
  return ['disconnected', 'Disconnected'];
}

const TRANSPORTS = {
  streamable_http: 'Streamable HTTP',
  sse: 'SSE',
  websocket: 'WebSocket',
  stdio: 'stdio',
};

/** The link's health for a card: protocol, last answered call, reconnects, a broken link's error. */
export function healthOf(s) {
  const parts = [];
  if (s.protocol_version) parts.push(`MCP ${s.protocol_version}`);
  if (s.last_call_at) parts.push(`last call ${new Date(s.last_call_at).toLocaleTimeString()}`);
  if (s.reconnects) parts.push(`${s.reconnects} ${s.reconnects === 1 ? 'reconnect' : 'reconnects'}`);
  if (s.status === 'RECONNECTING' && s.last_error) parts.push(`last error: ${s.last_error}`);
  return parts.join(' · ');
}

/** Whether `me` may edit or delete server `s`. */
export function mayChange(me, s) {
  return me.role === 'admin' || (me.auth !== 'anonymous' && s.owner === me.user_id);
}

export class ServersView {
  /** `model`: shared page state; `actions`: callbacks named like the buttons. */
  constructor(root, model, actions) {
    this.root = root;
    this.model = model;
    this.actions = actions;
    this.cards = new Map();
    this.groups = new Map();
  }

  /** Rebuilds the grouping (reusing elements) and refreshes every card. */
  render() {
    const { model } = this;
    const isAdmin = model.me?.role === 'admin';
    const byCategory = new Map([['', []]]);
    for (const c of model.categories) byCategory.set(c.id, []);
    for (const s of model.servers.values()) {
      const key = byCategory.has(s.category_id ?? '') ? (s.category_id ?? '') : '';
      byCategory.get(key).push(s);
    }
    const sections = [];
    const seen = new Set();
    const entries = [...model.categories.map((c) => [c.id, c]), ['', null]];
    const words = model.search ?? [];
    let matchedServers = 0;
    let matchedTools = 0;
    for (const [id, category] of entries) {
      const servers = byCategory.get(id).sort(byTitle);
      if (!servers.length && !(category && isAdmin)) continue;
      const group = this.group(id, category);
      let shown = 0;
      const cards = servers.map((s) => {
        seen.add(s.id);
        const card = this.card(s);
        if (!card.hidden) {
          shown += 1;
          const tools = model.tools.get(s.id);
          matchedTools += card.matching ? card.matching.length : (Array.isArray(tools) ? tools.length : 0);
        }
        return card;
      });
      matchedServers += shown;
      const body = group.querySelector('.cards');
      const empty = cards.length ? [] : [h('p', { class: 'muted', text: 'No servers in this category yet.' })];
      syncChildren(body, cards.length ? cards : empty);
      // A search hides groups left without a matching card.
      group.hidden = words.length > 0 && shown === 0;
      sections.push(group);
    }
    this.actions.searchCounted?.(words, matchedServers, matchedTools);
    for (const id of [...this.cards.keys()]) if (!seen.has(id)) this.cards.delete(id);
    for (const id of [...this.groups.keys()]) {
      if (!sections.some((g) => g.dataset.categoryId === id)) this.groups.delete(id);
    }
    if (!sections.length) {
      sections.push(h('p', { class: 'empty' , text: model.me?.auth === 'anonymous'
        ? 'No public servers are available.'
        : 'No servers yet. Add one with “New server”.' }));
    }
    syncChildren(this.root, sections);
  }

  group(id, category) {
    let section = this.groups.get(id);
    if (!section) {
      const headingId = uid('cat');
      section = h('section', {
        class: 'group',
        'data-testid': 'category-group',
        'data-category-id': id,
        'aria-labelledby': headingId,
      },
      h('div', { class: 'group-head' },
        h('h3', { id: headingId, class: 'group-title' }),
        h('div', { class: 'group-actions' })),
      h('p', { class: 'group-desc muted', hidden: true }),
      h('div', { class: 'cards' }));
      this.groups.set(id, section);
    }
    const title = section.querySelector('.group-title');
    const icon = category?.icon ? iconNode(category.icon) : null;
    replace(title, icon, h('span', { text: category ? category.name : 'Uncategorized' }));
    setVar(section, '--category-color', category?.color || '');
    section.classList.toggle('has-color', Boolean(category?.color));
    const desc = section.querySelector('.group-desc');
    desc.textContent = category?.description ?? '';
    desc.hidden = !category?.description;
    const actions = section.querySelector('.group-actions');
    const manage = Boolean(category) && this.model.me?.role === 'admin';
    if (manage && !actions.childElementCount) {
      actions.append(
        h('button', { type: 'button', class: 'btn small', onclick: () => this.actions.editCategory(id) }, 'Edit category'),
        h('button', { type: 'button', class: 'btn small danger', onclick: () => this.actions.deleteCategory(id) }, 'Delete category'));
    } else if (!manage) {
      actions.replaceChildren();
    }
    return section;
  }

  card(s) {
    let card = this.cards.get(s.id);
    if (!card) {
      card = this.buildCard(s.id);
      this.cards.set(s.id, card);
    }
    this.fill(card, s);
    return card;
  }

  buildCard(id) {
    const titleId = uid('srv');
    const toolsId = uid('tools');
    const button = (label, action, cls = '') => h('button', {
      type: 'button',
      class: `btn small ${cls}`.trim(),
      'data-action': action,
      onclick: () => this.actions[action](id),
    }, label);
    return h('article', { class: 'card', 'data-testid': 'server-card', 'aria-labelledby': titleId },
      h('div', { class: 'card-head' },
        h('h4', { id: titleId, class: 'card-title' }),
        h('span', { class: 'badge', 'data-testid': 'status-badge', 'aria-live': 'polite' })),
      h('p', { class: 'card-meta' }),
      h('p', { class: 'card-desc' }),
      h('p', { class: 'card-health muted', 'data-testid': 'link-health', hidden: true }),
      h('details', { class: 'card-failure', 'data-testid': 'failure-details', hidden: true },
        h('summary', {}, 'Show full error'),
        h('pre', { class: 'failure-text', tabindex: '0' })),
      h('p', { class: 'card-matches', 'data-testid': 'search-matches', hidden: true }),
      h('div', { class: 'card-error', role: 'alert', hidden: true }),
      h('p', { class: 'card-note', role: 'status' }),
      h('div', { class: 'card-actions' },
        button('Connect', 'connect', 'primary'),
        button('Disconnect', 'disconnect'),
        button('Authorize', 'authorize', 'primary'),
        h('button', {
          type: 'button', class: 'btn small', 'data-action': 'tools',
          'aria-expanded': 'false', 'aria-controls': toolsId,
          onclick: () => this.actions.toggleTools(id),
        }, 'Tools'),
        button('Forget authorization', 'forgetAuthorization', 'ghost'),
        h('span', { class: 'spacer' }),
        button('Edit', 'editServer', 'ghost'),
        button('Delete', 'deleteServer', 'ghost danger')),
      h('div', { class: 'tools', id: toolsId, hidden: true }));
  }

  /** Forgets every element (after sign-out). */
  reset() {
    this.cards.clear();
    this.groups.clear();
    this.root.replaceChildren();
  }

  /** Focuses the first usable action of a card. */
  focusActions(id) {
    const card = this.cards.get(id);
    const next = card && [...card.querySelectorAll('.card-actions button')].find((b) => !b.hidden && !b.disabled);
    next?.focus();
  }

  /** Refreshes one card from the model (no-op for unknown ids). */
  update(id) {
    const card = this.cards.get(id);
    const s = this.model.servers.get(id);
    if (card && s) this.fill(card, s);
  }

  fill(card, s) {
    const { model } = this;
    const busy = model.busy.get(s.id);
    const [status, text] = badgeOf(s, busy, model.tools.get(s.id));
    card.dataset.server = s.name;
    card.querySelector('.card-title').textContent = s.title || s.name;
    const badge = card.querySelector('.badge');
    badge.dataset.status = status;
    if (badge.textContent !== text) badge.textContent = text;
    badge.title = text;
    replace(card.querySelector('.card-meta'),
      h('code', { class: 'name', text: s.name }),
      h('span', { class: 'tag', title: TRANSPORTS[s.transport] ?? s.transport, text: s.transport }),
      h('span', { class: `tag ${s.is_public ? 'public' : ''}`, text: s.is_public ? 'Public' : 'Private' }),
      s.enabled === false ? h('span', { class: 'tag warn', text: 'Disabled' }) : null,
      s.requires_oauth2 ? h('span', { class: 'tag', text: 'OAuth' }) : null);
    const desc = card.querySelector('.card-desc');
    desc.textContent = s.description || '';
    desc.hidden = !s.description;
    const health = card.querySelector('.card-health');
    const healthText = healthOf(s);
    if (health.textContent !== healthText) health.textContent = healthText;
    health.hidden = !healthText;
    // The badge clamps a long failure to three lines: the whole text is here.
    const failure = card.querySelector('.card-failure');
    const failureText = s.status === 'FAILED' && s.oauth !== 'required' ? (s.last_error || '') : '';
    const pre = failure.querySelector('pre');
    if (pre.textContent !== failureText) pre.textContent = failureText;
    failure.hidden = !failureText;
    if (!failureText) failure.open = false;
    const { shown: matches, tools: matching } = matchOf(s, model.tools.get(s.id), model.search ?? []);
    card.hidden = !matches;
    card.matching = matching;
    const matchLine = card.querySelector('.card-matches');
    if (matching?.length) {
      replace(matchLine, `Matching ${matching.length === 1 ? 'tool' : 'tools'}: `,
        matching.map((t, i) => [i ? ', ' : '', h('code', { text: t.namespaced_name || t.name })]));
    }
    matchLine.hidden = !matching?.length;
    const error = card.querySelector('.card-error');
    const message = model.errors.get(s.id) ?? '';
    if (error.textContent !== message) error.textContent = message;
    error.hidden = !message;
    const note = card.querySelector('.card-note');
    const noteText = model.notes.get(s.id) ?? '';
    if (note.textContent !== noteText) note.textContent = noteText;

    const focused = card.contains(document.activeElement) ? document.activeElement : null;
    const canChange = mayChange(model.me, s);
    const show = {
      connect: status === 'disconnected' || status === 'failed' || busy === 'connect',
      disconnect: status === 'connected' || status === 'reconnecting' || busy === 'disconnect',
      authorize: status === 'needs-authorization' || busy === 'authorize',
      tools: status === 'connected',
      forgetAuthorization: s.oauth === 'authorized' && !busy,
      editServer: canChange,
      deleteServer: canChange,
    };
    for (const btn of card.querySelectorAll('.card-actions button')) {
      const action = btn.dataset.action;
      btn.hidden = !show[action];
      btn.disabled = Boolean(busy) && ['connect', 'disconnect', 'authorize'].includes(action);
    }
    const toolsButton = card.querySelector('[data-action="tools"]');
    const open = model.openTools.has(s.id) && status === 'connected';
    toolsButton.setAttribute('aria-expanded', String(open));
    const tools = card.querySelector('.tools');
    tools.hidden = !open;
    card.classList.toggle('expanded', open);
    if (open) {
      renderTools(tools, model.tools.get(s.id), {
        setShown: (name, shown) => this.actions.setToolShown(s.id, name, shown),
        tryit: this.actions.tryit,
        shownOnly: matching,
      });
    } else {
      tools.replaceChildren();
      forgetTools(tools);
    }
    if (focused && (focused.hidden || focused.disabled) && !busy) {
      const next = [...card.querySelectorAll('.card-actions button')].find((b) => !b.hidden && !b.disabled);
      next?.focus();
    }
  }
}

/** A category icon: same-origin images (the CSP allows no others) or text. */
function iconNode(icon) {
  if (/^https?:\/\//i.test(icon)) {
    try {
      const url = new URL(icon);
      if (url.origin === location.origin) {
        return h('img', { class: 'cat-icon', src: url.href, alt: '', width: '20', height: '20' });
      }
    } catch {
      // fall through to the generic glyph
    }
    return h('span', { class: 'cat-icon', 'aria-hidden': 'true', text: '◆' });
  }
  return h('span', { class: 'cat-icon', 'aria-hidden': 'true', text: icon });
}

function byTitle(a, b) {
  return (a.title || a.name).localeCompare(b.title || b.name, undefined, { sensitivity: 'base' });
}

/** Makes `el`'s children exactly `nodes`, moving as little as possible. */
function syncChildren(el, nodes) {
  const current = [...el.children];
  if (current.length === nodes.length && current.every((c, i) => c === nodes[i])) return;
  el.replaceChildren(...nodes);
}
