package httpapi_test

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
)

func TestListDeploymentsByName(t *testing.T) {
	e := httpapitest.New(t)
	site1, _ := created(t, e, e.Alice, "site", "10.0.0.1")
	created(t, e, e.Alice, "other", "10.0.0.2")
	site2, _ := created(t, e, e.Alice, "site", "10.0.0.3")
	bobs, _ := created(t, e, e.Bob, "site", "10.0.0.4")
	spaced, _ := created(t, e, e.Bob, "Relief Ops", "10.0.0.5")

	ids := func(token, query string) []string {
		t.Helper()
		m := check(t, e.Do("GET", "/v1/deployments?"+query, token, ""), "GET", "/v1/deployments", 200)
		var out []string
		for _, it := range m["items"].([]any) {
			out = append(out, it.(map[string]any)["id"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		name, token, query string
		want               []string
	}{
		{"a user's own of that name", e.Alice, "name=site", []string{site2, site1}},
		{"not another user's", e.Bob, "name=site", []string{bobs}},
		{"an admin sees everyone's", e.Root, "name=site", []string{bobs, site2, site1}},
		{"an escaped name", e.Bob, "name=" + url.QueryEscape("Relief Ops"), []string{spaced}},
		{"no such name", e.Alice, "name=nothing", nil},
		{"an empty name lists all", e.Alice, "name=", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(tc.token, tc.query)
			if tc.query == "name=" {
				if len(got) != 3 {
					t.Errorf("name= listed %v, want alice's three", got)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
