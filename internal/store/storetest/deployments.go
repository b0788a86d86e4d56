package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func testCreate(h *harness) {
	t := h.t
	d, first := newDeployment("alice", t0,
		server("10.0.0.1", deploy.RoleDB, "i-0000000000000001"),
		server("10.0.0.2", deploy.RoleEden, ""),
		server("web.example.org", deploy.RoleWebServer, "i-0000000000000003"))
	want, wantRun := *d, *first
	wantNoError(t, h.s.CreateDeployment(h.ctx, d, first), "CreateDeployment")
	if d.Version != 1 || first.Version != 1 {
		t.Fatalf("versions after create: deployment %d, run %d; want 1 and 1", d.Version, first.Version)
	}
	want.Version, wantRun.Version = 1, 1

	got, err := h.s.GetDeployment(h.ctx, d.ID)
	wantNoError(t, err, "GetDeployment")
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("GetDeployment (-want +got):\n%s", diff)
	}
	gotRun, err := h.s.GetRun(h.ctx, d.ID, first.ID)
	wantNoError(t, err, "GetRun")
	if diff := cmp.Diff(&wantRun, gotRun); diff != "" {
		t.Errorf("GetRun (-want +got):\n%s", diff)
	}
	active, err := h.s.ActiveRun(h.ctx, d.ID)
	wantNoError(t, err, "ActiveRun")
	if active.ID != first.ID {
		t.Errorf("ActiveRun = %s, want the first run %s", active.ID, first.ID)
	}
	for _, s := range want.Servers {
		depID, gotS, err := h.s.FindServerByHost(h.ctx, s.Host)
		wantNoError(t, err, "FindServerByHost "+s.Host)
		if depID != d.ID || !cmp.Equal(s, gotS) {
			t.Errorf("FindServerByHost(%s) = %s, %+v; want %s, %+v", s.Host, depID, gotS, d.ID, s)
		}
		if s.InstanceID == "" {
			continue
		}
		depID, gotS, err = h.s.FindServerByInstanceID(h.ctx, s.InstanceID)
		wantNoError(t, err, "FindServerByInstanceID "+s.InstanceID)
		if depID != d.ID || !cmp.Equal(s, gotS) {
			t.Errorf("FindServerByInstanceID(%s) = %s, %+v; want %s, %+v", s.InstanceID, depID, gotS, d.ID, s)
		}
	}
	// What the store returns is a copy: changing it changes nothing stored.
	got.Instances[0].Settings["base.debug"] = false
	got.Servers[0].Host = "changed"
	again, err := h.s.GetDeployment(h.ctx, d.ID)
	wantNoError(t, err, "GetDeployment again")
	if diff := cmp.Diff(&want, again); diff != "" {
		t.Errorf("GetDeployment after changing a returned copy (-want +got):\n%s", diff)
	}
}

func testCreateDuplicate(h *harness) {
	t := h.t
	d, _ := h.createOn("10.0.0.1")
	again, run := newDeployment("alice", t0, server("10.0.0.2", deploy.RoleAll, ""))
	again.ID, run.DeploymentID = d.ID, d.ID
	wantKind(t, h.s.CreateDeployment(h.ctx, again, run), deploy.KindConflict, "CreateDeployment with an existing ID")
	_, err := h.s.GetRun(h.ctx, d.ID, run.ID)
	wantKind(t, err, deploy.KindNotFound, "GetRun of the refused deployment's run")
	_, _, err = h.s.FindServerByHost(h.ctx, "10.0.0.2")
	wantKind(t, err, deploy.KindNotFound, "FindServerByHost of the refused deployment's host")
	got, err := h.s.GetDeployment(h.ctx, d.ID)
	wantNoError(t, err, "GetDeployment")
	if got.Name != d.Name || got.Version != 1 {
		t.Errorf("stored deployment changed: name %q version %d", got.Name, got.Version)
	}
}

