package lambdafn

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/config"
)

func TestWithConsole(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	cognito := config.Console{
		URL: "https://abc.execute-api.eu-west-1.amazonaws.com/", ClientID: "client",
		AuthorizeURL: "https://eden.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
		TokenURL:     "https://eden.auth.eu-west-1.amazoncognito.com/oauth2/token",
	}
	for _, c := range []struct {
		name      string
		cfg       config.Console
		wantErr   bool
		rootCode  int
		apiCode   int
		cspOrigin string
	}{
		{"no console", config.Console{}, false, http.StatusTeapot, http.StatusTeapot, ""},
		{"cognito", cognito, false, http.StatusOK, http.StatusTeapot, "https://eden.auth.eu-west-1.amazoncognito.com"},
		{"missing endpoints", config.Console{URL: cognito.URL, ClientID: "client"}, true, 0, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := withConsole(api, c.cfg)
			if (err != nil) != c.wantErr {
				t.Fatalf("withConsole: %v, want error %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != c.rootCode {
				t.Errorf("GET / → %d, want %d", rec.Code, c.rootCode)
			}
			if c.cspOrigin != "" && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "connect-src 'self' "+c.cspOrigin+";") {
				t.Errorf("CSP %q does not allow only the token endpoint's origin", rec.Header().Get("Content-Security-Policy"))
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/deployments", nil))
			if rec.Code != c.apiCode {
				t.Errorf("GET /v1/deployments → %d, want the API's %d", rec.Code, c.apiCode)
			}
		})
	}
}
