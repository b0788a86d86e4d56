// Deployments at a glance: name, servers, each instance's status and the
// active run.

import { h, badge } from '../dom.js';
import { get, enc } from '../api.js';

export async function deploymentsView() {
  const list = await get('/v1/deployments?limit=100');
  const items = list.items || [];
  // The listing has no active runs; each deployment's page has.
  const details = await Promise.all(items.map((d) => get(`/v1/deployments/${enc(d.id)}`).catch(() => d)));
  const out = [h('h1', { tabindex: '-1' }, 'Deployments'),
    h('p', {}, h('a', { href: '#/new', class: 'button primary' }, 'New deployment'))];
  if (items.length === 0) {
    out.push(h('p', { class: 'empty' }, 'No deployments yet.'));
    return out;
  }
  out.push(h('div', { class: 'table-wrap' }, h('table', { class: 'deployments' },
    h('caption', {}, `${items.length} deployment${items.length === 1 ? '' : 's'}`),
    h('thead', {}, h('tr', {}, ['Name', 'Servers', 'Instances', 'Active run'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, details.map((d) => h('tr', { 'data-id': d.id },
      h('th', { scope: 'row' }, h('a', { href: `#/d/${enc(d.id)}`, class: 'dep-name' }, d.name), h('div', { class: 'sub' }, d.id)),
      h('td', {}, h('ul', { class: 'plain' }, (d.servers || []).map((s) => h('li', {}, h('span', { class: 'host' }, s.host), ' ', h('span', { class: 'role' }, s.role))))),
      h('td', {}, h('ul', { class: 'plain' }, (d.instances || []).map((i) => h('li', {}, `${i.type} `, badge(i.status))))),
      h('td', {}, d.active_run
        ? h('a', { href: `#/d/${enc(d.id)}/runs/${enc(d.active_run.id)}` }, `${d.active_run.kind} `, badge(d.active_run.status))
        : h('span', { class: 'sub' }, 'none'))))))));
  if (list.next) out.push(h('p', { class: 'sub' }, 'Only the newest 100 are shown.'));
  return out;
}
