package console_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/console"
)

func newLocal(t *testing.T) *console.Handler {
	t.Helper()
	h, err := console.New(console.Config{Plane: "local", Local: &console.Local{Accounts: true}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestServesWithStrictHeaders(t *testing.T) {
	h := newLocal(t)
	for _, c := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/console/js/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/console/js/views/run.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/console/style.css", 200, "text/css; charset=utf-8"},
		{"GET", "/console/config.json", 200, "application/json"},
		{"GET", "/console/nope.js", 404, ""},
		{"GET", "/console/../console.go", 404, ""},
		{"GET", "/elsewhere", 404, ""},
		{"POST", "/", 405, ""},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d", rec.Code, c.status)
			}
			hd := rec.Header()
			csp := hd.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") || strings.Contains(csp, "data:") {
				t.Errorf("CSP %q allows more than the console's own files", csp)
			}
			for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if hd.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, hd.Get(k), v)
				}
			}
			if hd.Get("Set-Cookie") != "" {
				t.Errorf("the console set a cookie: %s", hd.Get("Set-Cookie"))
			}
			if c.ctype != "" && hd.Get("Content-Type") != c.ctype {
				t.Errorf("Content-Type %q, want %q", hd.Get("Content-Type"), c.ctype)
			}
		})
	}
}

func TestETagRevalidation(t *testing.T) {
	h := newLocal(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/js/app.js", nil))
	etag := rec.Header().Get("ETag")
	req := httptest.NewRequest("GET", "/console/js/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if etag == "" || rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("revalidation with ETag %q → %d (%d bytes), want 304 and no body", etag, rec.Code, rec.Body.Len())
	}
}

// The page's own HTML runs no inline script and no inline style, and no
// asset names anything outside the console (no CDN, no outside fonts).
func TestAssetsAreSelfContained(t *testing.T) {
	index, err := fs.ReadFile(console.Assets(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*>`).FindAll(index, -1) {
		if !regexp.MustCompile(`\bsrc="/console/`).Match(m) {
			t.Errorf("index.html has an inline or outside script: %s", m)
		}
	}
	for _, bad := range []string{"<style", " style=", " onload=", " onclick=", "javascript:"} {
		if strings.Contains(strings.ToLower(string(index)), bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	outside := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?https?:`)
	_ = fs.WalkDir(console.Assets(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(console.Assets(), p)
		if strings.HasSuffix(p, ".svg") {
			b = regexp.MustCompile(`xmlns="http://www.w3.org/2000/svg"`).ReplaceAll(b, nil)
		}
		if m := outside.Find(b); m != nil {
			t.Errorf("%s refers to something outside the console: %s", p, m)
		}
		return nil
	})
}

// The scripts build the page with createElement and textContent only:
// nothing that parses a string as HTML or code.
func TestScriptsNeverParseStrings(t *testing.T) {
	banned := []struct{ name, re string }{
		{"innerHTML", `\.innerHTML\b`},
		{"outerHTML", `\.outerHTML\b`},
		{"insertAdjacentHTML", `insertAdjacentHTML`},
		{"document.write", `document\.write`},
		{"eval", `\beval\s*\(`},
		{"Function constructor", `\bnew\s+Function\b`},
		{"string timer", `setTimeout\s*\(\s*['"]`},
		{"createContextualFragment", `createContextualFragment`},
		{"DOMParser", `DOMParser`},
		{"token in a URL", `[?&](access_)?token=`},
		{"localStorage (outlives the tab)", `localStorage`},
		{"cookies", `document\.cookie`},
	}
	n := 0
	_ = fs.WalkDir(console.Assets(), "js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, _ := fs.ReadFile(console.Assets(), p)
		for _, ban := range banned {
			if loc := regexp.MustCompile(ban.re).FindIndex(b); loc != nil {
				line := 1 + strings.Count(string(b[:loc[0]]), "\n")
				t.Errorf("%s:%d uses %s", p, line, ban.name)
			}
		}
		return nil
	})
	if n < 5 {
		t.Fatalf("found %d scripts, want the console's", n)
	}
}

func TestOIDCConfig(t *testing.T) {
	good := console.OIDC{
		AuthorizeURL: "https://eden.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
		TokenURL:     "https://eden.auth.eu-west-1.amazoncognito.com/oauth2/token",
		ClientID:     "abc123", RedirectURL: "https://api.example.org/",
	}
	h, err := console.New(console.Config{Plane: "aws", OIDC: &good})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.CSP(), "connect-src 'self' https://eden.auth.eu-west-1.amazoncognito.com;") {
		t.Errorf("CSP %q does not let the console reach the token endpoint (only it)", h.CSP())
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/config.json", nil))
	for _, want := range []string{`"client_id":"abc123"`, `"scopes":["openid","email"]`, `"plane":"aws"`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("config.json %s lacks %s", rec.Body, want)
		}
	}
	for name, c := range map[string]console.Config{
		"neither":             {},
		"both":                {Local: &console.Local{}, OIDC: &good},
		"plain http":          {OIDC: &console.OIDC{AuthorizeURL: "http://idp.example.org/a", TokenURL: good.TokenURL, ClientID: "x", RedirectURL: good.RedirectURL}},
		"no client":           {OIDC: &console.OIDC{AuthorizeURL: good.AuthorizeURL, TokenURL: good.TokenURL, RedirectURL: good.RedirectURL}},
		"javascript redirect": {OIDC: &console.OIDC{AuthorizeURL: good.AuthorizeURL, TokenURL: good.TokenURL, ClientID: "x", RedirectURL: "javascript:alert(1)"}},
	} {
		if _, err := console.New(c); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

func TestMount(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Api", "1") })
	h := console.Mount(api, newLocal(t))
	for path, wantAPI := range map[string]bool{"/v1": true, "/v1/health": true, "/": false, "/console/style.css": false, "/v1x": false} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if got := rec.Header().Get("X-Api") == "1"; got != wantAPI {
			t.Errorf("%s went to the API: %v, want %v", path, got, wantAPI)
		}
	}
}
