// Dialogs: create/edit categories and servers, and delete confirmations.
// API validation errors land next to the field they name.

import { h, uid } from './dom.js';

/**
 * Opens a modal dialog holding a form. `submit()` runs on submit; when it
 * throws, the message shows next to the named field (or in the alert) and
 * the dialog stays open with its values.
 */
export function openDialog({ title, intro, fields = [], submitLabel, submit, danger = false }) {
  const titleId = uid('dialog');
  const alert = h('div', { class: 'dialog-alert', role: 'alert', hidden: true });
  const submitButton = h('button', { type: 'submit', class: `btn ${danger ? 'danger solid' : 'primary'}` }, submitLabel);
  const cancel = h('button', { type: 'button', class: 'btn', onclick: () => dialog.close() }, 'Cancel');
  const form = h('form', { class: 'dialog-form', novalidate: true },
    h('h2', { id: titleId, class: 'dialog-title', text: title }),
    intro ? h('p', { class: 'dialog-intro', text: intro }) : null,
    alert,
    h('div', { class: 'fields' }, fields),
    h('div', { class: 'dialog-actions' }, cancel, submitButton));
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId }, form);
  const opener = document.activeElement;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form, alert);
    submitButton.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      await submit(form);
      dialog.close();
    } catch (error) {
      showError(form, alert, error);
    } finally {
      submitButton.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (!opener?.isConnected) document.getElementById('main-heading')?.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Closes every open dialog (used on sign-out). */
export function closeAllDialogs() {
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
}

/** A validation error raised before calling the API. */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/** A labelled control: `kind` is input type, 'textarea', 'select' or 'checkbox'. */
export function field(name, label, { kind = 'text', value = '', hint, options, placeholder, autocomplete, required, rows } = {}) {
  const id = uid(`f-${name}`);
  const hintId = hint ? uid('hint') : null;
  let control;
  if (kind === 'textarea') {
    control = h('textarea', { id, rows: rows ?? 3, placeholder, spellcheck: 'false' });
    control.value = value ?? '';
  } else if (kind === 'select') {
    control = h('select', { id }, options.map(([v, text]) => h('option', { value: v, text })));
    control.value = value ?? '';
  } else if (kind === 'checkbox') {
    control = h('input', { id, type: 'checkbox' });
    control.checked = Boolean(value);
  } else {
    control = h('input', { id, type: kind, placeholder, autocomplete: autocomplete ?? 'off', spellcheck: 'false' });
    control.value = value ?? '';
  }
  control.name = name;
  control.dataset.field = name;
  if (required) control.setAttribute('aria-required', 'true');
  if (hintId) {
    control.setAttribute('aria-describedby', hintId);
    control.dataset.hint = hintId;
  }
  const labelEl = h('label', { for: id, text: label });
  const hintEl = hint ? h('p', { class: 'hint', id: hintId, text: hint }) : null;
  const wrap = kind === 'checkbox'
    ? h('div', { class: 'field check', 'data-for': name }, control, labelEl, hintEl)
    : h('div', { class: 'field', 'data-for': name }, labelEl, control, hintEl);
  return wrap;
}

function clearErrors(form, alert) {
  alert.hidden = true;
  alert.textContent = '';
  for (const el of form.querySelectorAll('[data-testid="field-error"]')) el.remove();
  for (const control of form.querySelectorAll('[aria-invalid="true"]')) {
    control.removeAttribute('aria-invalid');
    if (control.dataset.hint) control.setAttribute('aria-describedby', control.dataset.hint);
    else control.removeAttribute('aria-describedby');
  }
}

function showError(form, alert, error) {
  // The field itself (`tool_filter.deny`), else the one it belongs to (`headers`).
  const names = typeof error.field === 'string' ? [error.field, error.field.split(/[.[]/)[0]] : [];
  const control = names
    .map((name) => form.querySelector(`[data-field="${CSS.escape(name)}"]`))
    .find(Boolean) ?? null;
  if (control && !control.closest('[hidden]')) {
    const errorId = uid('err');
    const message = h('p', { class: 'field-error', id: errorId, 'data-testid': 'field-error', text: error.message });
    control.closest('.field').append(message);
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', errorId);
    control.focus();
    return;
  }
  alert.textContent = error.message || 'Something went wrong.';
  alert.hidden = false;
}

/** Value of a form control by name. */
export function val(form, name) {
  const control = form.elements.namedItem(name);
  if (!control) return undefined;
  return control.type === 'checkbox' ? control.checked : control.value;
}

/** Non-empty lines of a textarea. */
export function lines(text) {
  return (text ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
}

/** `Name: value` (or `NAME=value` with sep '=') lines as an object. */
export function pairs(fieldName, text, sep) {
  const out = {};
  for (const line of lines(text)) {
    const at = line.indexOf(sep);
    if (at <= 0) {
      const shape = sep === ':' ? 'Name: value' : 'NAME=value';
      throw new FieldError(fieldName, `“${line}” is not in the form ${shape}.`);
    }
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

/** Opens a "Delete <name>?" confirmation; `run()` does the deletion. */
export function confirmDelete(name, detail, run) {
  return openDialog({
    title: `Delete ${name}?`,
    intro: detail,
    submitLabel: 'Delete',
    danger: true,
    submit: run,
  });
}
