// "Try it": a panel per tool with a form generated from its input schema
// (or raw JSON), which calls the tool through /mcp as the signed-in user
// and shows the result — text, images, resource links, embedded resources,
// structured content, a tool's own error (isError) or the gateway's
// JSON-RPC error with its `data.code` — and how long the call took.
//
// Panels outlive redraws of the tool list: a live update that redraws the
// card puts the same panel (its values and last result) back.

import { h, replace, uid } from './dom.js';
import { McpClient } from './mcp.js';
import { InputError, formable, objectForm } from './schemaform.js';

export class TryIt {
  /** `token()`: the credential; `onUnauthorized()`: it was refused. */
  constructor({ token, onUnauthorized }) {
    this.client = new McpClient({ token, onUnauthorized });
    this.panels = new Map();
  }

  /** Forgets every panel and ends the MCP session (sign-out). */
  reset() {
    this.client.close();
    this.panels.clear();
  }

  /**
   * The "Try it" toggle and panel of `tool` (a session tool with
   * `namespaced_name`, `input_schema`), the same elements on every call
   * for the same name and schema.
   */
  controls(tool) {
    const key = `${tool.namespaced_name}\n${JSON.stringify(tool.input_schema ?? {})}`;
    let panel = this.panels.get(tool.namespaced_name);
    if (!panel || panel.key !== key) {
      panel = this.build(tool, key);
      this.panels.set(tool.namespaced_name, panel);
    }
    return [panel.toggle, panel.el];
  }

  build(tool, key) {
    const name = tool.namespaced_name;
    const schema = tool.input_schema ?? {};
    const panelId = uid('tryit');
    const headingId = uid('tryit-h');
    const generated = formable(schema) ? objectForm(schema) : null;
    const rawId = uid('raw');
    const raw = h('textarea', { id: rawId, rows: 6, spellcheck: 'false', class: 'json', 'data-testid': 'tryit-json' });
    raw.value = '{}';
    const rawField = h('div', { class: 'field', hidden: Boolean(generated) },
      h('label', { for: rawId, text: 'Arguments (JSON object)' }), raw);
    const rawToggleId = uid('rawmode');
    const rawToggle = h('input', { type: 'checkbox', id: rawToggleId, 'data-testid': 'tryit-raw-toggle' });
    const error = h('p', { class: 'inline-error', role: 'alert', hidden: true });
    const run = h('button', { type: 'submit', class: 'btn primary small' }, `Call ${name}`);
    const status = h('p', { class: 'tryit-status muted', role: 'status', 'data-testid': 'tryit-status' });
    const result = h('div', { class: 'tryit-result', 'data-testid': 'tryit-result', tabindex: '-1', hidden: true });
    const form = h('form', { class: 'tryit-form', novalidate: true, 'aria-labelledby': headingId },
      generated?.el ?? h('p', { class: 'muted', text: 'This tool’s input schema has no form: enter its arguments as JSON.' }),
      rawField,
      generated ? h('div', { class: 'field check' }, rawToggle, h('label', { for: rawToggleId, text: 'Edit the arguments as JSON' })) : null,
      error,
      h('div', { class: 'tryit-actions' }, run));
    const el = h('section', {
      class: 'tryit', id: panelId, hidden: true, 'data-testid': 'tryit', 'aria-labelledby': headingId,
    }, h('h5', { id: headingId, class: 'tryit-title', text: `Try ${name}` }), form, status, result);
    const toggle = h('button', {
      type: 'button', class: 'btn small', 'aria-expanded': 'false', 'aria-controls': panelId, 'data-testid': 'tryit-toggle',
      onclick: () => {
        const open = el.hidden;
        el.hidden = !open;
        toggle.setAttribute('aria-expanded', String(open));
        if (open) form.querySelector('input, select, textarea')?.focus();
      },
    }, 'Try it');

    rawToggle.addEventListener('change', () => {
      if (rawToggle.checked) {
        try {
          raw.value = JSON.stringify(generated.read(), null, 2);
        } catch {
          // Keep whatever the textarea held.
        }
      }
      rawField.hidden = !rawToggle.checked;
      generated.el.hidden = rawToggle.checked;
      (rawToggle.checked ? raw : generated.el.querySelector('input, select, textarea'))?.focus();
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearMark(form, error);
      let args;
      try {
        args = readArgs(generated, rawToggle.checked || !generated, raw);
      } catch (problem) {
        mark(problem, error);
        return;
      }
      run.disabled = true;
      form.setAttribute('aria-busy', 'true');
      status.textContent = `Calling ${name}…`;
      try {
        const { result: answer, ms } = await this.client.callTool(name, args);
        status.textContent = `${answer?.isError ? 'The tool reported an error' : 'Done'} in ${formatMs(ms)}.`;
        replace(result, renderResult(answer));
      } catch (failure) {
        status.textContent = 'The call failed.';
        replace(result, renderRpcError(failure));
      } finally {
        run.disabled = false;
        form.removeAttribute('aria-busy');
      }
      result.hidden = false;
    });
    return { key, el, toggle };
  }
}

