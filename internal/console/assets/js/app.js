// The console's entry point: reads the control plane's sign-in settings,
// then routes on the address's fragment (#/...), which never holds a
// token.

import { h, replace } from './dom.js';
import { session } from './session.js';
import { onUnauthenticated } from './api.js';
import { signInView, registerView, finishOIDC, signOut } from './auth.js';
import { deploymentsView } from './views/deployments.js';
import { createView } from './views/create.js';
import { deploymentView } from './views/deployment.js';
import { runView } from './views/run.js';
import { accountsView, tokensView } from './views/admin.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const status = document.getElementById('status');
let cfg = null;
// cleanup stops what the current page keeps running (polls, log follows).
let cleanup = [];

export function say(text) { status.textContent = text; }

// carried is a message that must outlive the navigation it causes (a
// failed sign-in, an ended session, both followed by the sign-in page):
// the next route says it instead of clearing the status.
let carried = '';
function sayAcross(text) { carried = text; say(text); }

function navBar() {
  const s = session.get();
  if (!s) { replace(nav); return; }
  const links = [h('a', { href: '#/' }, 'Deployments'), h('a', { href: '#/new' }, 'New deployment')];
  if (s.admin && cfg.local) {
    if (cfg.local.accounts) links.push(h('a', { href: '#/accounts' }, 'Accounts'));
    links.push(h('a', { href: '#/tokens' }, 'Tokens'));
  }
  replace(nav, h('ul', {}, links.map((l) => h('li', {}, l))),
    h('span', { class: 'who' }, s.user, s.admin ? ' (admin)' : ''),
    h('button', { type: 'button', class: 'link', onclick: () => signOut(cfg) }, 'Sign out'));
}

const routes = [
  [/^#\/signin$/, () => signInView(cfg, () => { location.hash = '#/'; }), true],
  [/^#\/register$/, () => registerView(cfg), true],
  [/^#\/?$/, (ctx) => deploymentsView(ctx)],
  [/^#\/new$/, (ctx) => createView(ctx)],
  [/^#\/d\/([^/]+)$/, (ctx, id) => deploymentView(ctx, decodeURIComponent(id))],
  [/^#\/d\/([^/]+)\/runs\/([^/]+)$/, (ctx, id, run) => runView(ctx, decodeURIComponent(id), decodeURIComponent(run))],
  [/^#\/accounts$/, (ctx) => accountsView(ctx)],
  [/^#\/tokens$/, (ctx) => tokensView(ctx)],
];

async function route() {
  for (const stop of cleanup) stop();
  cleanup = [];
  say(carried);
  carried = '';
  const hash = location.hash || '#/';
  const s = session.get();
  if (s && s.expires && Date.now() >= s.expires) session.clear();
  navBar();
  const ctx = { cfg, session: session.get(), say, onLeave: (fn) => cleanup.push(fn), main };
  for (const [re, view, open] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    if (!open && !session.get()) { location.hash = '#/signin'; return; }
    replace(main, h('p', { class: 'loading' }, 'Loading…'));
    try {
      const content = await view(ctx, ...m.slice(1));
      if (location.hash !== hash && !(hash === '#/' && location.hash === '')) return; // moved on meanwhile
      replace(main, content);
    } catch (e) {
      replace(main, h('h1', { tabindex: '-1' }, e.status === 404 ? 'Not found' : 'Something went wrong'),
        h('p', { class: 'error' }, e.status === 404 ? 'There is no such thing here, or it is not yours to see.' : String(e.message || e)),
        h('p', {}, h('a', { href: '#/' }, 'Back to the deployments')));
    }
    const h1 = main.querySelector('h1');
    if (h1) { document.title = `${h1.textContent} · Eden Deploy`; h1.focus(); }
    return;
  }
  replace(main, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the deployments')));
}

async function start() {
  const resp = await fetch('/console/config.json', { credentials: 'omit', cache: 'no-store' });
  cfg = await resp.json();
  document.body.dataset.plane = cfg.plane || '';
  onUnauthenticated(() => { session.clear(); sayAcross('Your session ended: sign in again.'); location.hash = '#/signin'; });
  if (cfg.oidc) {
    try {
      if (await finishOIDC(cfg.oidc)) location.hash = '#/';
    } catch (e) {
      sayAcross(String(e.message || e));
    }
  }
  window.addEventListener('hashchange', route);
  if (!session.get() && !/^#\/(signin|register)$/.test(location.hash)) location.hash = '#/signin';
  else route();
}

start();
