// Building the page without HTML strings: every element is made with
// createElement and every string a user (or the API) gave is set as text,
// so markup, template syntax or direction overrides in a name, a setting
// or a host are shown literally and run nothing.

// h makes an element. attrs: "class", "for", aria-* and data-* and other
// attributes are set with setAttribute; keys starting with "on" add event
// listeners; "value", "checked", "disabled", "selected" and "hidden" are
// set as properties. Children are nodes, strings (text nodes), numbers,
// null/false (skipped) or arrays of those.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (['value', 'checked', 'disabled', 'selected', 'hidden', 'required', 'readOnly', 'multiple'].includes(k)) {
      el[k] = v;
    } else if (k === 'href') {
      el.setAttribute('href', safeHref(v));
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(visible(String(c))));
  }
  return el;
}

// BIDI_CONTROLS are the invisible characters that reorder the text around
// them (embeddings, overrides, isolates, marks).
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

// visible shows direction controls as what they are ("[U+202E]") instead
// of letting them reorder what follows: a name or setting holding a
// right-to-left override is shown literally.
export function visible(s) {
  return String(s).replace(BIDI_CONTROLS, (c) => `[U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

// jsonText is JSON for an editor: direction controls escaped (\u202e), so
// they are seen, and parse back to the same value.
export function jsonText(v) {
  return JSON.stringify(v, null, 2).replace(BIDI_CONTROLS, (c) => `\\u${c.codePointAt(0).toString(16).padStart(4, '0')}`);
}

// safeHref lets through the console's own routes and http(s) URLs only:
// a "javascript:" or "data:" URL from a user's field is never a link.
export function safeHref(v) {
  const s = String(v);
  if (s.startsWith('#/') || s.startsWith('/')) return s;
  try {
    const u = new URL(s);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.href;
  } catch (_) { /* not a URL */ }
  return '#';
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
export function nextId(prefix) { uid += 1; return `${prefix}-${uid}`; }

// field makes a labelled input (or select/textarea) with a place for its
// error: the API's problem for this field is shown there (showErrors).
export function field(label, control, opts = {}) {
  const id = control.id || nextId('f');
  control.id = id;
  if (opts.field) control.dataset.field = opts.field;
  const err = h('p', { class: 'field-error', id: `${id}-err`, hidden: true });
  const hint = opts.hint ? h('p', { class: 'hint', id: `${id}-hint` }, opts.hint) : null;
  const described = [hint ? `${id}-hint` : null, `${id}-err`].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint, err);
}

// showErrors puts each problem next to the control whose data-field names
// it, and the rest in the form's summary. It returns how many it placed
// beside fields.
export function showErrors(form, problem) {
  clearErrors(form);
  const summary = form.querySelector('.form-errors');
  const rest = [];
  let placed = 0;
  for (const fe of problem?.errors || []) {
    const ctl = form.querySelector(`[data-field="${cssEscape(fe.field)}"]`) || closestField(form, fe.field);
    if (ctl) {
      const err = document.getElementById(`${ctl.id}-err`);
      err.textContent = fe.reason;
      err.hidden = false;
      ctl.setAttribute('aria-invalid', 'true');
      if (placed === 0) ctl.focus();
      placed += 1;
    } else {
      rest.push(`${fe.field}: ${fe.reason}`);
    }
  }
  if (summary) {
    const lines = rest.length ? rest : (placed ? [] : [problem?.detail || 'The request failed.']);
    replace(summary, lines.length ? h('ul', {}, lines.map((l) => h('li', {}, l))) : null);
    summary.hidden = lines.length === 0;
    if (lines.length && placed === 0) summary.focus();
  }
  return placed;
}

// closestField finds the control of a field's parent path ("servers[1]"
// for "servers[1].host"), so a problem about a whole row lands on it.
function closestField(form, name) {
  let n = name;
  while (n.includes('.') || n.includes('[')) {
    n = n.replace(/(\.[^.[\]]*|\[\d+\])$/, '');
    const ctl = form.querySelector(`[data-field="${cssEscape(n)}"]`);
    if (ctl) return ctl;
    if (!/[.[]/.test(n)) break;
  }
  return null;
}

export function clearErrors(form) {
  for (const e of form.querySelectorAll('.field-error')) { e.textContent = ''; e.hidden = true; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  const summary = form.querySelector('.form-errors');
  if (summary) { summary.replaceChildren(); summary.hidden = true; }
}

function cssEscape(s) {
  return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
}

export function formErrors() {
  return h('div', { class: 'form-errors', role: 'alert', tabindex: '-1', hidden: true });
}

export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2) return '';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function fmtDuration(ms) {
  if (!(ms >= 0)) return '';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${s % 60} s`;
}

// badge shows a status as text with a class for its colour; the text is
// what a screen reader reads.
export function badge(status) {
  return h('span', { class: `badge badge-${String(status).replace(/[^a-z_-]/g, '')}` }, status);
}
