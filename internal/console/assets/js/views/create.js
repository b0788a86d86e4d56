// Create a deployment with a form or by pasting a spec. The API's problem
// documents show beside the fields they name; a dry run is one click.

import { h, field, formErrors, showErrors, clearErrors } from '../dom.js';
import { api, ApiError, enc } from '../api.js';

const ROLES = [['all', 'all (one server)'], ['db', 'db (PostgreSQL)'], ['eden', 'eden (uWSGI)'], ['webserver', 'webserver (nginx)']];

function select(options, value, attrs = {}) {
  return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

export function createView(ctx) {
  const form = h('form', { class: 'card create', novalidate: true });
  const serverList = h('ol', { class: 'servers' });
  const rows = [];

  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const adminEmail = h('input', { name: 'admin_email', type: 'email', required: true });
  const senderEmail = h('input', { name: 'sender_email', type: 'email' });
  const adminPassword = h('input', { name: 'admin_password', type: 'password', autocomplete: 'new-password' });
  const template = h('input', { name: 'template', value: 'default' });
  const prepopulate = h('input', { name: 'prepopulate' });
  const country = h('input', { name: 'country', maxlength: '2', size: '3' });
  const edenURL = h('input', { name: 'eden_url', type: 'url' });
  const edenBranch = h('input', { name: 'eden_branch' });
  const target = select([['ssh', 'SSH from this control plane'], ['ssm', 'AWS Systems Manager (EC2 instance IDs)']], 'ssh', { name: 'target' });
  const sshUser = h('input', { name: 'ssh_user', value: 'root', autocomplete: 'off' });
  const sshKey = h('textarea', { name: 'ssh_private_key', rows: '4', spellcheck: 'false', autocomplete: 'off' });
  const instType = select([['prod', 'prod'], ['demo', 'demo']], 'prod', { name: 'instance_type' });
  const instURL = h('input', { name: 'instance_url', type: 'url' });
  const settings = h('textarea', { name: 'settings', rows: '3', spellcheck: 'false' });
  const sshOnly = h('div', {}, field('SSH user', sshUser, { field: 'ssh_user', hint: 'root, or a user with sudo' }),
    field('SSH private key', sshKey, { field: 'ssh_private_key', hint: 'Kept only in the secret store; never shown again.' }));
  target.addEventListener('change', () => { sshOnly.hidden = target.value !== 'ssh'; for (const r of rows) r.iid.closest('.field').hidden = target.value !== 'ssm'; });

  function addServer(host = '', role = 'all') {
    const i = rows.length;
    const hostIn = h('input', { name: `host${i}`, autocomplete: 'off' });
    hostIn.value = host;
    const roleIn = select(ROLES, role, { name: `role${i}` });
    const iid = h('input', { name: `iid${i}`, autocomplete: 'off' });
    const li = h('li', { class: 'server-row' },
      field(`Server ${i + 1} host`, hostIn, { field: `servers[${i}].host` }),
      field(`Server ${i + 1} role`, roleIn, { field: `servers[${i}].role` }),
      field(`Server ${i + 1} EC2 instance ID`, iid, { field: `servers[${i}].instance_id` }),
      h('button', { type: 'button', class: 'link remove', onclick: () => { li.remove(); rows.splice(rows.indexOf(row), 1); renumber(); } }, `Remove server ${i + 1}`));
    iid.closest('.field').hidden = target.value !== 'ssm';
    const row = { host: hostIn, role: roleIn, iid, li };
    rows.push(row);
    serverList.append(li);
    return row;
  }
  // renumber keeps labels and field names in step with the rows' order,
  // so the API's "servers[1].host" lands on the second row shown.
  function renumber() {
    rows.forEach((r, i) => {
      for (const [ctl, what, key] of [[r.host, 'host', 'host'], [r.role, 'role', 'role'], [r.iid, 'EC2 instance ID', 'instance_id']]) {
        ctl.dataset.field = `servers[${i}].${key}`;
        ctl.closest('.field').querySelector('label').textContent = `Server ${i + 1} ${what}`;
      }
      r.li.querySelector('button.remove').textContent = `Remove server ${i + 1}`;
    });
  }
  addServer();

  const serversBox = h('fieldset', { class: 'servers-box', tabindex: '-1', 'data-field': 'servers', id: 'servers-box', 'aria-describedby': 'servers-box-err' },
    h('legend', {}, 'Servers and their roles'),
    h('p', { class: 'hint' }, 'One server with role all, or 3-tier: at least one db, one eden and one webserver.'),
    serverList,
    h('p', { class: 'field-error', id: 'servers-box-err', hidden: true }),
    h('button', { type: 'button', onclick: () => addServer('', rows.length ? 'eden' : 'all').host.focus() }, 'Add a server'));

  const result = h('div', { class: 'result', role: 'status', 'aria-live': 'polite' });

  function spec() {
    const s = {
      name: name.value.trim(), admin_email: adminEmail.value.trim(), template: template.value.trim(),
      prepopulate: prepopulate.value.split(',').map((x) => x.trim()).filter(Boolean),
      country: country.value.trim(), target: target.value,
      servers: rows.map((r) => {
        const sv = { host: r.host.value.trim(), role: r.role.value };
        if (target.value === 'ssm' && r.iid.value.trim()) sv.instance_id = r.iid.value.trim();
        return sv;
      }),
      instance: { type: instType.value },
    };
    if (senderEmail.value.trim()) s.sender_email = senderEmail.value.trim();
    if (adminPassword.value) s.admin_password = adminPassword.value;
    if (edenURL.value.trim() || edenBranch.value.trim()) s.eden = { url: edenURL.value.trim(), branch: edenBranch.value.trim() };
    if (target.value === 'ssh') { s.ssh_user = sshUser.value.trim(); s.ssh_private_key = sshKey.value; }
    if (instURL.value.trim()) s.instance.url = instURL.value.trim();
    if (settings.value.trim()) {
      try { s.instance.settings = JSON.parse(settings.value); } catch (_) {
        throw new ApiError(400, { errors: [{ field: 'instance.settings', reason: 'must be a JSON object such as {"L10n.default_language": "fr"}' }] });
      }
    }
    return s;
  }

  async function submit(f, body, dryRun) {
    clearErrors(f);
    result.replaceChildren();
    try {
      const { data } = await api('POST', '/v1/deployments', { body: { ...body, dry_run: dryRun } });
      ctx.say(dryRun ? 'Dry run started.' : 'Deployment created; its first run started.');
      location.hash = `#/d/${enc(data.deployment.id)}/runs/${enc(data.run.id)}`;
    } catch (e) {
      showErrors(f, e instanceof ApiError ? e.problem : { detail: String(e.message || e) });
    }
  }

  form.append(formErrors(),
    field('Name', name, { field: 'name' }),
    field('Admin e-mail', adminEmail, { field: 'admin_email', hint: 'Eden\'s first administrator' }),
    field('Eden admin password', adminPassword, { field: 'admin_password', hint: 'Optional: one is generated and kept in the secret store when empty.' }),
    field('Sender e-mail', senderEmail, { field: 'sender_email', hint: 'Defaults to the admin e-mail' }),
    field('Template', template, { field: 'template', hint: 'An Eden template, such as default or SSF' }),
    field('Prepopulate', prepopulate, { field: 'prepopulate', hint: 'Options added to the template\'s own, comma-separated, such as locations/NZ or default/users (Eden\'s demo users)' }),
    field('Country', country, { field: 'country', hint: 'Two letters, such as NZ (optional)' }),
    h('details', {}, h('summary', {}, 'Eden repository (optional)'),
      field('Eden repository URL', edenURL, { field: 'eden.url' }), field('Eden branch', edenBranch, { field: 'eden.branch' })),
    field('How runs reach the servers', target, { field: 'target' }),
    sshOnly, serversBox,
    h('fieldset', {}, h('legend', {}, 'First instance'),
      field('Type', instType, { field: 'instance.type' }),
      field('URL', instURL, { field: 'instance.url', hint: 'Defaults to http://<first web server>' }),
      field('Settings (JSON)', settings, { field: 'instance.settings', hint: 'Optional, such as {"L10n.default_language": "fr"}' })),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => { try { submit(form, spec(), true); } catch (e) { showErrors(form, e.problem); } } }, 'Dry run'),
      h('button', { type: 'submit', class: 'primary' }, 'Create deployment')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    let body;
    try { body = spec(); } catch (e) { showErrors(form, e.problem); return; }
    submit(form, body, false);
  });

  // Or paste a spec: the API's request body, as JSON.
  const pasted = h('textarea', { name: 'spec', rows: '12', spellcheck: 'false' });
  const pform = h('form', { class: 'card', novalidate: true }, formErrors(),
    field('Spec (JSON)', pasted, { field: 'spec', hint: 'The body of POST /v1/deployments: name, admin_email, servers, instance, ssh_user, ssh_private_key, ...' }),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => { const b = parsed(); if (b) submit(pform, b, true); } }, 'Dry run'),
      h('button', { type: 'submit', class: 'primary' }, 'Create from the spec')));
  function parsed() {
    try {
      const b = JSON.parse(pasted.value);
      if (!b || typeof b !== 'object' || Array.isArray(b)) throw new Error('not an object');
      delete b.dry_run;
      return b;
    } catch (_) {
      showErrors(pform, { errors: [{ field: 'spec', reason: 'is not a JSON object' }] });
      return null;
    }
  }
  pform.addEventListener('submit', (ev) => { ev.preventDefault(); const b = parsed(); if (b) submit(pform, b, false); });

  return [h('h1', { tabindex: '-1' }, 'New deployment'), form, result,
    h('details', { class: 'paste' }, h('summary', {}, 'Or paste a spec'), pform)];
}
