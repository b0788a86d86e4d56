package installtest

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/testhost"
)

// testUbuntu runs the all-in-one deployment, every playbook and check of
// it, on an Ubuntu 24.04 server: the roles pick Ubuntu's PostgreSQL major
// (16) from ansible_distribution, and the packages layer holds Ubuntu's
// packages (main and universe).
func testUbuntu(t *testing.T) {
	t.Run("all-in-one", func(t *testing.T) { testAllInOne(t, testhost.Ubuntu2404) })
}

// TestRolePackages checks the packages layer of each distribution against
// what its archive ships: PostGIS for the PostgreSQL major the postgresql
// role picks there (Debian 12: 15, Ubuntu 24.04: 16), and common's list.
func TestRolePackages(t *testing.T) {
	tests := []struct {
		distro     testhost.Distro
		postgis    string
		notPostgis string
	}{
		{testhost.Debian12, "postgresql-15-postgis-3", "postgresql-16-postgis-3"},
		{testhost.Ubuntu2404, "postgresql-16-postgis-3", "postgresql-15-postgis-3"},
	}
	for _, tt := range tests {
		t.Run(tt.distro.String(), func(t *testing.T) {
			pkgs := rolePackages(t, tt.distro)
			if !slices.Contains(pkgs, tt.postgis) || slices.Contains(pkgs, tt.notPostgis) {
				t.Errorf("packages of %s: %s", tt.distro, strings.Join(pkgs, " "))
			}
			for _, p := range []string{"nginx", "uwsgi-plugin-python3", "python3-psycopg2", "cron", "acl"} {
				if !slices.Contains(pkgs, p) {
					t.Errorf("packages of %s lack %s", tt.distro, p)
				}
			}
			if !slices.IsSorted(pkgs) || len(slices.Compact(slices.Clone(pkgs))) != len(pkgs) {
				t.Errorf("packages of %s are not a sorted set: %v", tt.distro, pkgs)
			}
		})
	}
}

// TestSelected checks which subtests' servers TestInstall prepares for a
// -run pattern.
func TestSelected(t *testing.T) {
	f := flag.Lookup("test.run")
	old := f.Value.String()
	t.Cleanup(func() { f.Value.Set(old) })
	tests := []struct {
		pattern string
		want    map[string]bool
	}{
		{"", map[string]bool{"all-in-one": true, "3-tier": true, "ubuntu-24.04": true}},
		{"^TestInstall$", map[string]bool{"all-in-one": true, "3-tier": true, "ubuntu-24.04": true}},
		{"TestInstall/all-in-one", map[string]bool{"all-in-one": true, "3-tier": false, "ubuntu-24.04": false}},
		{"TestInstall/ubuntu-24.04/all-in-one", map[string]bool{"all-in-one": false, "3-tier": false, "ubuntu-24.04": true}},
		{"TestInstall/(3-tier|ubuntu)", map[string]bool{"all-in-one": false, "3-tier": true, "ubuntu-24.04": true}},
		{"TestInstall/[a/]ll-in-one", map[string]bool{"all-in-one": true, "3-tier": false, "ubuntu-24.04": false}},
	}
	for _, tt := range tests {
		if err := f.Value.Set(tt.pattern); err != nil {
			t.Fatal(err)
		}
		for name, want := range tt.want {
			if got := selected(name); got != want {
				t.Errorf("-run %q: selected(%q) = %v, want %v", tt.pattern, name, got, want)
			}
		}
	}
}
