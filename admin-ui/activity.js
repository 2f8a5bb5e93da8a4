// The Activity section: audit events (the signed-in user's; an admin's
// view holds everyone's), newest first, filterable by server, tool,
// outcome, kind and (admins) user, with "Load more". New events arrive
// live through the `auditEventAdded` subscription (see live.js); while it
// is unavailable the first page is polled every 5 s.

import { api } from './api.js';
import { h, replace, uid } from './dom.js';
import { formatMs } from './tryit.js';

const POLL_MS = 5000;
const PAGE = 50;
const KINDS = ['tools/call', 'resources/read', 'prompts/get', 'completion/complete', 'tasks/call', 'connect', 'disconnect', 'oauth_authorization', 'catalog_change'];

/** An event from GraphQL (camelCase) in the REST shape (snake_case). */
export function fromLive(e) {
  return {
    id: e.id, at: e.at, kind: e.kind, user_id: e.userId, server: e.server, target: e.target,
    outcome: e.outcome, duration_ms: e.durationMs, surface: e.surface, client_name: e.clientName,
  };
}

export class ActivityPanel {
  constructor(el, model) {
    this.el = el;
    this.model = model;
    this.events = [];
    this.cursor = null;
    this.live = false;
    this.timer = null;
    this.loading = 0;
    this.build();
  }

  build() {
    const isAdmin = this.model.me?.role === 'admin';
    const text = (name, label, hint) => {
      const id = uid(`act-${name}`);
      return h('div', { class: 'field' }, h('label', { for: id, text: label }),
        h('input', { id, name, type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: hint }));
    };
    const kindId = uid('act-kind');
    this.form = h('form', { class: 'activity-filters', 'aria-label': 'Filter activity', novalidate: true },
      text('server', 'Server', 'any'),
      text('tool', 'Tool, URI or prompt', 'any'),
      text('outcome', 'Outcome', 'ok, error or a code'),
      h('div', { class: 'field' }, h('label', { for: kindId, text: 'Kind' }),
        h('select', { id: kindId, name: 'kind' }, h('option', { value: '', text: 'Any' }),
          KINDS.map((k) => h('option', { value: k, text: k })))),
      isAdmin ? text('user', 'User', 'anyone') : null,
      h('div', { class: 'activity-apply' }, h('button', { type: 'submit', class: 'btn small primary' }, 'Apply filters')));
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.refresh();
    });
    this.status = h('p', { class: 'muted activity-status', role: 'status', 'data-testid': 'activity-status' });
    this.body = h('tbody', {});
    const captionId = uid('act');
    this.table = h('div', { class: 'table-wrap' }, h('table', { class: 'data-table', 'aria-labelledby': captionId, 'data-testid': 'activity-table' },
      h('caption', { id: captionId, class: 'visually-hidden', text: 'Activity, newest first' }),
      h('thead', {}, h('tr', {}, ['Time', 'Kind', 'User', 'Server', 'Target', 'Outcome', 'Duration', 'Client']
        .map((t) => h('th', { scope: 'col', text: t })))),
      this.body));
    this.more = h('button', { type: 'button', class: 'btn small', hidden: true, onclick: () => this.loadMore() }, 'Load more');
    replace(this.el, this.form, this.status, this.table, this.more);
  }

  /** The filters as query parameters (empty ones left out). */
  filters() {
    const out = {};
    for (const name of ['server', 'tool', 'outcome', 'kind', 'user']) {
      const value = this.form.elements.namedItem(name)?.value?.trim();
      if (value) out[name] = value;
    }
    return out;
  }

  /** Whether a live event passes the filters. */
  admits(e) {
    const f = this.filters();
    const me = this.model.me;
    if (me?.role !== 'admin' && e.user_id && e.user_id !== me?.user_id) return false;
    return (!f.server || e.server === f.server)
      && (!f.tool || e.target === f.tool)
      && (!f.outcome || e.outcome === f.outcome || (f.outcome === 'error' && e.outcome !== 'ok'))
      && (!f.kind || e.kind === f.kind)
      && (!f.user || e.user_id === f.user);
  }

  /** Reloads the first page. */
  async refresh() {
    const mine = ++this.loading;
    try {
      const page = await api.audit({ ...this.filters(), limit: PAGE });
      if (mine !== this.loading) return;
      this.events = page?.items ?? [];
      this.cursor = page?.next_cursor ?? null;
      this.draw();
    } catch (error) {
      if (error.status === 401 || mine !== this.loading) return;
      this.status.textContent = `Could not load activity: ${error.message}`;
    }
  }

  async loadMore() {
    if (!this.cursor) return;
    try {
      const page = await api.audit({ ...this.filters(), limit: PAGE, cursor: this.cursor });
      const known = new Set(this.events.map((e) => e.id));
      this.events.push(...(page?.items ?? []).filter((e) => !known.has(e.id)));
      this.cursor = page?.next_cursor ?? null;
      this.draw();
    } catch (error) {
      if (error.status !== 401) this.status.textContent = `Could not load more: ${error.message}`;
    }
  }

  /** One event from the live subscription. */
  add(event) {
    const e = fromLive(event);
    if (!this.admits(e) || this.events.some((x) => x.id === e.id)) return;
    this.events.unshift(e);
    this.draw();
  }

  /** `live`: the subscription runs; otherwise poll. */
  setLive(live) {
    this.live = live;
    clearInterval(this.timer);
    this.timer = live ? null : setInterval(() => this.refresh(), POLL_MS);
    this.say();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.loading += 1;
  }

  say() {
    const n = this.events.length;
    const count = n ? `${n}${this.cursor ? '+' : ''} ${n === 1 ? 'event' : 'events'}` : 'No activity yet';
    const text = `${count} · ${this.live ? 'live' : 'updated every 5 s'}`;
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  draw() {
    replace(this.body, this.events.map((e) => h('tr', {
      'data-testid': 'activity-row', 'data-kind': e.kind, 'data-outcome': e.outcome ?? '', 'data-target': e.target ?? '',
    },
    h('td', {}, h('time', { datetime: e.at, text: new Date(e.at).toLocaleTimeString() })),
    h('td', {}, h('code', { text: e.kind })),
    h('td', { text: e.user_id ?? '' }),
    h('td', { text: e.server ?? '' }),
    h('td', {}, e.target ? h('code', { text: e.target }) : ''),
    h('td', {}, h('span', { class: `tag ${e.outcome === 'ok' ? 'ok' : 'warn'}`, text: e.outcome ?? '' })),
    h('td', { text: typeof e.duration_ms === 'number' ? formatMs(e.duration_ms) : '' }),
    h('td', { text: e.client_name ?? '' }))));
    this.table.hidden = !this.events.length;
    this.more.hidden = !this.cursor;
    this.say();
  }
}