function readArgs(generated, useRaw, raw) {
  if (!useRaw) return generated.read();
  let value;
  try {
    value = JSON.parse(raw.value.trim() || '{}');
  } catch (problem) {
    throw new InputError(raw, `The arguments are not valid JSON: ${problem.message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new InputError(raw, 'The arguments must be a JSON object.');
  }
  return value;
}

function mark(problem, alert) {
  if (problem instanceof InputError && problem.control) {
    const id = uid('err');
    const message = h('p', { class: 'field-error', id, 'data-testid': 'field-error', text: problem.message });
    problem.control.closest('.field')?.append(message);
    problem.control.setAttribute('aria-invalid', 'true');
    problem.control.dataset.errorId = id;
    problem.control.setAttribute('aria-describedby', `${problem.control.getAttribute('aria-describedby') ?? ''} ${id}`.trim());
    problem.control.focus();
    return;
  }
  alert.textContent = problem.message;
  alert.hidden = false;
}

function clearMark(form, alert) {
  alert.hidden = true;
  for (const el of form.querySelectorAll('[data-testid="field-error"]')) el.remove();
  for (const control of form.querySelectorAll('[aria-invalid="true"]')) {
    control.removeAttribute('aria-invalid');
    const rest = (control.getAttribute('aria-describedby') ?? '').split(/\s+/).filter((id) => id && id !== control.dataset.errorId);
    if (rest.length) control.setAttribute('aria-describedby', rest.join(' '));
    else control.removeAttribute('aria-describedby');
  }
}

/** `12 ms`, `1.4 s`. */
export function formatMs(ms) {
  return ms < 1000 ? `${Math.max(0, Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const pretty = (value) => JSON.stringify(value, null, 2);

/** A tools/call result: each content block, then structured content. */
export function renderResult(result) {
  const blocks = Array.isArray(result?.content) ? result.content : [];
  const out = [];
  if (result?.isError) {
    out.push(h('p', { class: 'inline-error', 'data-testid': 'tryit-tool-error', text: 'The tool answered with isError: true.' }));
  }
  for (const block of blocks) out.push(renderBlock(block));
  if (!blocks.length) out.push(h('p', { class: 'muted', text: 'The result has no content.' }));
  if (result && result.structuredContent !== undefined) {
    out.push(h('div', { class: 'result-block', 'data-testid': 'result-structured' },
      h('p', { class: 'result-kind', text: 'Structured content' }),
      h('pre', { tabindex: '0', text: pretty(result.structuredContent) })));
  }
  return out;
}

function renderBlock(block) {
  const kind = (label, ...children) => h('div', { class: 'result-block', 'data-testid': `result-${block.type}` },
    h('p', { class: 'result-kind', text: label }), children);
  switch (block?.type) {
    case 'text':
      return kind('Text', h('pre', { class: 'result-text', tabindex: '0', text: block.text ?? '' }));
    case 'image': {
      const mime = /^image\/[a-z0-9.+-]+$/i.test(block.mimeType ?? '') ? block.mimeType : 'application/octet-stream';
      const data = /^[A-Za-z0-9+/=\s]*$/.test(block.data ?? '') ? (block.data ?? '').replace(/\s+/g, '') : '';
      return kind(`Image (${mime})`, h('img', {
        class: 'result-image', src: `data:${mime};base64,${data}`, alt: `Image result of the tool (${mime})`,
      }));
    }
    case 'audio':
      // The page's CSP allows no media source; say what came.
      return kind(`Audio (${block.mimeType ?? 'unknown type'})`, h('p', { class: 'muted', text: `${Math.floor(((block.data ?? '').length * 3) / 4)} bytes of audio.` }));
    case 'resource_link':
      return kind('Resource link', h('p', {},
        h('strong', { text: block.title || block.name || block.uri }), ' ',
        h('code', { class: 'result-uri', text: block.uri ?? '' })),
      block.description ? h('p', { class: 'muted', text: block.description }) : null,
      block.mimeType ? h('p', { class: 'muted', text: block.mimeType }) : null);
    case 'resource': {
      const r = block.resource ?? {};
      return kind('Embedded resource', h('p', {}, h('code', { class: 'result-uri', text: r.uri ?? '' })),
        typeof r.text === 'string'
          ? h('pre', { tabindex: '0', text: r.text })
          : h('p', { class: 'muted', text: `${r.mimeType ?? 'binary'}, ${Math.floor(((r.blob ?? '').length * 3) / 4)} bytes` }));
    }
    default:
      return kind(`Content of type ${block?.type ?? 'unknown'}`, h('pre', { tabindex: '0', text: pretty(block) }));
  }
}

/** A failed call: the JSON-RPC (or HTTP) error with its code and `data.code`. */
export function renderRpcError(error) {
  const code = error?.data?.code;
  return h('div', { class: 'inline-error rpc-error', role: 'alert', 'data-testid': 'tryit-rpc-error' },
    h('p', { text: error?.message ?? String(error) }),
    h('p', { class: 'rpc-codes' },
      code ? h('span', {}, 'Code ', h('code', { text: code })) : null,
      code && error.rpcCode !== null && error.rpcCode !== undefined ? ' · ' : null,
      error?.rpcCode !== null && error?.rpcCode !== undefined ? h('span', {}, 'JSON-RPC ', h('code', { text: String(error.rpcCode) })) : null));
}
