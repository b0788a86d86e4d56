package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestFleet(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.json")
	f := Open(path)
	if _, err := f.GroupTags(ctx, "eden"); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Fatalf("unknown group: %v, want NotFound", err)
	}
	tags := map[string]string{"eden-deploy:deployment": "d-1", "eden-deploy:role": "eden"}
	if err := f.PutGroupTags(ctx, "eden", tags); err != nil {
		t.Fatal(err)
	}
	if err := f.PutInstanceAddress(ctx, "i-0123456789abcdef0", "10.0.0.9"); err != nil {
		t.Fatal(err)
	}
	// A second handle on the same file sees what the first wrote.
	g := Open(path)
	got, err := g.GroupTags(ctx, "eden")
	if err != nil || !cmp.Equal(got, tags) {
		t.Errorf("GroupTags = %v, %v; want %v", got, err, tags)
	}
	if a, err := g.InstanceAddress(ctx, "i-0123456789abcdef0"); err != nil || a != "10.0.0.9" {
		t.Errorf("InstanceAddress = %q, %v", a, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("fleet file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	for name, err := range map[string]error{
		"bad instance ID": f.PutInstanceAddress(ctx, "web-1", "10.0.0.9"),
		"bad address":     f.PutInstanceAddress(ctx, "i-0123456789abcdef0", "-oProxyCommand=x"),
		"bad group":       f.PutGroupTags(ctx, "", tags),
		"long group":      f.PutGroupTags(ctx, strings.Repeat("é", 256), tags),
		"group with ;":    f.PutGroupTags(ctx, "eden;rm", tags),
		"empty tag key":   f.PutGroupTags(ctx, "eden", map[string]string{"": "x"}),
	} {
		if !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
}