// wantNothingOf checks that nothing of a refused deployment was written.
func (h *harness) wantNothingOf(d *deploy.Deployment, r *deploy.Run, freeHosts []string, freeInstanceIDs []string) {
	t := h.t
	t.Helper()
	_, err := h.s.GetDeployment(h.ctx, d.ID)
	wantKind(t, err, deploy.KindNotFound, "GetDeployment of the refused deployment")
	_, err = h.s.GetRun(h.ctx, d.ID, r.ID)
	wantKind(t, err, deploy.KindNotFound, "GetRun of the refused deployment's run")
	_, err = h.s.ActiveRun(h.ctx, d.ID)
	wantKind(t, err, deploy.KindNotFound, "ActiveRun of the refused deployment")
	rs, _, err := h.s.ListRuns(h.ctx, d.ID, deploy.Page{})
	wantNoError(t, err, "ListRuns of the refused deployment")
	if len(rs) != 0 {
		t.Errorf("ListRuns of the refused deployment = %v, want none", runIDs(rs))
	}
	ds, _, err := h.s.ListDeployments(h.ctx, d.Owner, deploy.Page{})
	wantNoError(t, err, "ListDeployments of the refused deployment's owner")
	if len(ds) != 0 {
		t.Errorf("ListDeployments(%s) = %v, want none", d.Owner, depIDs(ds))
	}
	for _, host := range freeHosts {
		_, _, err := h.s.FindServerByHost(h.ctx, host)
		wantKind(t, err, deploy.KindNotFound, "FindServerByHost "+host+" (claimed by the refused deployment?)")
	}
	for _, id := range freeInstanceIDs {
		_, _, err := h.s.FindServerByInstanceID(h.ctx, id)
		wantKind(t, err, deploy.KindNotFound, "FindServerByInstanceID "+id+" (claimed by the refused deployment?)")
	}
}

func testCreateClaimedHost(h *harness) {
	t := h.t
	first, _ := h.createOn("10.0.0.5")
	d, r := newDeployment("bob", t0.Add(time.Minute),
		server("10.0.1.1", deploy.RoleDB, "i-00000000000000b1"),
		server("10.0.1.2", deploy.RoleEden, ""),
		server("10.0.0.5", deploy.RoleWebServer, ""))
	err := h.s.CreateDeployment(h.ctx, d, r)
	wantKind(t, err, deploy.KindConflict, "CreateDeployment with a claimed host")
	wantMentions(t, err, "the conflict", "10.0.0.5", first.ID)
	h.wantNothingOf(d, r, []string{"10.0.1.1", "10.0.1.2"}, []string{"i-00000000000000b1"})
	depID, _, err := h.s.FindServerByHost(h.ctx, "10.0.0.5")
	wantNoError(t, err, "FindServerByHost of the claimed host")
	if depID != first.ID {
		t.Errorf("10.0.0.5 belongs to %s, want %s", depID, first.ID)
	}
	// The refused deployment left no claim behind: without the taken host
	// it can be created.
	d.Servers = d.Servers[:2]
	wantNoError(t, h.s.CreateDeployment(h.ctx, d, r), "CreateDeployment without the claimed host")
}

func testCreateClaimedInstanceID(h *harness) {
	t := h.t
	first, _ := h.create("alice", t0, server("10.0.0.1", deploy.RoleAll, "i-0123456789abcdef0"))
	d, r := newDeployment("bob", t0.Add(time.Minute),
		server("10.0.1.1", deploy.RoleDB, ""),
		server("10.0.1.2", deploy.RoleEden, ""),
		server("10.0.1.3", deploy.RoleWebServer, "i-0123456789abcdef0"))
	err := h.s.CreateDeployment(h.ctx, d, r)
	wantKind(t, err, deploy.KindConflict, "CreateDeployment with a claimed instance ID")
	wantMentions(t, err, "the conflict", "i-0123456789abcdef0", first.ID)
	h.wantNothingOf(d, r, []string{"10.0.1.1", "10.0.1.2", "10.0.1.3"}, nil)
}

