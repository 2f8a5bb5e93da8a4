// The Import / export section. Import: paste a Claude Desktop / Cursor
// `{"mcpServers":{…}}` JSON, preview what the gateway would create (a dry
// run: each server's name, transport, errors and warnings), then create
// the servers and connect each one. Export: the visible catalog as the
// same JSON (secrets as `***`) or as Manifold's own, to copy or download.

import { api } from './api.js';
import { h, replace, uid } from './dom.js';
import { copyText } from './snippets.js';

const EXPORTS = [
  ['mcp_servers', 'mcpServers JSON', 'mcp-servers.json'],
  ['manifold', 'Manifold JSON', 'manifold-catalog.json'],
];

export class TransferPanel {
  /** `connect(name)`: connects a created server (the card action); `onCreated()`: reload the servers. */
  constructor(el, model, { connect, onCreated }) {
    this.el = el;
    this.model = model;
    this.connect = connect;
    this.onCreated = onCreated;
    this.parsed = null;
    this.build();
  }

  build() {
    const id = uid('import');
    const hintId = uid('import-hint');
    this.input = h('textarea', {
      id, rows: 8, spellcheck: 'false', class: 'json', 'aria-describedby': hintId, 'data-testid': 'import-json',
      placeholder: '{\n  "mcpServers": {\n    "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},\n    "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer …"}}\n  }\n}',
    });
    this.error = h('p', { class: 'inline-error', role: 'alert', hidden: true });
    this.preview = h('div', { class: 'import-preview', 'data-testid': 'import-preview' });
    this.status = h('p', { class: 'muted', role: 'status', 'data-testid': 'import-status' });
    this.createButton = h('button', { type: 'button', class: 'btn primary small', hidden: true, onclick: () => this.create() }, 'Create servers');
    const form = h('form', { class: 'import-form', novalidate: true, 'aria-labelledby': `${id}-h` },
      h('h3', { id: `${id}-h`, text: 'Import' }),
      h('div', { class: 'field' },
        h('label', { for: id, text: 'mcpServers JSON' }),
        this.input,
        h('p', { class: 'hint', id: hintId, text: 'As in a Claude Desktop or Cursor config: stdio servers have command, args and env (admins only); HTTP servers have url and optionally type or transport and headers.' })),
      this.error,
      h('div', { class: 'toolbar' }, h('button', { type: 'submit', class: 'btn small' }, 'Preview'), this.createButton),
      this.status, this.preview);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.dryRun();
    });
    this.exportOut = h('div', { class: 'export-out' });
    const exporter = h('div', { class: 'export' },
      h('h3', { text: 'Export' }),
      h('p', { class: 'muted', text: 'The servers you can see; secret values show as ***.' }),
      h('div', { class: 'toolbar' }, EXPORTS.map(([format, label]) => h('button', {
        type: 'button', class: 'btn small', onclick: () => this.exportAs(format),
      }, `Export ${label}`))),
      this.exportOut);
    replace(this.el, h('div', { class: 'transfer' }, form, exporter));
  }

  /** The pasted JSON, or null after showing why it is not usable. */
  read() {
    this.error.hidden = true;
    this.input.removeAttribute('aria-invalid');
    let body;
    try {
      body = JSON.parse(this.input.value);
    } catch (error) {
      return this.invalid(`This is not valid JSON: ${error.message}`);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return this.invalid('Paste a JSON object with an "mcpServers" object in it.');
    return body;
  }

  invalid(message) {
    this.error.textContent = message;
    this.error.hidden = false;
    this.input.setAttribute('aria-invalid', 'true');
    this.input.focus();
    return null;
  }

  async dryRun() {
    const body = this.read();
    this.createButton.hidden = true;
    this.parsed = null;
    if (!body) return;
    this.status.textContent = 'Checking…';
    try {
      const answer = await api.importServers(body, true);
      const servers = answer?.servers ?? [];
      const ok = servers.filter((s) => s.action === 'create').length;
      this.status.textContent = `${ok} of ${servers.length} ${servers.length === 1 ? 'server' : 'servers'} can be created.`;
      this.table(servers, false);
      this.parsed = body;
      this.createButton.hidden = ok === 0;
      this.createButton.textContent = `Create ${ok} ${ok === 1 ? 'server' : 'servers'}`;
    } catch (error) {
      this.status.textContent = '';
      replace(this.preview);
      if (error.status !== 401) this.invalid(error.message);
    }
  }

  async create() {
    if (!this.parsed) return;
    this.createButton.disabled = true;
    this.status.textContent = 'Creating…';
    try {
      const answer = await api.importServers(this.parsed, false);
      const servers = answer?.servers ?? [];
      const created = servers.filter((s) => s.action === 'create');
      this.createButton.hidden = true;
      this.parsed = null;
      this.table(servers, true);
      await this.onCreated();
      this.status.textContent = `Created ${answer?.created ?? created.length}; connecting…`;
      const results = await Promise.all(created.map(async (s) => {
        const outcome = await this.connect(s.name);
        this.mark(s.name, outcome);
        return outcome;
      }));
      const connected = results.filter((r) => r.ok).length;
      this.status.textContent = `Created ${created.length}; ${connected} of ${created.length} connected.`;
    } catch (error) {
      if (error.status !== 401) this.invalid(error.message);
      this.status.textContent = '';
    } finally {
      this.createButton.disabled = false;
    }
  }

  table(servers, done) {
    const captionId = uid('preview');
    const rows = servers.map((s) => h('tr', { 'data-testid': 'import-row', 'data-name': s.name ?? s.source_name },
      h('th', { scope: 'row' }, h('code', { text: s.name ?? '' }),
        s.source_name && s.source_name !== s.name ? h('span', { class: 'muted', text: ` (from “${s.source_name}”)` }) : null),
      h('td', { text: s.transport ?? '' }),
      h('td', { 'data-testid': 'import-action' }, s.action === 'create'
        ? h('span', { class: 'tag ok', text: done ? 'Created' : 'Will be created' })
        : h('span', { class: 'tag warn', text: 'Error' })),
      h('td', {},
        s.error ? h('p', { class: 'field-error' }, s.error.message, s.error.field ? h('span', {}, ' (', h('code', { text: s.error.field }), ')') : null) : null,
        (s.warnings ?? []).map((w) => h('p', { class: 'muted', text: typeof w === 'string' ? w : (w.message ?? JSON.stringify(w)) }))),
      h('td', { 'data-testid': 'import-connection' })));
    replace(this.preview, h('div', { class: 'table-wrap' }, h('table', { class: 'data-table', 'aria-labelledby': captionId },
      h('caption', { id: captionId, class: 'visually-hidden', text: done ? 'Imported servers' : 'Import preview' }),
      h('thead', {}, h('tr', {}, ['Name', 'Transport', 'Action', 'Notes', 'Connection'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows))));
  }

  /** Writes a created server's connect outcome into its row. */
  mark(name, outcome) {
    const row = [...this.preview.querySelectorAll('[data-testid="import-row"]')].find((r) => r.dataset.name === name);
    const cell = row?.querySelector('[data-testid="import-connection"]');
    if (cell) replace(cell, h('span', { class: `tag ${outcome.ok ? 'ok' : 'warn'}`, text: outcome.ok ? 'Connected' : `Failed: ${outcome.message}` }));
  }

  async exportAs(format) {
    const [, label, filename] = EXPORTS.find(([f]) => f === format);
    try {
      const data = await api.exportCatalog(format);
      const text = JSON.stringify(data, null, 2);
      const pre = h('pre', { class: 'snippet', tabindex: '0', 'data-testid': `export-${format}`, 'aria-label': label, text });
      const status = h('span', { class: 'copy-status', role: 'status' });
      if (this.url) URL.revokeObjectURL(this.url);
      const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
      this.url = url;
      replace(this.exportOut,
        h('div', { class: 'snippet-head' }, h('h4', { text: label }), status,
          h('button', { type: 'button', class: 'btn small', onclick: () => copyText(pre, status) }, 'Copy'),
          h('a', { class: 'btn small', href: url, download: filename }, 'Download')),
        pre);
    } catch (error) {
      if (error.status !== 401) replace(this.exportOut, h('p', { class: 'inline-error', role: 'alert', text: `Could not export: ${error.message}` }));
    }
  }
}
