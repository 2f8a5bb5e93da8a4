// The search box over servers and tools: every word of the query must
// appear in a server's name, title, description or transport, or in one of
// its tools' names (the model's `{server}__{tool}` and the upstream's),
// title or description. The Servers view hides cards that do not match and
// narrows the tool lists; the box says how many match.

import { h, uid } from './dom.js';

const DEBOUNCE_MS = 120;

/** The words of a query, lowercased. */
export function terms(query) {
  return (query ?? '').toLowerCase().split(/\s+/).filter(Boolean);
}

const hay = (...parts) => parts.filter((p) => typeof p === 'string' && p).join(' ').toLowerCase();
const all = (words, text) => words.every((w) => text.includes(w));

/**
 * Whether server `s` matches `words`, and which of its loaded `tools` do.
 * `{ shown, tools }`: `tools` is null when every tool shows (no query, or
 * the server itself matches).
 */
export function matchOf(s, tools, words) {
  if (!words.length) return { shown: true, tools: null };
  const server = hay(s.name, s.title, s.description, s.transport);
  if (all(words, server)) return { shown: true, tools: null };
  const list = Array.isArray(tools) ? tools : [];
  const matching = list.filter((t) => all(words, `${server} ${hay(t.namespaced_name, t.name, t.title, t.annotations?.title, t.description)}`));
  return { shown: matching.length > 0, tools: matching };
}

export class SearchBox {
  /** `onChange(words)`: the query changed (debounced). */
  constructor(root, { onChange }) {
    const id = uid('search');
    const hintId = uid('search-hint');
    this.input = h('input', {
      id, type: 'search', autocomplete: 'off', spellcheck: 'false',
      'aria-describedby': hintId, 'data-testid': 'search', placeholder: 'Name, tool or description',
    });
    this.status = h('p', { class: 'search-status muted', id: hintId, role: 'status', 'data-testid': 'search-status' });
    root.replaceChildren(h('div', { class: 'search' },
      h('label', { for: id, text: 'Search servers and tools' }), this.input), this.status);
    let timer = null;
    this.input.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => onChange(terms(this.input.value)), DEBOUNCE_MS);
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.input.value) {
        this.input.value = '';
        clearTimeout(timer);
        onChange([]);
      }
    });
  }

  /** Says how many servers and tools match (nothing without a query). */
  count(words, servers, tools) {
    let text = '';
    if (words.length) {
      const query = words.join(' ');
      if (!servers) text = `No server or tool matches “${query}”.`;
      else {
        const s = `${servers} ${servers === 1 ? 'server' : 'servers'}`;
        const t = `${tools} ${tools === 1 ? 'tool' : 'tools'}`;
        text = `${s} and ${t} match “${query}”.`;
      }
    }
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  clear() {
    this.input.value = '';
    this.status.textContent = '';
  }
}
