package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edendeploy/edendeploy/internal/console"
)

// authServer stands in for a Cognito user pool's hosted login on loopback:
// the authorization endpoint checks the request as Cognito does for a
// public client and answers at once with a code (the login form itself is
// Cognito's, not the console's), and the token endpoint trades a code for
// tokens only with the PKCE verifier of its challenge, once.
type authServer struct {
	*httptest.Server
	clientID, redirect, origin string

	mu       sync.Mutex
	codes    map[string]string // code → its code_challenge
	issued   []string          // access tokens handed out
	problems []string          // requests refused, and why
	traded   int               // token requests answered 200
}

func newAuthServer(t *testing.T, clientID, redirect string) *authServer {
	a := &authServer{clientID: clientID, redirect: redirect, codes: map[string]string{}}
	u, _ := url.Parse(redirect)
	a.origin = u.Scheme + "://" + u.Host
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/authorize", a.authorize)
	mux.HandleFunc("POST /oauth2/token", a.token)
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) refuse(w http.ResponseWriter, why string) {
	a.mu.Lock()
	a.problems = append(a.problems, why)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": why})
}

func (a *authServer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code":
		a.refuse(w, "authorize: response_type "+q.Get("response_type"))
	case q.Get("client_id") != a.clientID:
		a.refuse(w, "authorize: client_id "+q.Get("client_id"))
	case q.Get("redirect_uri") != a.redirect:
		a.refuse(w, "authorize: redirect_uri "+q.Get("redirect_uri"))
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		a.refuse(w, "authorize: challenge "+q.Get("code_challenge_method")+" "+q.Get("code_challenge"))
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		a.refuse(w, "authorize: scope "+q.Get("scope"))
	case q.Get("state") == "":
		a.refuse(w, "authorize: no state")
	default:
		code := rand.Text()
		a.mu.Lock()
		a.codes[code] = q.Get("code_challenge")
		a.mu.Unlock()
		back, _ := url.Parse(a.redirect)
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
}

func (a *authServer) token(w http.ResponseWriter, r *http.Request) {
	// The console calls from its own origin: a simple CORS request (a
	// form body, no credentials), as Cognito's token endpoint allows.
	w.Header().Set("Access-Control-Allow-Origin", a.origin)
	if err := r.ParseForm(); err != nil {
		a.refuse(w, "token: "+err.Error())
		return
	}
	f := r.PostForm
	a.mu.Lock()
	challenge, known := a.codes[f.Get("code")]
	delete(a.codes, f.Get("code")) // a code is good once
	a.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case f.Get("grant_type") != "authorization_code":
		a.refuse(w, "token: grant_type "+f.Get("grant_type"))
	case f.Get("client_id") != a.clientID || f.Get("redirect_uri") != a.redirect:
		a.refuse(w, "token: client_id or redirect_uri")
	case !known:
		a.refuse(w, "token: unknown or used code")
	case base64.RawURLEncoding.EncodeToString(sum[:]) != challenge:
		a.refuse(w, "token: the verifier does not match the challenge")
	default:
		access := "eyJ" + rand.Text()
		a.mu.Lock()
		a.issued = append(a.issued, access)
		a.traded++
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": access, "id_token": "eyJ" + rand.Text(), "token_type": "Bearer", "expires_in": 3600,
		})
	}
}

// apiSeen is what the stand-in API behind the console saw: the bearer
// tokens of its requests and their URLs.
type apiSeen struct {
	mu      sync.Mutex
	bearers []string
	urls    []string
}