func testGetMissing(h *harness) {
	_, err := h.s.GetDeployment(h.ctx, "d-missing")
	wantKind(h.t, err, deploy.KindNotFound, "GetDeployment of a missing deployment")
	_, _, err = h.s.FindServerByHost(h.ctx, "10.9.9.9")
	wantKind(h.t, err, deploy.KindNotFound, "FindServerByHost of an unknown host")
	_, _, err = h.s.FindServerByInstanceID(h.ctx, "i-0000000000000009")
	wantKind(h.t, err, deploy.KindNotFound, "FindServerByInstanceID of an unknown instance")
	_, err = h.s.GetRun(h.ctx, "d-missing", "r-missing")
	wantKind(h.t, err, deploy.KindNotFound, "GetRun of a missing deployment")
	_, err = h.s.ActiveRun(h.ctx, "d-missing")
	wantKind(h.t, err, deploy.KindNotFound, "ActiveRun of a missing deployment")
}

// listAll pages through a listing and returns every page's IDs.
func listAll(t *testing.T, limit int, list func(p deploy.Page) ([]string, string, error)) [][]string {
	t.Helper()
	var pages [][]string
	p := deploy.Page{Limit: limit}
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatal("listing does not end")
		}
		got, next, err := list(p)
		wantNoError(t, err, "list page "+label(i))
		pages = append(pages, got)
		if next == "" {
			return pages
		}
		p.Cursor = next
	}
}

