// Admin pages of the local control plane: accounts (approve, disable) and
// API tokens.

import { h, field, formErrors, showErrors, clearErrors, badge, fmtTime } from '../dom.js';
import { api, get, enc } from '../api.js';

export async function accountsView(ctx) {
  if (!ctx.session?.admin) return [h('h1', { tabindex: '-1' }, 'Accounts'), h('p', {}, 'Only admins see accounts.')];
  const table = h('div', { class: 'table-wrap' });
  async function load() {
    const { items } = await get('/v1/accounts');
    if (!items.length) { table.replaceChildren(h('p', { class: 'empty' }, 'Nobody has registered yet.')); return; }
    table.replaceChildren(h('table', { class: 'accounts' },
      h('thead', {}, h('tr', {}, ['E-mail', 'Status', 'Registered', 'Decided by', 'Action'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items.map((a) => h('tr', { 'data-email': a.email },
        h('th', { scope: 'row', class: 'email' }, a.email), h('td', {}, badge(a.status)), h('td', {}, fmtTime(a.created_at)), h('td', {}, a.decided_by || ''),
        h('td', {}, a.status !== 'approved' ? h('button', { type: 'button', 'aria-label': `Approve ${a.email}`, onclick: () => decide(a, 'approve') }, 'Approve') : null,
          a.status !== 'disabled' ? h('button', { type: 'button', class: 'danger', 'aria-label': `Disable ${a.email}`, onclick: () => decide(a, 'disable') }, 'Disable') : null))))));
  }
  async function decide(a, what) {
    try {
      await api('POST', `/v1/accounts/${enc(a.email)}/${what}`);
      ctx.say(`${a.email} ${what === 'approve' ? 'approved' : 'disabled'}.`);
      await load();
    } catch (e) { ctx.say(e.message); }
  }
  await load();
  return [h('h1', { tabindex: '-1' }, 'Accounts'), h('p', {}, 'People who registered wait here until an admin approves them. Disabling an account ends its sessions at once.'), table];
}

export function tokensView(ctx) {
  if (!ctx.session?.admin) return [h('h1', { tabindex: '-1' }, 'Tokens'), h('p', {}, 'Only admins make tokens.')];
  const user = h('input', { name: 'user', autocomplete: 'off', required: true });
  const name = h('input', { name: 'name', autocomplete: 'off' });
  const admin = h('input', { type: 'checkbox', id: 'tok-admin' });
  const out = h('div', { role: 'status' });
  const form = h('form', { class: 'card' }, formErrors(),
    field('For user', user, { field: 'user', hint: 'The user ID that will own what the token creates, such as alice or alice@example.org' }),
    field('Name', name, { field: 'name', hint: 'What the token is for, such as "laptop"' }),
    h('div', { class: 'check' }, admin, h('label', { for: 'tok-admin' }, 'Admin (sees and manages every deployment)')),
    h('button', { type: 'submit', class: 'primary' }, 'Make a token'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    out.replaceChildren();
    try {
      const { data } = await api('POST', '/v1/tokens', { body: { user: user.value.trim(), name: name.value, admin: admin.checked }, idempotent: false });
      const secret = h('input', { readOnly: true, value: data.token, class: 'secret', 'aria-label': 'The new token', spellcheck: 'false' });
      out.replaceChildren(h('p', { class: 'ok' }, 'The token is shown once: copy it now. Only its hash is kept.'), secret,
        h('button', { type: 'button', onclick: async () => { try { await navigator.clipboard.writeText(secret.value); ctx.say('Copied.'); } catch (_) { secret.select(); } } }, 'Copy'));
      secret.select();
    } catch (e) { showErrors(form, e.problem); }
  });
  return [h('h1', { tabindex: '-1' }, 'Tokens'), h('p', {}, 'API tokens for edenctl and for signing in here.'), form, out];
}