// TestConsoleHostedLogin signs in to the console as it runs on AWS: its
// Sign in button sends a real Chromium to the hosted login with a PKCE
// challenge, the code that comes back is traded at the token endpoint with
// the verifier, and the API is then called with the access token in the
// Authorization header, never in a URL; the code leaves the address bar.
// An answer that does not match the tab's sign-in, and a refusal by the
// hosted login, are said on the page and sign nobody in. (API Gateway's
// JWT authorizer, which checks the token on AWS, does not run here: the
// API is a stand-in that accepts the tokens the stand-in login issued.)
func TestConsoleHostedLogin(t *testing.T) {
	b := newBrowser(t)
	site := httptest.NewServer(nil)
	t.Cleanup(site.Close)
	const clientID = "console-client"
	idp := newAuthServer(t, clientID, site.URL+"/")

	var seen apiSeen
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		seen.mu.Lock()
		seen.bearers = append(seen.bearers, bearer)
		seen.urls = append(seen.urls, r.URL.String())
		seen.mu.Unlock()
		idp.mu.Lock()
		ok := bearer != "" && contains(idp.issued, bearer)
		idp.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case !ok:
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"title":"Unauthorized","status":401}`))
		case r.URL.Path == "/v1/me":
			w.Write([]byte(`{"user":"alice@example.org","admin":false}`))
		case r.URL.Path == "/v1/deployments":
			w.Write([]byte(`{"items":[]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"title":"Not Found","status":404}`))
		}
	})
	h, err := console.New(console.Config{Plane: "aws", OIDC: &console.OIDC{
		AuthorizeURL: idp.URL + "/oauth2/authorize", TokenURL: idp.URL + "/oauth2/token",
		ClientID: clientID, RedirectURL: site.URL + "/", Scopes: []string{"openid", "email"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	site.Config.Handler = console.Mount(api, h)

	alice := b.tab("alice")
	alice.goTo(site.URL, "#/signin")
	alice.run("sign in through the hosted login", clickButton("Sign in"))
	alice.waitFor("signed in", `document.querySelector('.who')?.textContent.includes('alice@example.org')`)
	alice.waitFor("the deployments page", `document.querySelector('main h1')?.textContent === 'Deployments'`)
	alice.shot("hosted-login-signed-in")
	if q := evalAs[string](alice, `location.search`); q != "" {
		t.Errorf("the address bar keeps %q after the sign-in", q)
	}
	if left := evalAs[bool](alice, `sessionStorage.getItem('eden.pkce') !== null`); left {
		t.Errorf("the PKCE verifier is left in sessionStorage after the sign-in")
	}
	idp.mu.Lock()
	issued, traded, problems := append([]string(nil), idp.issued...), idp.traded, append([]string(nil), idp.problems...)
	idp.mu.Unlock()
	if traded != 1 || len(problems) != 0 {
		t.Fatalf("the hosted login traded %d codes for tokens, refused %v; want 1, none", traded, problems)
	}
	seen.mu.Lock()
	for i, bearer := range seen.bearers {
		if bearer != issued[0] {
			t.Errorf("API request %s carried bearer %q, want the access token", seen.urls[i], bearer)
		}
	}
	for _, u := range seen.urls {
		if strings.Contains(u, issued[0]) {
			t.Errorf("the access token is in the URL %s", u)
		}
	}
	if len(seen.urls) < 2 {
		t.Errorf("the API saw %v; want /v1/me, then the deployments", seen.urls)
	}
	seen.mu.Unlock()

	// Answers that do not come from this tab's sign-in, or a refusal: each
	// in a fresh tab (a person's new session), said on the page. (No
	// subtests: a tab fails the test that made the browser.)
	for _, tc := range []struct{ name, query, says string }{
		{"forged state", "?code=" + rand.Text() + "&state=forged", "does not match this tab"},
		{"refused", "?error=access_denied&error_description=" + url.QueryEscape("User is disabled."), "User is disabled."},
	} {
		tb := b.tab(tc.name)
		tb.run("open the answer", chromedp.Navigate(site.URL+"/"+tc.query))
		tb.waitFor("the message", `document.getElementById('status')?.textContent.includes(`+strconv.Quote(tc.says)+`)`)
		tb.shot("hosted-login-" + tc.name)
		if q := evalAs[string](tb, `location.search`); q != "" {
			t.Errorf("%s: the address bar keeps %q", tc.name, q)
		}
		if s := evalAs[string](tb, `sessionStorage.getItem('eden.session') || ''`); s != "" {
			t.Errorf("%s: signed in: %s", tc.name, s)
		}
	}
	idp.mu.Lock()
	if idp.traded != 1 {
		t.Errorf("the token endpoint traded %d codes, want still 1", idp.traded)
	}
	idp.mu.Unlock()
	if alerts, exceptions := b.problems(); len(alerts)+len(exceptions) != 0 {
		t.Errorf("the pages opened dialogs %v or threw %v", alerts, exceptions)
	}
}
