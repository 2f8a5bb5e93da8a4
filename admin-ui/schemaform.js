// A form generated from a tool's JSON-Schema input: strings, numbers and
// integers, booleans, enums (a select), arrays (add and remove items) and
// nested objects (fieldsets), with required marks. Anything else (oneOf,
// $ref, mixed types, …) gets a JSON textarea of its own.

import { h, uid } from './dom.js';

const MAX_DEPTH = 6;

/** A field the user got wrong: `control` is focused and marked. */
export class InputError extends Error {
  constructor(control, message) {
    super(message);
    this.control = control;
  }
}

/** The schema's single type, or null when it has none or several. */
function typeOf(schema) {
  if (!schema || typeof schema !== 'object') return null;
  if (Array.isArray(schema.enum) && schema.enum.length && schema.enum.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) return 'enum';
  let { type } = schema;
  if (Array.isArray(type)) {
    const real = type.filter((t) => t !== 'null');
    type = real.length === 1 ? real[0] : null;
  }
  if (!type && schema.properties) type = 'object';
  if (schema.oneOf || schema.anyOf || schema.allOf || schema.$ref) return null;
  return ['string', 'number', 'integer', 'boolean', 'object', 'array'].includes(type) ? type : null;
}

/** Whether `schema` gets a generated form (else: raw JSON only). */
export function formable(schema) {
  return typeOf(schema) === 'object';
}

/**
 * Builds the form of an object schema. Returns `{ el, read }`: `read()`
 * gives the arguments object (empty optional fields left out) or throws an
 * InputError.
 */
export function objectForm(schema) {
  const node = objectNode(schema, '', 0, null);
  return { el: node.el, read: () => node.read() ?? {} };
}

function labelFor(name, required, id) {
  return h('label', { for: id },
    h('span', { class: 'prop-name', text: name }),
    required ? h('span', { class: 'required', text: ' (required)' }) : null);
}

function hintOf(schema) {
  const parts = [];
  if (schema?.description) parts.push(schema.description);
  if (schema?.minimum !== undefined) parts.push(`minimum ${schema.minimum}`);
  if (schema?.maximum !== undefined) parts.push(`maximum ${schema.maximum}`);
  return parts.join(' · ');
}

/** A node: `{ el, read() }`; `read()` is undefined for an empty optional field. */
function node(schema, name, depth, required) {
  const type = depth > MAX_DEPTH ? null : typeOf(schema);
  if (type === 'object') return objectNode(schema, name, depth, required);
  if (type === 'array' && typeOf(schema.items) !== null) return arrayNode(schema, name, depth, required);
  if (type === null || type === 'array') return jsonNode(schema, name, required);
  return scalarNode(schema, type, name, required);
}

function objectNode(schema, name, depth, required) {
  const props = schema.properties && typeof schema.properties === 'object' ? schema.properties : {};
  const needed = new Set(Array.isArray(schema.required) ? schema.required : []);
  // Required fields first (JSON objects need not keep their keys' order).
  const keys = Object.keys(props).sort((a, b) => Number(needed.has(b)) - Number(needed.has(a)));
  const children = keys.map((key) => [key, node(props[key], key, depth + 1, needed.has(key))]);
  const hint = hintOf(schema);
  const body = [
    hint && depth > 0 ? h('p', { class: 'hint', text: hint }) : null,
    children.map(([, child]) => child.el),
    children.length ? null : h('p', { class: 'muted', text: 'This tool takes no arguments.' }),
  ];
  const el = depth === 0
    ? h('div', { class: 'schema-form' }, body)
    : h('fieldset', { class: 'schema-object' },
      h('legend', {}, h('span', { class: 'prop-name', text: name }),
        required ? h('span', { class: 'required', text: ' (required)' }) : null),
      body);
  return {
    el,
    read() {
      const out = {};
      for (const [key, child] of children) {
        const value = child.read();
        if (value !== undefined) out[key] = value;
      }
      if (depth > 0 && !required && !Object.keys(out).length) return undefined;
      return out;
    },
  };
}