func testListDeployments(h *harness) {
	t := h.t
	var alice, all []string
	for i := range 5 {
		d, _ := h.create("alice", t0.Add(time.Duration(i)*time.Hour), server("10.0.2."+label(i)[1:], deploy.RoleAll, ""))
		alice = append([]string{d.ID}, alice...)
	}
	b1, _ := h.create("bob", t0.Add(90*time.Minute), server("10.0.3.1", deploy.RoleAll, ""))
	// Same creation time as b1: the ID breaks the tie (greater ID first).
	b2, _ := h.create("bob", t0.Add(90*time.Minute), server("10.0.3.2", deploy.RoleAll, ""))
	bob := []string{b1.ID, b2.ID}
	if b2.ID > b1.ID {
		bob = []string{b2.ID, b1.ID}
	}
	all = []string{alice[0], alice[1], alice[2], bob[0], bob[1], alice[3], alice[4]}

	lister := func(owner string) func(p deploy.Page) ([]string, string, error) {
		return func(p deploy.Page) ([]string, string, error) {
			ds, next, err := h.s.ListDeployments(h.ctx, owner, p)
			for _, d := range ds {
				if owner != "" && d.Owner != owner {
					t.Errorf("ListDeployments(%q) returned %s of %s", owner, d.ID, d.Owner)
				}
				if len(d.Servers) == 0 || len(d.Instances) == 0 {
					t.Errorf("ListDeployments returned %s without its servers or instances", d.ID)
				}
			}
			return depIDs(ds), next, err
		}
	}
	tests := []struct {
		name  string
		owner string
		limit int
		want  [][]string
	}{
		{"alice in pages of 2", "alice", 2, [][]string{alice[0:2], alice[2:4], alice[4:5]}},
		{"alice in one page", "alice", 0, [][]string{alice}},
		{"alice exactly one full page", "alice", 5, [][]string{alice}},
		{"bob", "bob", 2, [][]string{bob}},
		{"everyone", "", 3, [][]string{all[0:3], all[3:6], all[6:7]}},
		{"nobody", "carol", 2, [][]string{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listAll(t, tt.limit, lister(tt.owner))
			if diff := cmp.Diff(tt.want, got, cmp.Transformer("nilEmpty", func(s []string) []string {
				if s == nil {
					return []string{}
				}
				return s
			})); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}

	// A cursor continues only the listing that made it.
	_, aliceNext, err := h.s.ListDeployments(h.ctx, "alice", deploy.Page{Limit: 2})
	wantNoError(t, err, "ListDeployments alice")
	_, _, err = h.s.ListDeployments(h.ctx, "bob", deploy.Page{Limit: 2, Cursor: aliceNext})
	wantKind(t, err, deploy.KindInvalid, "ListDeployments(bob) with alice's cursor")
	_, _, err = h.s.ListRuns(h.ctx, alice[0], deploy.Page{Limit: 2, Cursor: aliceNext})
	wantKind(t, err, deploy.KindInvalid, "ListRuns with a deployments cursor")
}

func testListEmpty(h *harness) {
	ds, next, err := h.s.ListDeployments(h.ctx, "", deploy.Page{})
	wantNoError(h.t, err, "ListDeployments of an empty store")
	if len(ds) != 0 || next != "" {
		h.t.Errorf("ListDeployments of an empty store = %v, %q; want none", depIDs(ds), next)
	}
}

// forgedCursors are cursors no store made.
var forgedCursors = []struct{ name, cursor string }{
	{"not base64", "!!not a cursor!!"},
	{"base64 of junk", "aGVsbG8gd29ybGQ"},
	{"JSON without a position", "eyJ2IjoxLCJsIjoiZGVwbG95bWVudHMiLCJzIjoiIiwiYSI6IiJ9"},
	{"unknown field", "eyJ4IjoxfQ"},
	{"very long", string(make([]byte, 5000))},
}

func testListForgedCursor(h *harness) {
	for _, c := range forgedCursors {
		h.t.Run(c.name, func(t *testing.T) {
			_, _, err := h.s.ListDeployments(h.ctx, "alice", deploy.Page{Cursor: c.cursor})
			wantKind(t, err, deploy.KindInvalid, "ListDeployments with a forged cursor")
			_, _, err = h.s.ListDeployments(h.ctx, "", deploy.Page{Cursor: c.cursor})
			wantKind(t, err, deploy.KindInvalid, "ListDeployments (everyone) with a forged cursor")
			_, _, err = h.s.ListRuns(h.ctx, "d-x", deploy.Page{Cursor: c.cursor})
			wantKind(t, err, deploy.KindInvalid, "ListRuns with a forged cursor")
		})
	}
	_, _, err := h.s.ListDeployments(h.ctx, "alice", deploy.Page{Limit: -1})
	wantKind(h.t, err, deploy.KindInvalid, "ListDeployments with a negative limit")
}

func testUpdateDeployment(h *harness) {
	t := h.t
	d, _ := h.createOn("10.0.0.1")
	stored := *d
	stored.Servers = append([]deploy.Server(nil), d.Servers...)

	d.Name = "renamed"
	d.Degraded = "db server left"
	d.UpdatedAt = t0.Add(time.Hour)
	d.Instances = append([]deploy.Instance(nil), d.Instances...)
	d.Instances[0].Status = deploy.InstanceDeployed
	d.Instances[0].Settings = deploy.Settings{"base.template": "SAMBRO", "mail.limit": int64(10)}
	d.Instances[0].SettingsVersion = 2
	// UpdateDeployment does not store servers: AddServer and RemoveServer do.
	d.Servers = []deploy.Server{server("10.9.9.9", deploy.RoleAll, "")}
	wantNoError(t, h.s.UpdateDeployment(h.ctx, d), "UpdateDeployment")
	if d.Version != 2 {
		t.Errorf("version after update = %d, want 2", d.Version)
	}
	want := *d
	want.Servers = stored.Servers
	got, err := h.s.GetDeployment(h.ctx, d.ID)
	wantNoError(t, err, "GetDeployment")
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("stored after UpdateDeployment (-want +got):\n%s", diff)
	}
	_, _, err = h.s.FindServerByHost(h.ctx, "10.9.9.9")
	wantKind(t, err, deploy.KindNotFound, "FindServerByHost of a server UpdateDeployment must not store")

	tests := []struct {
		name   string
		change func(d *deploy.Deployment)
		kind   deploy.Kind
	}{
		{"stale version", func(d *deploy.Deployment) { d.Version = 1 }, deploy.KindConflict},
		{"future version", func(d *deploy.Deployment) { d.Version = 7 }, deploy.KindConflict},
		{"two instances of one type", func(d *deploy.Deployment) {
			d.Instances = append(d.Instances, d.Instances[0])
		}, deploy.KindConflict},
		{"missing deployment", func(d *deploy.Deployment) { d.ID = "d-missing" }, deploy.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *got
			c.Instances = append([]deploy.Instance(nil), got.Instances...)
			c.Name = "must not be stored"
			tt.change(&c)
			wantKind(t, h.s.UpdateDeployment(h.ctx, &c), tt.kind, "UpdateDeployment")
			after, err := h.s.GetDeployment(h.ctx, d.ID)
			wantNoError(t, err, "GetDeployment")
			if diff := cmp.Diff(&want, after); diff != "" {
				t.Errorf("refused update changed the deployment (-want +got):\n%s", diff)
			}
		})
	}
}

