// The Toolsets section: the caller's visible toolsets (virtual servers at
// /mcp/t/{name}) with their entries and URL, a "New toolset" dialog whose
// entries are one `server tool [as name]` per line, and Delete.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { FieldError, confirmDelete, field, lines, openDialog, val } from './forms.js';

/** `server tool` or `server tool as name` per line, as toolset entries. */
export function parseEntries(text) {
  return lines(text).map((line) => {
    const words = line.split(/\s+/);
    if (words.length === 2) return { server: words[0], tool: words[1] };
    if (words.length === 4 && words[2] === 'as') return { server: words[0], tool: words[1], expose_as: words[3] };
    throw new FieldError('entries', `“${line}” is not “server tool” or “server tool as name”.`);
  });
}

export class ToolsetsPanel {
  constructor(el, model) {
    this.el = el;
    this.model = model;
  }

  async refresh() {
    try {
      const { items } = await api.toolsets();
      this.render(items);
    } catch (error) {
      if (error.status === 401) return;
      replace(this.el, h('p', { class: 'inline-error', role: 'alert', text: `Could not load toolsets: ${error.message}` }));
    }
  }

  render(toolsets) {
    if (!toolsets.length) {
      replace(this.el, h('p', { class: 'muted', text: 'No toolsets yet. A toolset serves chosen tools of several servers at one URL.' }));
      return;
    }
    const me = this.model.me;
    const cards = toolsets.map((t) => {
      const url = `${location.origin}/mcp/t/${t.name}`;
      const mayChange = me.role === 'admin' || (t.owner === me.user_id && !t.is_public);
      const entries = h('ul', { class: 'entry-list' }, t.entries.map((e) => h('li', {},
        h('code', { text: `${e.server} · ${e.tool}` }),
        e.expose_as ? h('span', { text: ` shown as ` }, h('code', { text: e.expose_as })) : null)));
      return h('article', { class: 'card toolset', 'data-testid': 'toolset-card', 'data-toolset': t.name },
        h('div', { class: 'card-head' },
          h('h4', { class: 'card-title', text: t.title || t.name }),
          h('span', { class: 'badge', text: `${t.entries.length} ${t.entries.length === 1 ? 'entry' : 'entries'}` })),
        h('p', { class: 'card-meta' },
          h('code', { class: 'name', text: t.name }),
          h('span', { class: `tag ${t.is_public ? 'public' : ''}`, text: t.is_public ? 'Public' : 'Private' }),
          t.exposure === 'search' ? h('span', { class: 'tag', text: 'Search' }) : null),
        t.description ? h('p', { class: 'card-desc', text: t.description }) : null,
        h('p', { class: 'toolset-url' }, 'MCP URL: ', h('code', { 'data-testid': 'toolset-url', text: url })),
        entries,
        mayChange ? h('div', { class: 'card-actions' },
          h('button', {
            type: 'button', class: 'btn small ghost danger',
            onclick: () => confirmDelete(t.name, `“${t.title || t.name}” and its URL go away for everyone using it.`, async () => {
              await api.deleteToolset(t.id);
              await this.refresh();
            }),
          }, 'Delete')) : null);
    });
    replace(this.el, h('div', { class: 'cards' }, cards));
  }

  /** The "New toolset" dialog. */
  open() {
    const isAdmin = this.model.me.role === 'admin';
    openDialog({
      title: 'New toolset',
      submitLabel: 'Create',
      fields: [
        field('name', 'Name', { required: true, placeholder: 'triage', hint: 'Lowercase letters, digits, “_” and “-”; the URL /mcp/t/{name}.' }),
        field('title', 'Title', { placeholder: 'Bug triage' }),
        field('description', 'Description', { kind: 'textarea', rows: 2, hint: 'Clients get it as the server’s instructions.' }),
        field('entries', 'Entries', {
          kind: 'textarea', rows: 4, placeholder: 'github search_issues\ngithub create_issue as file_bug\nsentry get_*',
          hint: 'One “server tool” per line; a tool may be a glob (get_*); “as name” renames it.',
        }),
        field('exposure', 'Exposure', { kind: 'select', options: [['all', 'All tools'], ['search', 'Search (two tools)']], value: 'all' }),
        isAdmin ? field('is_public', 'Public', { kind: 'checkbox', hint: 'Visible to every user.' }) : null,
      ].filter(Boolean),
      submit: async (form) => {
        const body = {
          name: String(val(form, 'name') ?? '').trim(),
          title: String(val(form, 'title') ?? '').trim() || null,
          description: String(val(form, 'description') ?? '').trim(),
          exposure: val(form, 'exposure'),
          entries: parseEntries(val(form, 'entries')),
        };
        if (!body.name) throw new FieldError('name', 'Give the toolset a name.');
        if (!body.title) delete body.title;
        if (isAdmin) body.is_public = val(form, 'is_public');
        await api.createToolset(body);
        await this.refresh();
      },
    });
  }
}