function arrayNode(schema, name, depth, required) {
  const items = [];
  const list = h('ol', { class: 'schema-items' });
  const legendId = uid('arr');
  const add = h('button', { type: 'button', class: 'btn small', onclick: () => addItem(true) }, `Add ${name || 'item'}`);
  const el = h('fieldset', { class: 'schema-array', 'aria-labelledby': legendId },
    h('legend', { id: legendId }, h('span', { class: 'prop-name', text: name }),
      required ? h('span', { class: 'required', text: ' (required)' }) : null,
      h('span', { class: 'muted', text: ' (list)' })),
    hintOf(schema) ? h('p', { class: 'hint', text: hintOf(schema) }) : null,
    list, add);
  function addItem(focus) {
    const index = items.length + 1;
    const child = node(schema.items, `${name} ${index}`, depth + 1, true);
    const entry = { child, li: null };
    const remove = h('button', {
      type: 'button', class: 'btn small ghost', 'aria-label': `Remove ${name} ${index}`,
      onclick: () => {
        items.splice(items.indexOf(entry), 1);
        entry.li.remove();
        add.focus();
      },
    }, 'Remove');
    entry.li = h('li', { class: 'schema-item' }, child.el, remove);
    items.push(entry);
    list.append(entry.li);
    if (focus) entry.li.querySelector('input, select, textarea')?.focus();
  }
  if (Array.isArray(schema.default)) for (let i = 0; i < schema.default.length; i += 1) addItem(false);
  return {
    el,
    read() {
      const values = items.map((entry) => entry.child.read()).filter((v) => v !== undefined);
      if (!values.length && !required) return undefined;
      return values;
    },
  };
}

function scalarNode(schema, type, name, required) {
  const id = uid('arg');
  const hint = hintOf(schema);
  const hintId = hint ? uid('hint') : null;
  let control;
  if (type === 'enum') {
    control = h('select', { id }, required ? null : h('option', { value: '', text: '(not set)' }),
      schema.enum.map((v, i) => h('option', { value: String(i), text: String(v) })));
    if (schema.default !== undefined && schema.enum.includes(schema.default)) control.value = String(schema.enum.indexOf(schema.default));
  } else if (type === 'boolean' && required) {
    control = h('input', { id, type: 'checkbox' });
    control.checked = schema.default === true;
  } else if (type === 'boolean') {
    control = h('select', { id }, h('option', { value: '', text: '(not set)' }),
      h('option', { value: 'true', text: 'true' }), h('option', { value: 'false', text: 'false' }));
    if (typeof schema.default === 'boolean') control.value = String(schema.default);
  } else {
    const numeric = type === 'number' || type === 'integer';
    control = h('input', {
      id, type: numeric ? 'number' : 'text', spellcheck: 'false', autocomplete: 'off',
      step: type === 'integer' ? '1' : numeric ? 'any' : null,
      min: numeric && schema.minimum !== undefined ? schema.minimum : null,
      max: numeric && schema.maximum !== undefined ? schema.maximum : null,
    });
    if (schema.default !== undefined && schema.default !== null) control.value = String(schema.default);
  }
  if (required) control.setAttribute('aria-required', 'true');
  if (hintId) control.setAttribute('aria-describedby', hintId);
  control.dataset.arg = name;
  const check = control.type === 'checkbox';
  const el = h('div', { class: `field${check ? ' check' : ''}` },
    check ? [control, labelFor(name, required, id)] : [labelFor(name, required, id), control],
    hint ? h('p', { class: 'hint', id: hintId, text: hint }) : null);
  return {
    el,
    read() {
      if (type === 'enum') {
        if (control.value === '') {
          if (required) throw new InputError(control, `Choose a value for ${name}.`);
          return undefined;
        }
        return schema.enum[Number(control.value)];
      }
      if (type === 'boolean') {
        if (check) return control.checked;
        return control.value === '' ? undefined : control.value === 'true';
      }
      const raw = control.value;
      if (raw === '') {
        if (required && type !== 'string') throw new InputError(control, `Enter a value for ${name}.`);
        return required ? '' : undefined;
      }
      if (type === 'string') return raw;
      const n = Number(raw);
      if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) {
        throw new InputError(control, `${name} must be ${type === 'integer' ? 'a whole number' : 'a number'}.`);
      }
      return n;
    },
  };
}

function jsonNode(schema, name, required) {
  const id = uid('arg');
  const hintId = uid('hint');
  const control = h('textarea', { id, rows: 3, spellcheck: 'false', class: 'json', 'aria-describedby': hintId });
  if (schema && schema.default !== undefined) control.value = JSON.stringify(schema.default, null, 2);
  if (required) control.setAttribute('aria-required', 'true');
  control.dataset.arg = name;
  const hint = [hintOf(schema), 'JSON'].filter(Boolean).join(' · ');
  return {
    el: h('div', { class: 'field' }, labelFor(name, required, id), control,
      h('p', { class: 'hint', id: hintId, text: hint })),
    read() {
      const raw = control.value.trim();
      if (!raw) {
        if (required) throw new InputError(control, `Enter a JSON value for ${name}.`);
        return undefined;
      }
      try {
        return JSON.parse(raw);
      } catch (error) {
        throw new InputError(control, `${name} is not valid JSON: ${error.message}`);
      }
    },
  };
}
