// The signed-in session: the bearer token and who it is, kept in this
// tab's sessionStorage (gone when the tab closes; never in a cookie, a URL
// or the page's HTML).

const KEY = 'eden.session';

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch (_) { return null; }
  },
  token() { return this.get()?.token || ''; },
  set(s) { sessionStorage.setItem(KEY, JSON.stringify(s)); },
  clear() { sessionStorage.removeItem(KEY); },
};
