// Signing in and out: local API tokens and account passwords, or, on AWS,
// the user pool's hosted login (OAuth 2.0 authorization code with PKCE).

import { api, ApiError } from './api.js';
import { session } from './session.js';
import { h, field, formErrors, showErrors, clearErrors } from './dom.js';

// check asks the API who the token belongs to and keeps the session.
async function adopt(token, extra = {}) {
  session.set({ token, ...extra });
  try {
    const { data } = await api('GET', '/v1/me');
    session.set({ token, ...extra, user: data.user, admin: data.admin });
    return data;
  } catch (e) {
    session.clear();
    throw e;
  }
}

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(n) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b64url(b);
}

// startOIDC sends the browser to the hosted login with a PKCE challenge;
// the verifier and state wait in sessionStorage for the way back.
export async function startOIDC(oidc, signup) {
  const verifier = random(32);
  const state = random(16);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem('eden.pkce', JSON.stringify({ verifier, state }));
  const u = new URL(signup && oidc.signup_url ? oidc.signup_url : oidc.authorize_url);
  u.search = new URLSearchParams({
    response_type: 'code', client_id: oidc.client_id, redirect_uri: oidc.redirect_url,
    scope: oidc.scopes.join(' '), state, code_challenge: challenge, code_challenge_method: 'S256',
  }).toString();
  location.assign(u.href);
}

// finishOIDC, on the way back from the hosted login, trades the code for
// tokens at the token endpoint and removes the code from the address bar.
// It returns true when it signed in.
export async function finishOIDC(oidc) {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return false;
  history.replaceState(null, '', location.pathname + location.hash);
  const saved = JSON.parse(sessionStorage.getItem('eden.pkce') || 'null');
  sessionStorage.removeItem('eden.pkce');
  if (q.has('error')) throw new Error(`The sign-in was not completed: ${q.get('error_description') || q.get('error')}`);
  if (!saved || saved.state !== q.get('state')) throw new Error('The sign-in answer does not match this tab: sign in again.');
  const resp = await fetch(oidc.token_url, {
    method: 'POST', credentials: 'omit', cache: 'no-store',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', client_id: oidc.client_id, code: q.get('code'),
      redirect_uri: oidc.redirect_url, code_verifier: saved.verifier,
    }).toString(),
  });
  if (!resp.ok) throw new Error(`The token endpoint refused the sign-in (HTTP ${resp.status}).`);
  const tok = await resp.json();
  const expires = Date.now() + (Number(tok.expires_in) || 3600) * 1000;
  await adopt(tok.access_token, { expires, oidc: true });
  return true;
}

export function signOut(cfg) {
  const wasOIDC = session.get()?.oidc;
  session.clear();
  if (wasOIDC && cfg.oidc?.logout_url) {
    const u = new URL(cfg.oidc.logout_url);
    u.search = new URLSearchParams({ client_id: cfg.oidc.client_id, logout_uri: cfg.oidc.redirect_url }).toString();
    location.assign(u.href);
    return;
  }
  location.hash = '#/signin';
}

// signInView is the sign-in page: hosted login on AWS; locally a token
// form and, with accounts, an e-mail and password form.
export function signInView(cfg, done) {
  const main = [h('h1', { tabindex: '-1' }, 'Sign in')];
  if (cfg.oidc) {
    main.push(h('p', {}, 'Sign in with your organisation\'s account.'),
      h('button', { type: 'button', class: 'primary', onclick: () => startOIDC(cfg.oidc, false) }, 'Sign in'));
    if (cfg.oidc.signup_url) {
      main.push(h('p', {}, 'No account yet? ', h('button', { type: 'button', class: 'link', onclick: () => startOIDC(cfg.oidc, true) }, 'Register')));
    }
    return main;
  }
  if (cfg.local?.accounts) {
    const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
    const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const form = h('form', { class: 'card', 'aria-labelledby': 'pw-h' },
      h('h2', { id: 'pw-h' }, 'With your e-mail and password'), formErrors(),
      field('E-mail', email, { field: 'email' }), field('Password', password, { field: 'password' }),
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      try {
        const { data } = await api('POST', '/v1/sessions', { body: { email: email.value, password: password.value }, anonymous: true, idempotent: false });
        await adopt(data.token, { expires: Date.parse(data.expires_at) });
        done();
      } catch (e) {
        showErrors(form, e instanceof ApiError ? e.problem : { detail: String(e) });
      }
    });
    main.push(form);
  }
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' });
  const tform = h('form', { class: 'card', 'aria-labelledby': 'tok-h' },
    h('h2', { id: 'tok-h' }, 'With an API token'), formErrors(),
    field('API token', token, { field: 'token', hint: 'The first admin token is in admin.token in the data directory; admins make more with edenctl token create or on the Tokens page.' }),
    h('button', { type: 'submit', class: cfg.local?.accounts ? '' : 'primary' }, 'Sign in with the token'));
  tform.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(tform);
    try {
      await adopt(token.value.trim());
      token.value = '';
      done();
    } catch (e) {
      const p = e instanceof ApiError && e.status === 401 ? { errors: [{ field: 'token', reason: 'This token is not valid here.' }] } : { detail: String(e.message || e) };
      showErrors(tform, p);
    }
  });
  main.push(tform);
  if (cfg.local?.registration) main.push(h('p', {}, 'No account yet? ', h('a', { href: '#/register' }, 'Register')));
  return main;
}

export function registerView(cfg) {
  if (!cfg.local?.registration) {
    return [h('h1', { tabindex: '-1' }, 'Register'), h('p', {}, 'Registration is closed on this control plane: ask an admin for an account or a token.')];
  }
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: '10' });
  const out = h('div', { role: 'status' });
  const form = h('form', { class: 'card' }, formErrors(),
    field('E-mail', email, { field: 'email' }),
    field('Password', password, { field: 'password', hint: 'At least 10 characters.' }),
    h('button', { type: 'submit', class: 'primary' }, 'Register'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const { data } = await api('POST', '/v1/accounts', { body: { email: email.value, password: password.value }, anonymous: true, idempotent: false });
      form.hidden = true;
      out.replaceChildren(h('p', { class: 'ok' }, `Registered ${data.account.email}. An admin must approve the account before you can sign in.`),
        h('p', {}, h('a', { href: '#/signin' }, 'Back to sign-in')));
    } catch (e) {
      showErrors(form, e instanceof ApiError ? e.problem : { detail: String(e) });
    }
  });
  return [h('h1', { tabindex: '-1' }, 'Register'), h('p', {}, 'An admin approves new accounts before they can sign in.'), form, out];
}
