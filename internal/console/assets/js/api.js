// The API client: every call sends the bearer token in the Authorization
// header (never in a URL) and turns problem documents into ApiError.

import { session } from './session.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || { detail: `HTTP ${status}` };
  }
}

// onUnauthenticated is called when the API answers 401 to a signed-in
// call (an expired or revoked token).
let unauthenticated = () => {};
export function onUnauthenticated(fn) { unauthenticated = fn; }

function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// api sends one request. opts: body (JSON), headers, anonymous (no token),
// raw (return the Response).
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  const token = session.token();
  if (token && !opts.anonymous) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  // A retried POST (a flaky network) starts nothing twice.
  if (method === 'POST' && opts.idempotent !== false) headers['Idempotency-Key'] = newKey();
  const resp = await fetch(path, { method, headers, body, credentials: 'omit', cache: 'no-store', redirect: 'error' });
  if (opts.raw) return resp;
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = { detail: text }; }
  }
  if (!resp.ok) {
    if (resp.status === 401 && token && !opts.anonymous) unauthenticated();
    throw new ApiError(resp.status, data);
  }
  return { data, headers: resp.headers, status: resp.status };
}

export const get = (path, opts) => api('GET', path, opts).then((r) => r.data);

// enc escapes one path segment.
export const enc = encodeURIComponent;

// followLog streams a run's log (Server-Sent Events read with fetch, so the
// token goes in a header) from offset, calling onData(text) for each chunk
// and onEnd() at the end. It reconnects from the last byte it got when the
// stream drops, until stop() is called or the log is complete. It returns
// stop.
export function followLog(dep, run, onData, onEnd) {
  let offset = 0;
  let stopped = false;
  const ctl = { abort: null };
  const path = `/v1/deployments/${enc(dep)}/runs/${enc(run)}/log`;
  async function once() {
    const ac = new AbortController();
    ctl.abort = () => ac.abort();
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${session.token()}` };
    if (offset > 0) headers['Last-Event-ID'] = String(offset);
    const resp = await fetch(path, { headers, signal: ac.signal, credentials: 'omit', cache: 'no-store' });
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let type = 'message'; let id = null; const data = [];
        for (const line of ev.split('\n')) {
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const k = c < 0 ? line : line.slice(0, c);
          let v = c < 0 ? '' : line.slice(c + 1);
          if (v.startsWith(' ')) v = v.slice(1);
          if (k === 'event') type = v; else if (k === 'id') id = v; else if (k === 'data') data.push(v);
        }
        if (type === 'end') return true;
        if (type === 'error') throw new ApiError(500, { detail: data.join('\n') });
        if (type === 'message' && data.length && id !== null) {
          offset = Number(id);
          onData(data.join('\n'));
        }
      }
    }
  }
  (async () => {
    while (!stopped) {
      try {
        if (await once()) { if (!stopped) onEnd(null); return; }
      } catch (e) {
        if (stopped) return;
        if (e instanceof ApiError && e.status < 500) { onEnd(e); return; }
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return () => { stopped = true; if (ctl.abort) ctl.abort(); };
}