func testDeleteDeployment(h *harness) {
	t := h.t
	d, first := h.create("alice", t0,
		server("10.0.0.1", deploy.RoleDB, "i-00000000000000d1"),
		server("10.0.0.2", deploy.RoleEden, ""),
		server("10.0.0.3", deploy.RoleWebServer, ""))
	other, otherRun := h.createOn("10.0.0.4")
	h.finish(first, deploy.RunSucceeded)
	runs := []*deploy.Run{first}
	for range 3 {
		h.tick()
		r := h.newRun(d, deploy.RunRestart)
		wantNoError(t, h.s.CreateRun(h.ctx, r), "CreateRun")
		runs = append(runs, r)
		if len(runs) < 4 {
			h.finish(r, deploy.RunFailed)
		}
	}

	wantNoError(t, h.s.DeleteDeployment(h.ctx, d.ID), "DeleteDeployment")
	_, err := h.s.GetDeployment(h.ctx, d.ID)
	wantKind(t, err, deploy.KindNotFound, "GetDeployment after delete")
	for _, r := range runs {
		_, err := h.s.GetRun(h.ctx, d.ID, r.ID)
		wantKind(t, err, deploy.KindNotFound, "GetRun "+r.ID+" after delete")
	}
	_, err = h.s.ActiveRun(h.ctx, d.ID)
	wantKind(t, err, deploy.KindNotFound, "ActiveRun after delete")
	rs, _, err := h.s.ListRuns(h.ctx, d.ID, deploy.Page{})
	wantNoError(t, err, "ListRuns after delete")
	if len(rs) != 0 {
		t.Errorf("ListRuns after delete = %v, want none", runIDs(rs))
	}
	for _, s := range d.Servers {
		_, _, err := h.s.FindServerByHost(h.ctx, s.Host)
		wantKind(t, err, deploy.KindNotFound, "FindServerByHost "+s.Host+" after delete")
	}
	_, _, err = h.s.FindServerByInstanceID(h.ctx, "i-00000000000000d1")
	wantKind(t, err, deploy.KindNotFound, "FindServerByInstanceID after delete")
	ds, _, err := h.s.ListDeployments(h.ctx, "alice", deploy.Page{})
	wantNoError(t, err, "ListDeployments after delete")
	if diff := cmp.Diff([]string{other.ID}, depIDs(ds)); diff != "" {
		t.Errorf("ListDeployments after delete (-want +got):\n%s", diff)
	}
	wantKind(t, h.s.DeleteDeployment(h.ctx, d.ID), deploy.KindNotFound, "DeleteDeployment again")

	// The other deployment is untouched.
	if _, err := h.s.GetRun(h.ctx, other.ID, otherRun.ID); err != nil {
		t.Errorf("GetRun of another deployment's run after delete: %v", err)
	}
	// The released hosts and instance ID can be claimed again.
	again, r := newDeployment("bob", t0.Add(time.Hour), d.Servers...)
	wantNoError(t, h.s.CreateDeployment(h.ctx, again, r), "CreateDeployment on the released hosts")
	depID, _, err := h.s.FindServerByInstanceID(h.ctx, "i-00000000000000d1")
	wantNoError(t, err, "FindServerByInstanceID")
	if depID != again.ID {
		t.Errorf("instance belongs to %s, want %s", depID, again.ID)
	}
}

