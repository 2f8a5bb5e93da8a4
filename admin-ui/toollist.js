// A server card's tool list: each tool by the name models see
// (`{server}__{tool}`) with its upstream name, title, annotation badges,
// description, "Shown to models" toggle, input schema and "Try it".

import { h, replace, uid } from './dom.js';

/** The badges of a tool's MCP annotations: [text, hint name, value, warn?]. */
export function annotationBadges(annotations) {
  const a = annotations && typeof annotations === 'object' ? annotations : {};
  const out = [];
  const add = (key, yes, no, warnWhen) => {
    if (typeof a[key] !== 'boolean') return;
    out.push({ text: a[key] ? yes : no, hint: `${key}: ${a[key]}`, warn: a[key] === warnWhen });
  };
  add('readOnlyHint', 'Read-only', 'Writes', null);
  add('destructiveHint', 'Destructive', 'Not destructive', true);
  add('idempotentHint', 'Idempotent', 'Not idempotent', null);
  add('openWorldHint', 'Open world', 'Closed world', null);
  return out;
}

/**
 * Draws `tools` (the loaded list, `'loading'`, or an Error) into `el`.
 * `shownOnly`: the tools to show (a search narrows the list), or null for
 * all; `setShown(name, shown)`: the toggle; `tryit`: the Try it panels.
 */
export function renderTools(el, tools, { setShown, tryit, shownOnly = null }) {
  if (tools === undefined || tools === 'loading') {
    drawn.delete(el);
    replace(el, h('p', { class: 'muted', role: 'status', text: 'Loading tools…' }));
    return;
  }
  if (tools instanceof Error) {
    drawn.delete(el);
    replace(el, h('p', { class: 'inline-error', role: 'alert', text: tools.message }));
    return;
  }
  const list = shownOnly ? tools.filter((t) => shownOnly.includes(t)) : tools;
  // An update with the same tools leaves the list (and what the reader
  // opened in it) alone; a changed list keeps the opened schemas open and
  // puts the same Try it panels back.
  const signature = JSON.stringify(list) + (shownOnly ? `/${tools.length}` : '');
  if (drawn.get(el) === signature) return;
  const opened = new Set([...el.querySelectorAll('details[open]')]
    .map((d) => d.closest('[data-tool]')?.getAttribute('data-tool')));
  const ul = h('ul', { class: 'tool-list', 'data-testid': 'tool-list' });
  for (const tool of list) {
    const schema = h('details', {},
      h('summary', {}, 'Input schema'),
      h('pre', { class: 'schema', tabindex: '0', text: JSON.stringify(tool.input_schema ?? {}, null, 2) }));
    schema.open = opened.has(tool.name);
    const toggleId = uid('shown');
    const toggle = h('input', {
      type: 'checkbox', id: toggleId, 'data-testid': 'tool-shown',
      onchange: (event) => setShown(tool.name, event.target.checked),
    });
    toggle.checked = !tool.hidden;
    const exposed = tool.namespaced_name || `${tool.server}__${tool.name}`;
    const title = tool.title || tool.annotations?.title;
    const badges = annotationBadges(tool.annotations);
    const [tryToggle, tryPanel] = tryit.controls({ ...tool, namespaced_name: exposed });
    ul.append(h('li', { class: `tool${tool.hidden ? ' hidden-tool' : ''}`, 'data-testid': 'tool', 'data-tool': tool.name, 'data-exposed': exposed },
      h('div', { class: 'tool-head' },
        h('code', { class: 'tool-name', title: 'The name models see', text: exposed }),
        title ? h('span', { class: 'tool-title', text: title }) : null),
      h('p', { class: 'tool-upstream muted' }, 'Upstream name ', h('code', { text: tool.name })),
      badges.length ? h('ul', { class: 'hints', 'aria-label': 'Annotations', 'data-testid': 'tool-hints' },
        badges.map((b) => h('li', { class: `hint-badge${b.warn ? ' warn' : ''}`, title: b.hint, text: b.text }))) : null,
      tool.description ? h('p', { class: 'tool-desc', text: tool.description }) : null,
      h('div', { class: 'tool-shown' }, toggle,
        h('label', { for: toggleId, text: 'Shown to models in my session' })),
      schema,
      h('div', { class: 'tool-actions' }, tryToggle),
      tryPanel));
  }
  if (!list.length) {
    ul.append(h('li', { class: 'muted', text: tools.length ? 'No tool of this server matches the search.' : 'This server offers no tools.' }));
  }
  replace(el, ul);
  drawn.set(el, signature);
}

/** Forgets what `el` was drawn from (its list was taken down). */
export function forgetTools(el) {
  drawn.delete(el);
}

/** The tools each open list was last drawn from (see `renderTools`). */
const drawn = new WeakMap();
