package control_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestFindDeployments(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	bob := control.Caller{User: "bob"}
	root := control.Caller{User: "root", Admin: true}
	ids := map[string][]string{} // "owner/name" → IDs, newest first
	host := 0
	create := func(c control.Caller, name string) {
		req := threeTier()
		req.Spec.Name = name
		for i := range req.Spec.Servers {
			host++
			req.Spec.Servers[i].Host = fmt.Sprintf("10.1.%d.%d", host/250, host%250+1)
		}
		d, _, err := r.svc.CreateDeployment(ctx, c, req)
		if err != nil {
			t.Fatal(err)
		}
		k := c.User + "/" + name
		ids[k] = append([]string{d.ID}, ids[k]...)
	}
	// Alice's "relief" is her oldest, behind many others, and she has a
	// second one; bob has one too.
	create(alice, "relief")
	for i := range 7 {
		create(alice, fmt.Sprintf("site-%d", i))
	}
	create(bob, "relief")
	create(alice, "relief")

	all := func(c control.Caller, name string, limit int) (got []string, pages int) {
		p := deploy.Page{Limit: limit}
		for {
			ds, next, err := r.svc.FindDeployments(ctx, c, name, p)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(ds) > limit {
				t.Errorf("a page of %d for limit %d", len(ds), limit)
			}
			for _, d := range ds {
				if d.Name != name {
					t.Errorf("%s is called %q, not %q", d.ID, d.Name, name)
				}
				got = append(got, d.ID)
			}
			if next == "" {
				return got, pages
			}
			p.Cursor = next
		}
	}
	for _, tc := range []struct {
		name   string
		caller control.Caller
		find   string
		limit  int
		want   []string
	}{
		{"a user's own, across pages", alice, "relief", 2, ids["alice/relief"]},
		{"one page when they fit", alice, "relief", 50, ids["alice/relief"]},
		{"not another user's", bob, "relief", 50, ids["bob/relief"]},
		{"an admin's: everyone's", root, "relief", 3, []string{ids["alice/relief"][0], ids["bob/relief"][0], ids["alice/relief"][1]}},
		{"exact names only", alice, "Relief", 50, nil},
		{"none", bob, "site-1", 50, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := all(tc.caller, tc.find, tc.limit)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if tc.limit == 50 && pages != 1 {
				t.Errorf("%d pages for one store page", pages)
			}
		})
	}
}
