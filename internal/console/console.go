// Package console is Eden Deploy's web console: plain JavaScript modules
// and CSS, embedded in the binary and served by the same handler on both
// planes, beside the HTTP API (Mount): locally by `edenctl serve`, on AWS
// by the API function on public routes.
//
// The console is a client of the API and nothing else: it signs in (a
// local API token or an account's password; on AWS the user pool's hosted
// login with the authorization code and PKCE), keeps the bearer token in
// the tab's sessionStorage, and sends it in the Authorization header. The
// token never travels in a URL, a cookie or the page's HTML, and the
// console sets no cookie, so there is nothing for a cross-site request to
// ride on.
//
// What the handler guarantees, for every response:
//   - a strict Content-Security-Policy: scripts and styles only from the
//     console's own files (no inline script, no eval), connections only to
//     this origin (and, on AWS, the user pool's token endpoint), no
//     plug-ins, and frame-ancestors 'none' (with X-Frame-Options DENY);
//   - no outside network: every asset is embedded here, no CDN, no fonts
//     from elsewhere;
//   - the page's HTML is fixed: the scripts set every user string as text
//     (textContent, never innerHTML), which the tests check.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Assets returns the console's files (index.html, js/, style.css, ...).
func Assets() fs.FS {
	sub, _ := fs.Sub(assets, "assets")
	return sub
}

// Prefix is the path under which the console's files are served; the page
// itself is served at "/".
const Prefix = "/console/"

// Config says how the console signs people in. Exactly one of Local and
// OIDC is set.
type Config struct {
	Local *Local `json:"local,omitempty"`
	OIDC  *OIDC  `json:"oidc,omitempty"`
	// Plane names the control plane in the page's title bar ("local" or
	// "aws").
	Plane string `json:"plane"`
}

// Local is the local control plane's sign-in: API tokens always, and
// passwords of local accounts when Accounts is set.
type Local struct {
	Accounts     bool `json:"accounts"`
	Registration bool `json:"registration"`
}

// OIDC is an OAuth 2.0 authorization server with the authorization code
// flow and PKCE for a public client, such as a Cognito user pool's hosted
// login.
type OIDC struct {
	AuthorizeURL string   `json:"authorize_url"`
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	RedirectURL  string   `json:"redirect_url"`
	Scopes       []string `json:"scopes"`
	// SignUpURL, when set, is where people register themselves (the hosted
	// login's sign-up page, when the user pool allows self sign-up).
	SignUpURL string `json:"signup_url,omitempty"`
	// LogoutURL, when set, ends the hosted login's own session too.
	LogoutURL string `json:"logout_url,omitempty"`
}

// Handler serves the console. Build it with New.
type Handler struct {
	cfgJSON []byte
	csp     string
	files   map[string]file
}

type file struct {
	body  []byte
	ctype string
	etag  string
}

var _ http.Handler = (*Handler)(nil)

// New returns the console's handler for cfg.
func New(cfg Config) (*Handler, error) {
	if (cfg.Local == nil) == (cfg.OIDC == nil) {
		return nil, errors.New("console: exactly one of Local and OIDC sign-in is required")
	}
	connect := []string{"'self'"}
	if o := cfg.OIDC; o != nil {
		for name, u := range map[string]string{"authorize URL": o.AuthorizeURL, "token URL": o.TokenURL, "redirect URL": o.RedirectURL} {
			p, err := url.Parse(u)
			if err != nil || p.Host == "" || (p.Scheme != "https" && !(p.Scheme == "http" && isLoopback(p.Hostname()))) {
				return nil, fmt.Errorf("console: the %s %q is not an https URL", name, u)
			}
		}
		if o.ClientID == "" {
			return nil, errors.New("console: OIDC sign-in needs a client ID")
		}
		if len(o.Scopes) == 0 {
			o.Scopes = []string{"openid", "email"}
		}
		t, _ := url.Parse(o.TokenURL)
		connect = append(connect, t.Scheme+"://"+t.Host)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("console: config: %w", err)
	}
	h := &Handler{
		cfgJSON: cfgJSON,
		csp: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
			"connect-src " + strings.Join(connect, " ") + "; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
		files: map[string]file{},
	}
	err = fs.WalkDir(Assets(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Assets(), p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		h.files[p] = file{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: read assets: %w", err)
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, errors.New("console: index.html is missing from the assets")
	}
	sum := sha256.Sum256(cfgJSON)
	h.files["config.json"] = file{body: cfgJSON, ctype: "application/json", etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	return h, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// CSP returns the Content-Security-Policy the console is served with.
func (h *Handler) CSP() string { return h.csp }

// ServeHTTP serves "/" (the page) and the files under Prefix; anything
// else is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := ""
	switch {
	case r.URL.Path == "/" || r.URL.Path == "/index.html":
		name = "index.html"
	case strings.HasPrefix(r.URL.Path, Prefix):
		name = strings.TrimPrefix(r.URL.Path, Prefix)
	}
	f, ok := h.files[name]
	if !ok || name == "" || strings.Contains(name, "..") {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	// Revalidated on every load, so a new release is seen at once; the
	// ETag makes that a 304.
	hd.Set("Cache-Control", "no-cache")
	if match := r.Header.Get("If-None-Match"); match != "" && match == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// Mount returns a handler that sends /v1 and everything under it to api,
// and everything else to console.
func Mount(api, console http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/") {
			api.ServeHTTP(w, r)
			return
		}
		console.ServeHTTP(w, r)
	})
}
