// A deployment's page: servers, instances with their links, settings and
// status, management tasks, more instances, runs, and deletion.

import { h, field, formErrors, showErrors, clearErrors, badge, fmtTime, jsonText } from '../dom.js';
import { api, get, ApiError, enc } from '../api.js';

const TYPES = ['prod', 'demo', 'test', 'setup'];
const TASKS = [['pull', 'Pull', 'Update Eden\'s code, migrate, compile and restart'], ['restart', 'Restart', 'Restart uWSGI'],
  ['backup', 'Backup', 'Dump the database'], ['clean', 'Clean', 'Recreate the database']];

export async function deploymentView(ctx, id) {
  const base = `/v1/deployments/${enc(id)}`;
  const [d, runs] = await Promise.all([get(base), get(`${base}/runs?limit=20`)]);
  const busy = !!d.active_run;
  const dry = h('input', { type: 'checkbox', id: 'dry-run' });

  async function startTask(inst, task, confirm, f) {
    try {
      const body = { task, dry_run: dry.checked };
      if (confirm !== undefined) body.confirm = confirm;
      const { data } = await api('POST', `${base}/instances/${enc(inst.type)}/tasks`, { body });
      location.hash = `#/d/${enc(id)}/runs/${enc(data.run.id)}`;
    } catch (e) {
      if (f) showErrors(f, e.problem); else ctx.say(e.message);
    }
  }

  function instanceCard(inst) {
    const taskErr = h('form', { class: 'task-form' }, formErrors());
    const cleanBox = h('div', { hidden: true });
    const buttons = TASKS.map(([task, label, what]) => h('button', {
      type: 'button', title: what, 'aria-label': `${label} ${inst.type}`, disabled: busy,
      onclick: () => {
        if (task === 'clean' && inst.type === 'prod') { cleanBox.hidden = false; cleanBox.querySelector('input').focus(); return; }
        startTask(inst, task, undefined, taskErr);
      },
    }, label));
    if (inst.type === 'prod') {
      const confirm = h('input', { name: 'confirm', autocomplete: 'off' });
      const cf = h('form', { class: 'confirm' }, formErrors(),
        field(`Cleaning prod deletes its data. Type the deployment's name (${d.name}) to confirm`, confirm, { field: 'confirm' }),
        h('button', { type: 'submit', class: 'danger' }, 'Clean prod'));
      cf.addEventListener('submit', (ev) => { ev.preventDefault(); startTask(inst, 'clean', confirm.value, cf); });
      cleanBox.append(cf);
    }
    const settingsBox = h('div', { class: 'settings', hidden: true });
    const settingsBtn = h('button', { type: 'button', 'aria-expanded': 'false', onclick: () => toggleSettings(inst, settingsBox, settingsBtn) }, `Settings of ${inst.type}`);
    return h('section', { class: 'card instance', 'aria-labelledby': `inst-${inst.type}`, 'data-instance': inst.type },
      h('h3', { id: `inst-${inst.type}` }, inst.type, ' ', badge(inst.status)),
      h('p', {}, h('a', { href: inst.url, rel: 'noopener noreferrer', target: '_blank', class: 'inst-url' }, inst.url)),
      h('p', { class: 'sub' }, `settings version ${inst.settings_version}`, inst.deploy_run_id ? ' · ' : '',
        inst.deploy_run_id ? h('a', { href: `#/d/${enc(id)}/runs/${enc(inst.deploy_run_id)}` }, 'its deploy run') : null),
      h('div', { class: 'actions' }, buttons, settingsBtn), taskErr, cleanBox, settingsBox);
  }

  async function toggleSettings(inst, box, btn) {
    if (!box.hidden) { box.hidden = true; btn.setAttribute('aria-expanded', 'false'); return; }
    box.hidden = false;
    btn.setAttribute('aria-expanded', 'true');
    box.replaceChildren(h('p', {}, 'Loading…'));
    const path = `${base}/instances/${enc(inst.type)}/settings`;
    let etag;
    const text = h('textarea', { rows: '10', spellcheck: 'false', name: `settings-${inst.type}` });
    const msg = h('div', { role: 'status', class: 'settings-msg' });
    const f = h('form', { class: 'settings-form' }, formErrors(),
      field(`Settings of ${inst.type} (JSON)`, text, { field: 'settings', hint: 'The values behind models/000_config.py, such as "L10n.default_language": "fr".' }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => save(true) }, 'Dry run'),
        h('button', { type: 'submit', class: 'primary' }, 'Save and apply')), msg);
    async function load() {
      const { data, headers } = await api('GET', path);
      etag = headers.get('ETag');
      text.value = jsonText(data.settings);
      f.dataset.version = String(data.version);
    }
    async function save(dryRun) {
      clearErrors(f);
      msg.replaceChildren();
      let s;
      try { s = JSON.parse(text.value); } catch (_) { showErrors(f, { errors: [{ field: 'settings', reason: 'is not a JSON object' }] }); return; }
      try {
        const { data, headers } = await api('PUT', path, { body: { settings: s, dry_run: dryRun }, headers: { 'If-Match': etag } });
        if (!dryRun) etag = headers.get('ETag');
        msg.replaceChildren(h('p', { class: 'ok' }, dryRun ? 'Dry run started: ' : 'Saved; the settings are being applied: ',
          h('a', { href: `#/d/${enc(id)}/runs/${enc(data.run.id)}` }, 'follow the run')));
      } catch (e) {
        if (e instanceof ApiError && e.status === 412) {
          msg.replaceChildren(h('p', { class: 'error conflict', role: 'alert' },
            'Someone else changed these settings after you opened them. Your change was not saved. Reload them to see the current values, then make your change again.'),
          h('button', { type: 'button', onclick: async () => { await load(); msg.replaceChildren(h('p', {}, 'Reloaded the current settings.')); text.focus(); } }, 'Reload the settings'));
          return;
        }
        showErrors(f, e.problem);
      }
    }
    f.addEventListener('submit', (ev) => { ev.preventDefault(); save(false); });
    try { await load(); box.replaceChildren(f); text.focus(); } catch (e) { box.replaceChildren(h('p', { class: 'error' }, e.message)); }
  }

  // Add an instance: the types it does not have yet.
  const missing = TYPES.filter((t) => !(d.instances || []).some((i) => i.type === t));
  let addForm = null;
  if (missing.length) {
    const type = h('select', { name: 'type' }, missing.map((t) => h('option', { value: t }, t)));
    const addDry = h('input', { type: 'checkbox', id: 'add-dry' });
    addForm = h('form', { class: 'card add-instance' }, h('h2', {}, 'Add an instance'), formErrors(),
      field('Type', type, { field: 'type' }),
      h('div', { class: 'check' }, addDry, h('label', { for: 'add-dry' }, 'Dry run')),
      h('button', { type: 'submit', class: 'primary', disabled: busy }, 'Add instance'));
    addForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(addForm);
      try {
        const { data } = await api('POST', `${base}/instances`, { body: { type: type.value, dry_run: addDry.checked } });
        location.hash = `#/d/${enc(id)}/runs/${enc(data.run.id)}`;
      } catch (e) { showErrors(addForm, e.problem); }
    });
  }

  // Delete, with the name typed.
  const delName = h('input', { name: 'confirm-delete', autocomplete: 'off' });
  const delForm = h('form', { class: 'card danger-zone' }, h('h2', {}, 'Delete this deployment'), formErrors(),
    h('p', {}, 'This forgets the deployment, its runs and its secrets here; it does not touch the servers.'),
    field(`Type the deployment's name (${d.name}) to confirm`, delName, { field: 'confirm' }),
    h('button', { type: 'submit', class: 'danger', disabled: busy }, 'Delete deployment'));
  delForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(delForm);
    if (delName.value !== d.name) { showErrors(delForm, { errors: [{ field: 'confirm', reason: 'does not match the deployment\'s name' }] }); return; }
    try {
      await api('DELETE', base);
      ctx.say(`Deleted ${d.name}.`);
      location.hash = '#/';
    } catch (e) { showErrors(delForm, e.problem); }
  });

  return [
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Deployments')),
    h('h1', { tabindex: '-1', class: 'dep-title' }, d.name),
    h('p', { class: 'sub' }, `${d.id} · owner `, h('span', { class: 'owner' }, d.owner), ` · target ${d.target}`,
      d.ssh_user ? ` as ${d.ssh_user}` : '', ` · template `, h('span', {}, d.template), ` · created ${fmtTime(d.created_at)}`),
    d.degraded ? h('p', { class: 'error' }, d.degraded) : null,
    busy ? h('p', { class: 'active-run' }, 'A run is active: ', h('a', { href: `#/d/${enc(id)}/runs/${enc(d.active_run.id)}` }, `${d.active_run.kind} `, badge(d.active_run.status)),
      '. Tasks wait until it ends.') : null,
    h('h2', {}, 'Servers'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'servers' },
      h('thead', {}, h('tr', {}, ['Host', 'Role', 'Origin', 'EC2 instance'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, (d.servers || []).map((s) => h('tr', {}, h('td', { class: 'host' }, s.host), h('td', {}, s.role), h('td', {}, s.origin), h('td', {}, s.instance_id || '')))))),
    h('h2', {}, 'Instances'),
    h('div', { class: 'check' }, dry, h('label', { for: 'dry-run' }, 'Run tasks as a dry run (check mode: nothing changes)')),
    h('div', { class: 'instances' }, (d.instances || []).map(instanceCard)),
    addForm,
    h('h2', {}, 'Runs'),
    runsTable(id, runs.items || []),
    delForm,
  ];
}

export function runsTable(id, runs) {
  if (!runs.length) return h('p', { class: 'empty' }, 'No runs.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'runs' },
    h('thead', {}, h('tr', {}, ['Run', 'Kind', 'Instance', 'Status', 'Created', 'By'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, runs.map((r) => h('tr', {},
      h('td', {}, h('a', { href: `#/d/${enc(id)}/runs/${enc(r.id)}` }, r.id)),
      h('td', {}, r.kind, r.dry_run ? ' (dry run)' : ''), h('td', {}, r.instance || r.host || ''),
      h('td', {}, badge(r.status)), h('td', {}, fmtTime(r.created_at)), h('td', {}, r.requester || '')))))); 
}
