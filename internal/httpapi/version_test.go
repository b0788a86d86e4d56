package httpapi_test

import (
	"testing"

	"github.com/edendeploy/edendeploy/internal/buildinfo"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
)

func TestVersion(t *testing.T) {
	stamped := buildinfo.Info{Version: "v1.2.0", Commit: "0123abcd", GoVersion: "go1.26.8"}
	for _, tc := range []struct {
		name  string
		opts  []httpapitest.Option
		token func(e *httpapitest.Env) string
		want  buildinfo.Info
	}{
		{"the configured build, without a token", []httpapitest.Option{func(c *httpapi.Config) { c.Build = &stamped }},
			func(*httpapitest.Env) string { return "" }, stamped},
		{"the running binary's by default, with a token", nil,
			func(e *httpapitest.Env) string { return e.Alice }, buildinfo.Get()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := httpapitest.New(t, tc.opts...)
			m := check(t, e.Do("GET", "/v1/version", tc.token(e), ""), "GET", "/v1/version", 200)
			got := buildinfo.Info{Version: m["version"].(string), Commit: m["commit"].(string), GoVersion: m["go_version"].(string)}
			if got != tc.want {
				t.Errorf("GET /v1/version = %+v, want %+v", got, tc.want)
			}
		})
	}
}