func testServers(h *harness) {
	t := h.t
	d, _ := h.create("alice", t0,
		server("10.0.0.1", deploy.RoleDB, ""),
		server("10.0.0.2", deploy.RoleEden, ""),
		server("10.0.0.3", deploy.RoleWebServer, ""))
	other, _ := h.createOn("10.0.0.9")
	joined := deploy.Server{Host: "10.0.0.4", Role: deploy.RoleEden, InstanceID: "i-0aaaaaaaaaaaaaaa4", Origin: deploy.OriginAutoscaling, AddedAt: t0.Add(time.Hour)}
	wantNoError(t, h.s.AddServer(h.ctx, d.ID, joined), "AddServer")

	got, err := h.s.GetDeployment(h.ctx, d.ID)
	wantNoError(t, err, "GetDeployment")
	wantServers := append(append([]deploy.Server(nil), d.Servers...), joined)
	if diff := cmp.Diff(wantServers, got.Servers); diff != "" {
		t.Errorf("servers after AddServer (-want +got):\n%s", diff)
	}
	if got.Version != 2 {
		t.Errorf("version after AddServer = %d, want 2", got.Version)
	}
	for name, find := range map[string]func() (string, deploy.Server, error){
		"FindServerByHost":       func() (string, deploy.Server, error) { return h.s.FindServerByHost(h.ctx, joined.Host) },
		"FindServerByInstanceID": func() (string, deploy.Server, error) { return h.s.FindServerByInstanceID(h.ctx, joined.InstanceID) },
	} {
		depID, s, err := find()
		wantNoError(t, err, name)
		if depID != d.ID || !cmp.Equal(joined, s) {
			t.Errorf("%s = %s, %+v; want %s, %+v", name, depID, s, d.ID, joined)
		}
	}

	refused := []struct {
		name    string
		depID   string
		s       deploy.Server
		kind    deploy.Kind
		mention []string
	}{
		{"host of another deployment", d.ID, server("10.0.0.9", deploy.RoleEden, ""), deploy.KindConflict, []string{"10.0.0.9", other.ID}},
		{"host already in the deployment", d.ID, server("10.0.0.1", deploy.RoleEden, ""), deploy.KindConflict, []string{"10.0.0.1"}},
		{"instance ID of another server", other.ID, server("10.0.0.5", deploy.RoleEden, joined.InstanceID), deploy.KindConflict, []string{joined.InstanceID, d.ID}},
		{"missing deployment", "d-missing", server("10.0.0.6", deploy.RoleEden, ""), deploy.KindNotFound, nil},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			err := h.s.AddServer(h.ctx, tt.depID, tt.s)
			wantKind(t, err, tt.kind, "AddServer")
			wantMentions(t, err, "AddServer", tt.mention...)
			if tt.s.Host != "10.0.0.9" && tt.s.Host != "10.0.0.1" {
				_, _, err := h.s.FindServerByHost(h.ctx, tt.s.Host)
				wantKind(t, err, deploy.KindNotFound, "FindServerByHost of the refused server")
			}
			for _, id := range []string{d.ID, other.ID} {
				after, err := h.s.GetDeployment(h.ctx, id)
				wantNoError(t, err, "GetDeployment")
				if id == d.ID && (after.Version != 2 || len(after.Servers) != 4) {
					t.Errorf("refused AddServer changed %s: version %d, %d servers", id, after.Version, len(after.Servers))
				}
				if id == other.ID && (after.Version != 1 || len(after.Servers) != 1) {
					t.Errorf("refused AddServer changed %s: version %d, %d servers", id, after.Version, len(after.Servers))
				}
			}
		})
	}

	wantKind(t, h.s.RemoveServer(h.ctx, d.ID, "10.0.0.9"), deploy.KindNotFound, "RemoveServer of another deployment's host")
	wantKind(t, h.s.RemoveServer(h.ctx, d.ID, "10.7.7.7"), deploy.KindNotFound, "RemoveServer of an unknown host")
	wantKind(t, h.s.RemoveServer(h.ctx, "d-missing", "10.0.0.1"), deploy.KindNotFound, "RemoveServer on a missing deployment")
	if depID, _, err := h.s.FindServerByHost(h.ctx, "10.0.0.9"); err != nil || depID != other.ID {
		t.Errorf("FindServerByHost(10.0.0.9) after a refused remove = %s, %v; want %s", depID, err, other.ID)
	}

	wantNoError(t, h.s.RemoveServer(h.ctx, d.ID, joined.Host), "RemoveServer")
	got, err = h.s.GetDeployment(h.ctx, d.ID)
	wantNoError(t, err, "GetDeployment")
	if diff := cmp.Diff(d.Servers, got.Servers); diff != "" {
		t.Errorf("servers after RemoveServer (-want +got):\n%s", diff)
	}
	if got.Version != 3 {
		t.Errorf("version after RemoveServer = %d, want 3", got.Version)
	}
	_, _, err = h.s.FindServerByHost(h.ctx, joined.Host)
	wantKind(t, err, deploy.KindNotFound, "FindServerByHost after RemoveServer")
	_, _, err = h.s.FindServerByInstanceID(h.ctx, joined.InstanceID)
	wantKind(t, err, deploy.KindNotFound, "FindServerByInstanceID after RemoveServer")
	// The released host and instance can join another deployment.
	wantNoError(t, h.s.AddServer(h.ctx, other.ID, joined), "AddServer of the released server to another deployment")
}

