// The category and server editors built on forms.js.

import { api } from './api.js';
import { h, setVar } from './dom.js';
import { FieldError, field, lines, openDialog, pairs, val } from './forms.js';

/** "New category" (category null) or "Edit category". */
export function categoryDialog(category, onSaved) {
  const color = field('color', 'Color', {
    value: category?.color ?? '',
    placeholder: '#3b82f6',
    hint: '#RGB, #RRGGBB, rgb(r, g, b) or rgba(r, g, b, a). Shown as a stripe beside the group.',
  });
  const colorInput = color.querySelector('input');
  const picker = h('input', { type: 'color', class: 'swatch', 'aria-label': 'Choose from palette', tabindex: '-1' });
  const syncPicker = () => {
    if (/^#[0-9a-f]{6}$/i.test(colorInput.value.trim())) picker.value = colorInput.value.trim();
    setVar(picker, '--swatch', colorInput.value.trim());
  };
  picker.addEventListener('input', () => {
    colorInput.value = picker.value;
    syncPicker();
  });
  colorInput.addEventListener('input', syncPicker);
  colorInput.after(picker);
  syncPicker();

  openDialog({
    title: category ? 'Edit category' : 'New category',
    submitLabel: category ? 'Save' : 'Create',
    fields: [
      field('name', 'Name', { value: category?.name, required: true, hint: 'Up to 100 characters, unique.' }),
      field('icon', 'Icon', { value: category?.icon ?? '', placeholder: '🛠', hint: 'A short emoji or text.' }),
      color,
      field('description', 'Description', { kind: 'textarea', value: category?.description ?? '' }),
    ],
    async submit(form) {
      const text = (name) => val(form, name).trim();
      const body = {
        name: text('name'),
        icon: text('icon') || null,
        color: text('color') || null,
        description: text('description'),
      };
      if (!body.name) throw new FieldError('name', 'Give the category a name.');
      const saved = category
        ? await api.updateCategory(category.id, body)
        : await api.createCategory(body);
      await onSaved(saved);
    },
  });
}

const TRANSPORT_OPTIONS = [
  ['streamable_http', 'Streamable HTTP'],
  ['sse', 'SSE'],
  ['websocket', 'WebSocket'],
  ['stdio', 'stdio (local process)'],
];

/** "New server" (server null) or "Edit server"; `model` gives me and categories. */
export function serverDialog(model, server, onSaved) {
  const isAdmin = model.me.role === 'admin';
  const editing = Boolean(server);
  const transports = TRANSPORT_OPTIONS.filter(([v]) => v !== 'stdio' || isAdmin || server?.transport === 'stdio');
  const headerNames = Object.keys(server?.headers ?? {});
  const envNames = Object.keys(server?.env ?? {});
  const writeOnly = (names, what) => (names.length
    ? `Write-only. Stored: ${names.join(', ')}. Leave empty to keep them; filling it replaces every ${what}.`
    : 'Write-only: values are stored encrypted and never shown again.');

  const transport = field('transport', 'Transport', {
    kind: 'select', options: transports, value: server?.transport ?? 'streamable_http',
  });
  const network = [
    field('url', 'URL', {
      kind: 'url', value: server?.url ?? '', placeholder: 'https://mcp.example.com/mcp',
      hint: 'http(s) for Streamable HTTP and SSE, ws(s) for WebSocket.',
    }),
    field('headers', 'Headers', {
      kind: 'textarea', rows: 2, placeholder: editing && headerNames.length ? '(unchanged)' : 'Authorization: Bearer …',
      hint: `One “Name: value” per line. ${writeOnly(headerNames, 'header')}`,
    }),
  ];
  const local = [
    field('command', 'Command', { value: server?.command ?? '', placeholder: 'npx' }),
    field('args', 'Arguments', {
      kind: 'textarea', rows: 3, value: (server?.args ?? []).join('\n'), hint: 'One argument per line.',
    }),
    field('env', 'Environment', {
      kind: 'textarea', rows: 2, placeholder: editing && envNames.length ? '(unchanged)' : 'API_TOKEN=…',
      hint: `One NAME=value per line. ${writeOnly(envNames, 'variable')}`,
    }),
    field('cwd', 'Working directory', { value: server?.cwd ?? '' }),
  ];
  const categories = [['', 'None'], ...model.categories.map((c) => [c.id, c.name])];
  const oauth = [
    field('requires_oauth2', 'Requires OAuth', {
      kind: 'checkbox', value: server?.requires_oauth2,
      hint: 'Each user authorizes this server at its authorization server before connecting.',
    }),
    field('oauth_client_id', 'OAuth client ID', {
      value: server?.oauth_client_id ?? '', hint: 'Empty: the gateway registers itself (dynamic client registration).',
    }),
    field('oauth_client_secret', 'OAuth client secret', {
      kind: 'password', autocomplete: 'new-password',
      placeholder: server?.oauth_client_secret ? '(unchanged)' : '',
      hint: 'Write-only. Leave empty to keep the stored secret.',
    }),
    field('oauth_scopes', 'OAuth scopes', {
      value: (server?.oauth_scopes ?? []).join(' '), placeholder: 'read write', hint: 'Separated by spaces; empty: what the server advertises.',
    }),
  ];
  const fields = [
    h('div', { class: 'row' },
      field('name', 'Name', {
        value: server?.name, required: true, placeholder: 'github',
        hint: 'Lowercase letters, digits, “_” and “-”; the tool prefix.',
      }),
      field('title', 'Title', { value: server?.title ?? '', placeholder: 'GitHub' })),
    field('description', 'Description', { kind: 'textarea', rows: 2, value: server?.description ?? '' }),
    h('div', { class: 'row' },
      transport,
      field('category_id', 'Category', { kind: 'select', options: categories, value: server?.category_id ?? '' })),
    h('div', { class: 'group-network' }, network),
    h('div', { class: 'group-local' }, local),
    h('div', { class: 'checks' },
      isAdmin ? field('is_public', 'Public', { kind: 'checkbox', value: server?.is_public, hint: 'Visible to every user.' }) : null,
      field('fail_closed', 'Fail closed', {
        kind: 'checkbox', value: server?.fail_closed,
        hint: 'While it has failed, block tool calls through the combined /mcp endpoint.',
      }),
      field('enabled', 'Enabled', { kind: 'checkbox', value: server ? server.enabled : true })),
    h('fieldset', { class: 'tools' }, h('legend', { text: 'Tools sessions see' }),
      field('tool_filter.allow', 'Show only', {
        kind: 'textarea', rows: 2, value: (server?.tool_filter?.allow ?? []).join('\n'), placeholder: 'get_*',
        hint: 'One tool name or glob per line (* any text, ? one character). Empty: every tool.',
      }),
      field('tool_filter.deny', 'Hide', {
        kind: 'textarea', rows: 2, value: (server?.tool_filter?.deny ?? []).join('\n'), placeholder: 'delete_*',
        hint: 'Hidden from every session and not callable; wins over “Show only”.',
      })),
    h('fieldset', { class: 'oauth' }, h('legend', { text: 'OAuth' }), oauth),
  ];

  const dialog = openDialog({
    title: editing ? 'Edit server' : 'New server',
    submitLabel: editing ? 'Save' : 'Create',
    fields,
    async submit(form) {
      const body = serverBody(form, server, isAdmin);
      const saved = editing ? await api.updateServer(server.id, body) : await api.createServer(body);
      await onSaved(saved);
    },
  });
  const select = transport.querySelector('select');
  const sync = () => {
    const stdio = select.value === 'stdio';
    dialog.querySelector('.group-network').hidden = stdio;
    dialog.querySelector('.group-local').hidden = !stdio;
  };
  select.addEventListener('change', sync);
  sync();
}

/** The POST/PATCH body from the form; write-only fields only when filled. */
function serverBody(form, server, isAdmin) {
  const text = (name) => String(val(form, name) ?? '').trim();
  const transport = text('transport');
  const stdio = transport === 'stdio';
  const body = {
    name: text('name'),
    title: text('title') || (server ? text('name') : null),
    description: text('description'),
    transport,
    category_id: text('category_id') || null,
    fail_closed: val(form, 'fail_closed'),
    enabled: val(form, 'enabled'),
    requires_oauth2: val(form, 'requires_oauth2'),
    oauth_client_id: text('oauth_client_id') || null,
    oauth_scopes: text('oauth_scopes').split(/\s+/).filter(Boolean),
    tool_filter: { allow: lines(val(form, 'tool_filter.allow')), deny: lines(val(form, 'tool_filter.deny')) },
  };
  if (!body.name) throw new FieldError('name', 'Give the server a name.');
  if (!body.title) delete body.title;
  if (isAdmin) body.is_public = val(form, 'is_public');
  const secret = String(val(form, 'oauth_client_secret') ?? '');
  if (secret) body.oauth_client_secret = secret;
  if (stdio) {
    body.command = text('command') || null;
    body.args = lines(val(form, 'args'));
    body.cwd = text('cwd') || null;
    if (text('env')) body.env = pairs('env', val(form, 'env'), '=');
    if (server && server.transport !== 'stdio') body.url = null;
  } else {
    body.url = text('url') || null;
    if (text('headers')) body.headers = pairs('headers', val(form, 'headers'), ':');
    if (server?.command) {
      body.command = null;
      body.args = [];
    }
  }
  return body;
}
