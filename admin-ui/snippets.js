// The "Use it" panel: ready-to-paste client snippets with Copy buttons.

import { api } from './api.js';
import { h, replace } from './dom.js';

const PLACEHOLDER = '<YOUR_TOKEN>';

export function mcpJson(origin) {
  return JSON.stringify({
    mcpServers: {
      manifold: {
        type: 'http',
        url: `${origin}/mcp`,
        headers: { Authorization: `Bearer ${PLACEHOLDER}` },
      },
    },
  }, null, 2);
}

export function inspectorCommand(origin) {
  return `npx @modelcontextprotocol/inspector --cli ${origin}/mcp --transport http `
    + `--header "Authorization: Bearer ${PLACEHOLDER}" --method tools/list`;
}

export function langchainSnippet(connections) {
  const dict = JSON.stringify(connections ?? {}, null, 4).replace(/\n/g, '\n    ');
  const empty = Object.keys(connections ?? {}).length === 0;
  return [
    'import asyncio',
    '',
    'from langchain_mcp_adapters.client import MultiServerMCPClient',
    '',
    empty ? '# No server is connected yet: connect one above and this dict fills in.' : null,
    '# Replace <YOUR_TOKEN> with your API key or JWT.',
    '# tool_name_prefix: tools are named {server}_{tool}, so servers that share',
    '# tool names (echo, search, …) never give LangChain two tools of one name.',
    'client = MultiServerMCPClient(',
    `    ${dict},`,
    '    tool_name_prefix=True,',
    ')',
    '',
    '',
    'async def main():',
    '    tools = await client.get_tools()',
    '    print([tool.name for tool in tools])',
    '',
    '',
    'asyncio.run(main())',
  ].filter((line) => line !== null).join('\n');
}

export class SnippetsPanel {
  constructor(root) {
    this.root = root;
    this.key = null;
    this.blocks = {};
    this.build();
  }

  build() {
    const origin = location.origin;
    const block = (testid, title, copyLabel, text, note) => {
      const pre = h('pre', { class: 'snippet', tabindex: '0', 'data-testid': testid, 'aria-label': title });
      pre.textContent = text;
      const status = h('span', { class: 'copy-status', role: 'status' });
      const copy = h('button', {
        type: 'button', class: 'btn small', 'aria-label': copyLabel,
        onclick: () => copyText(pre, status),
      }, 'Copy');
      this.blocks[testid] = pre;
      return h('div', { class: 'snippet-block' },
        h('div', { class: 'snippet-head' }, h('h3', { text: title }), status, copy),
        note ? h('p', { class: 'hint', text: note }) : null,
        pre);
    };
    replace(this.root,
      h('p', { class: 'muted', text: `Point any MCP client at ${origin}/mcp with your API key or JWT as a bearer token. Replace ${PLACEHOLDER} in each snippet with it.` }),
      block('snippet-langchain', 'LangChain (Python)', 'Copy LangChain snippet', langchainSnippet({}),
        'Uses langchain-mcp-adapters; one connection per connected server.'),
      block('snippet-mcp-json', 'MCP client config', 'Copy MCP client config', mcpJson(origin),
        'For clients that read an mcpServers JSON file (Claude Code, Cursor, …).'),
      block('snippet-inspector', 'MCP Inspector', 'Copy Inspector command', inspectorCommand(origin),
        'Lists the tools of every connected server from a terminal.'));
  }

  /** Reloads the LangChain dict when the set of connected servers changed. */
  async refresh(connectedNames, force = false) {
    const key = [...connectedNames].sort().join('\n');
    if (!force && key === this.key) return;
    this.key = key;
    try {
      const config = await api.langchainConfig();
      if (this.key === key) this.blocks['snippet-langchain'].textContent = langchainSnippet(config);
    } catch (error) {
      if (this.key === key) this.key = null;
      if (error.status !== 401) {
        this.blocks['snippet-langchain'].textContent = `# Could not load the configuration: ${error.message}`;
      }
    }
  }
}

/** Copies the text of `pre` (or the value of an input) and says so in `status`. */
export async function copyText(pre, status) {
  const text = pre instanceof HTMLInputElement || pre instanceof HTMLTextAreaElement ? pre.value : pre.textContent;
  try {
    if (!navigator.clipboard?.writeText) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    flash(status, 'Copied');
  } catch {
    if (pre instanceof HTMLInputElement || pre instanceof HTMLTextAreaElement) {
      pre.select();
      pre.focus();
      flash(status, 'Selected: press Ctrl+C (⌘C) to copy');
      return;
    }
    const range = document.createRange();
    range.selectNodeContents(pre);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    pre.focus();
    flash(status, 'Selected: press Ctrl+C (⌘C) to copy');
  }
}

function flash(status, text) {
  status.textContent = text;
  clearTimeout(status.timer);
  status.timer = setTimeout(() => {
    status.textContent = '';
  }, 4000);
}