// testDeleteLargeDeployment deletes a deployment that grew, one server at a
// time, past what one DynamoDB transaction can release (100 items): 60
// autoscaled servers hold 120 claims.
func testDeleteLargeDeployment(h *harness) {
	t := h.t
	d, first := h.create("alice", t0,
		server("10.1.0.1", deploy.RoleDB, ""),
		server("10.1.0.2", deploy.RoleWebServer, ""))
	h.finish(first, deploy.RunSucceeded)
	var joined []deploy.Server
	for i := range 60 {
		s := deploy.Server{
			Host: fmt.Sprintf("10.1.1.%d", i+1), Role: deploy.RoleEden,
			InstanceID: fmt.Sprintf("i-%017x", 0x1e000+i), Origin: deploy.OriginAutoscaling, AddedAt: t0,
		}
		wantNoError(t, h.s.AddServer(h.ctx, d.ID, s), "AddServer "+s.Host)
		joined = append(joined, s)
	}

	wantNoError(t, h.s.DeleteDeployment(h.ctx, d.ID), "DeleteDeployment")
	_, err := h.s.GetDeployment(h.ctx, d.ID)
	wantKind(t, err, deploy.KindNotFound, "GetDeployment after delete")
	for _, s := range append(d.Servers, joined...) {
		_, _, err := h.s.FindServerByHost(h.ctx, s.Host)
		wantKind(t, err, deploy.KindNotFound, "FindServerByHost "+s.Host+" after delete")
	}
	for _, s := range joined {
		_, _, err := h.s.FindServerByInstanceID(h.ctx, s.InstanceID)
		wantKind(t, err, deploy.KindNotFound, "FindServerByInstanceID "+s.InstanceID+" after delete")
	}
	rs, _, err := h.s.ListRuns(h.ctx, d.ID, deploy.Page{})
	wantNoError(t, err, "ListRuns after delete")
	if len(rs) != 0 {
		t.Errorf("ListRuns after delete = %v, want none", runIDs(rs))
	}
	wantKind(t, h.s.DeleteDeployment(h.ctx, d.ID), deploy.KindNotFound, "DeleteDeployment again")

	// The last server added (released after the deployment's transaction
	// on DynamoDB) can be claimed again, host and instance ID.
	last := joined[len(joined)-1]
	again, r := newDeployment("bob", t0.Add(time.Hour), last)
	wantNoError(t, h.s.CreateDeployment(h.ctx, again, r), "CreateDeployment on the last released server")
}
