// The Keys section: the API keys the signed-in user may see (admins: all),
// "New key" (admins pick the user and role) whose secret is shown once with
// a copy button, and Revoke.

import { api } from './api.js';
import { h, replace, uid } from './dom.js';
import { FieldError, field, openDialog, val } from './forms.js';
import { copyText } from './snippets.js';

const when = (at) => (at ? new Date(at).toLocaleString() : '—');

export class KeysPanel {
  constructor(el, model) {
    this.el = el;
    this.model = model;
  }

  async refresh() {
    try {
      const page = await api.keys();
      this.render(page?.items ?? []);
    } catch (error) {
      if (error.status === 401) return;
      replace(this.el, h('p', { class: 'inline-error', role: 'alert', text: `Could not load keys: ${error.message}` }));
    }
  }

  render(keys) {
    if (!keys.length) {
      replace(this.el, h('p', { class: 'muted', text: 'No API keys yet.' }));
      return;
    }
    const isAdmin = this.model.me?.role === 'admin';
    const captionId = uid('keys');
    const rows = keys.map((k) => {
      const label = k.name || k.prefix;
      return h('tr', { 'data-testid': 'key-row', 'data-key-id': k.id, 'data-key-name': k.name ?? '' },
        h('th', { scope: 'row' }, h('span', { class: 'key-name', text: k.name || '(unnamed)' })),
        h('td', {}, h('code', { text: `${k.prefix}…` })),
        isAdmin ? h('td', { text: k.user_id }) : null,
        h('td', { text: k.role }),
        h('td', { text: when(k.created_at) }),
        h('td', { text: k.last_used_at ? when(k.last_used_at) : 'Never' }),
        h('td', { 'data-testid': 'key-state' }, k.revoked_at ? h('span', { class: 'tag warn', text: `Revoked ${when(k.revoked_at)}` }) : h('span', { class: 'tag', text: 'Active' })),
        h('td', {}, k.revoked_at ? null : h('button', {
          type: 'button', class: 'btn small ghost danger', 'aria-label': `Revoke ${label}`,
          onclick: () => openDialog({
            title: `Revoke ${label}?`,
            intro: 'Every client using this key is refused from now on, on every replica.',
            submitLabel: 'Revoke',
            danger: true,
            submit: async () => {
              await api.revokeKey(k.id);
              await this.refresh();
            },
          }),
        }, 'Revoke')));
    });
    replace(this.el, h('div', { class: 'table-wrap' }, h('table', { class: 'data-table', 'aria-labelledby': captionId },
      h('caption', { id: captionId, class: 'visually-hidden', text: 'API keys' }),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', text: 'Name' }), h('th', { scope: 'col', text: 'Prefix' }),
        isAdmin ? h('th', { scope: 'col', text: 'User' }) : null,
        h('th', { scope: 'col', text: 'Role' }), h('th', { scope: 'col', text: 'Created' }),
        h('th', { scope: 'col', text: 'Last used' }), h('th', { scope: 'col', text: 'State' }),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: 'Actions' })))),
      h('tbody', {}, rows))));
  }

  /** The "New key" dialog, then the one-time display of the key. */
  open() {
    const isAdmin = this.model.me?.role === 'admin';
    openDialog({
      title: 'New API key',
      submitLabel: 'Create key',
      fields: [
        field('name', 'Name', { placeholder: 'laptop', hint: 'Says where the key is used; shown in the list.' }),
        isAdmin ? field('user_id', 'User', { placeholder: this.model.me.user_id, hint: 'Who the key signs in as; empty: you.' }) : null,
        isAdmin ? field('role', 'Role', { kind: 'select', options: [['user', 'user'], ['admin', 'admin']], value: 'user' }) : null,
      ].filter(Boolean),
      submit: async (form) => {
        const body = {};
        const name = String(val(form, 'name') ?? '').trim();
        if (name) body.name = name;
        if (isAdmin) {
          const user = String(val(form, 'user_id') ?? '').trim();
          if (user && /\s/.test(user)) throw new FieldError('user_id', 'A user id has no spaces.');
          if (user) body.user_id = user;
          body.role = val(form, 'role');
        }
        const created = await api.createKey(body);
        // After this dialog closed (and gave focus back), not on top of it.
        setTimeout(() => showOnce(created), 0);
        await this.refresh();
      },
    });
  }
}

/** The new key, shown once, with a copy button. */
function showOnce(created) {
  const id = uid('newkey');
  const status = h('span', { class: 'copy-status', role: 'status' });
  const input = h('input', { id, type: 'text', readonly: true, spellcheck: 'false', 'data-testid': 'new-key', class: 'secret-value' });
  input.value = created.key ?? '';
  const copy = h('button', { type: 'button', class: 'btn small', onclick: () => copyText(input, status) }, 'Copy key');
  openDialog({
    title: 'Key created',
    intro: 'Copy the key now: it will not be shown again. Anyone holding it acts as this user.',
    submitLabel: 'Done',
    fields: [h('div', { class: 'field' },
      h('label', { for: id, text: `Key for ${created.user_id} (${created.role})` }),
      h('div', { class: 'copy-row' }, input, copy, status))],
    submit: async () => {},
  });
  input.select();
}
