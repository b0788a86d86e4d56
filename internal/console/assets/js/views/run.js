// A run's page: steps in order with each host's result, a timeline of the
// steps, the full log following live while the run runs, and cancel.
// A failed run says which host and step failed, and why.

import { h, replace, badge, fmtTime, fmtDuration, visible } from '../dom.js';
import { api, get, followLog, enc } from '../api.js';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

export async function runView(ctx, id, runID) {
  const path = `/v1/deployments/${enc(id)}/runs/${enc(runID)}`;
  let run = await get(path);
  const d = await get(`/v1/deployments/${enc(id)}`).catch(() => ({ name: id }));

  const head = h('div', { class: 'run-head' });
  const failure = h('div', { class: 'failure', role: 'alert' });
  const timeline = h('div', { class: 'timeline', role: 'img' });
  const steps = h('div', { class: 'steps' });
  const logPre = h('pre', { class: 'log', tabindex: '0', 'aria-label': 'Run log' });
  const logState = h('p', { class: 'log-state sub', role: 'status' }, 'Loading the log…');
  const cancelMsg = h('p', { role: 'status' });
  const cancelBtn = h('button', { type: 'button', class: 'danger', onclick: cancel }, 'Cancel run');

  async function cancel() {
    cancelBtn.disabled = true;
    try {
      run = (await api('POST', `${path}/cancel`)).data;
      cancelMsg.textContent = 'Cancelling: the current step is stopped.';
      draw();
    } catch (e) {
      cancelMsg.textContent = e.message;
      cancelBtn.disabled = false;
    }
  }

  function draw() {
    const active = !TERMINAL.includes(run.status);
    replace(head,
      h('p', { class: 'run-status' }, 'Status: ', badge(run.status), run.dry_run ? ' (dry run)' : ''),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Kind'), h('dd', {}, run.kind),
        run.instance ? [h('dt', {}, 'Instance'), h('dd', {}, run.instance)] : null,
        run.host ? [h('dt', {}, 'Host'), h('dd', {}, run.host)] : null,
        h('dt', {}, 'Requested by'), h('dd', {}, run.requester || ''),
        h('dt', {}, 'Created'), h('dd', {}, fmtTime(run.created_at)),
        run.started_at ? [h('dt', {}, 'Started'), h('dd', {}, fmtTime(run.started_at))] : null,
        run.finished_at ? [h('dt', {}, 'Finished'), h('dd', {}, fmtTime(run.finished_at))] : null),
      active ? h('div', { class: 'actions' }, cancelBtn, cancelMsg) : null);
    drawFailure();
    drawTimeline();
    drawSteps();
  }

  function drawFailure() {
    if (run.status !== 'failed') { failure.replaceChildren(); failure.hidden = true; return; }
    failure.hidden = false;
    const lines = [];
    for (const s of run.steps || []) {
      if (s.status !== 'failed') continue;
      const bad = (s.results || []).filter((r) => r.failed || r.unreachable);
      if (bad.length) {
        for (const r of bad) lines.push(h('li', {}, `Step ${s.name} failed on host `, h('strong', { class: 'host' }, r.host), r.reason ? `: ${r.reason}` : (r.unreachable ? ': unreachable' : '')));
      } else {
        lines.push(h('li', {}, `Step ${s.name} failed`, s.error ? `: ${s.error}` : ''));
      }
    }
    replace(failure, h('h2', {}, 'The run failed'), run.error ? h('p', { class: 'run-error' }, run.error) : null, lines.length ? h('ul', {}, lines) : null);
  }

  function drawTimeline() {
    const ss = (run.steps || []).filter((s) => s.started_at);
    if (!ss.length) { replace(timeline, h('p', { class: 'sub' }, 'No step has started yet.')); timeline.setAttribute('aria-label', 'No step has started yet'); return; }
    const t0 = Date.parse(run.started_at || ss[0].started_at);
    const now = Date.now();
    const end = Math.max(...ss.map((s) => (s.finished_at ? Date.parse(s.finished_at) : now)), t0 + 1);
    const span = end - t0;
    const label = [];
    replace(timeline, ss.map((s) => {
      const a = Date.parse(s.started_at) - t0;
      const b = (s.finished_at ? Date.parse(s.finished_at) : now) - t0;
      const bar = h('div', { class: `bar bar-${s.status}` });
      // CSSOM, not a style attribute: allowed by style-src 'self'.
      bar.style.marginLeft = `${(100 * a) / span}%`;
      bar.style.width = `${Math.max(1, (100 * (b - a)) / span)}%`;
      label.push(`${s.name} ${s.status} ${fmtDuration(b - a)}`);
      return h('div', { class: 'lane' }, h('span', { class: 'lane-name' }, s.name), h('div', { class: 'track' }, bar), h('span', { class: 'lane-time' }, fmtDuration(b - a)));
    }));
    timeline.setAttribute('aria-label', `Timeline: ${label.join('; ')}`);
  }

  function drawSteps() {
    replace(steps, h('ol', { class: 'step-list' }, (run.steps || []).map((s, i) => h('li', { class: `step step-${s.status}`, 'data-step': s.name },
      h('h3', {}, `Step ${i + 1} of ${run.steps.length}: ${s.name} `, badge(s.status)),
      h('p', { class: 'sub' }, `role ${s.role} · playbook ${s.playbook}`,
        s.started_at ? ` · started ${fmtTime(s.started_at)}` : '', s.finished_at ? ` · took ${fmtDuration(Date.parse(s.finished_at) - Date.parse(s.started_at))}` : ''),
      s.error ? h('p', { class: 'error' }, s.error) : null,
      h('div', { class: 'table-wrap' }, h('table', { class: 'hosts' },
        h('thead', {}, h('tr', {}, ['Host', 'ok', 'changed', 'failed', 'unreachable', 'skipped', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, (s.results && s.results.length ? s.results : (s.hosts || []).map((host) => ({ host, pending: true }))).map((r) => h('tr', { class: r.failed || r.unreachable ? 'bad' : '' },
          h('td', { class: 'host' }, r.host),
          r.pending ? h('td', { colspan: '6', class: 'sub' }, s.status === 'running' ? 'running…' : 'no result yet')
            : [h('td', {}, r.ok), h('td', {}, r.changed), h('td', {}, r.failed), h('td', {}, r.unreachable), h('td', {}, r.skipped), h('td', {}, r.reason || '')])))))))));
  }

  // Poll the run while it is active.
  let timer = null;
  async function poll() {
    try {
      run = await get(path);
      draw();
    } catch (_) { /* keep the last state; try again */ }
    if (!TERMINAL.includes(run.status)) timer = setTimeout(poll, 1000);
  }
  if (!TERMINAL.includes(run.status)) timer = setTimeout(poll, 1000);
  ctx.onLeave(() => clearTimeout(timer));

  // Follow the log.
  let lines = 0;
  const stop = followLog(id, runID, (text) => {
    const atBottom = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 4;
    // The event's data lines joined are the chunk exactly, line breaks
    // included.
    logPre.append(document.createTextNode(visible(text)));
    lines += (text.match(/\n/g) || []).length;
    logState.textContent = `Following the log (${lines} lines so far)…`;
    if (atBottom) logPre.scrollTop = logPre.scrollHeight;
  }, (err) => {
    logState.textContent = err ? `The log could not be read: ${err.message}` : `The log is complete (${lines} lines).`;
    logPre.dataset.complete = err ? 'error' : 'true';
  });
  ctx.onLeave(stop);

  draw();
  return [
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Deployments'), ' › ', h('a', { href: `#/d/${enc(id)}` }, d.name)),
    h('h1', { tabindex: '-1' }, `Run ${run.id}`),
    head, failure,
    h('h2', {}, 'Timeline'), timeline,
    h('h2', {}, 'Steps'), steps,
    h('h2', {}, 'Log'), logState, logPre,
  ];
}
