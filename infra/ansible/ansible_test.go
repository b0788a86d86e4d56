package ansible

import (
	"bytes"
	"io/fs"
	"path"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// The postgresql role fingerprints a database with psql on the db server,
// the eden role with psycopg2 from an eden server; a clean compares the
// two, so both must run the same SQL.
func TestFingerprintSQLIsShared(t *testing.T) {
	pg, err := fs.ReadFile(Files, "roles/postgresql/files/content_fingerprint.sql")
	if err != nil {
		t.Fatal(err)
	}
	eden, err := fs.ReadFile(Files, "roles/eden/files/content_fingerprint.sql")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pg, eden) {
		t.Error("roles/eden/files/content_fingerprint.sql differs from roles/postgresql/files/content_fingerprint.sql")
	}
}

// Every role entry point a playbook includes exists in the real roles and
// in the test roles, which promise the same entry points.
func TestPlaybookEntryPointsExist(t *testing.T) {
	playbooks, err := fs.Glob(Files, "*.yml")
	if err != nil || len(playbooks) == 0 {
		t.Fatalf("playbooks: %v, %v", playbooks, err)
	}
	var entries []string
	for _, p := range playbooks {
		b, err := fs.ReadFile(Files, p)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		entries = append(entries, includedRoles(doc)...)
	}
	slices.Sort(entries)
	entries = slices.Compact(entries)
	for _, want := range []string{"postgresql/tasks/clean_check.yml", "eden/tasks/clean_check.yml", "postgresql/tasks/backup.yml"} {
		if !slices.Contains(entries, want) {
			t.Errorf("no playbook includes %s (found %v)", want, entries)
		}
	}
	for _, e := range entries {
		if _, err := fs.Stat(Roles(), e); err != nil {
			t.Errorf("roles/%s: %v", e, err)
		}
		if _, err := fs.Stat(TestRoles(), e); err != nil {
			t.Errorf("testroles/%s: %v", e, err)
		}
	}
}

// includedRoles walks a playbook and returns <role>/tasks/<file>.yml for
// every include_role in it.
func includedRoles(n any) []string {
	var out []string
	switch v := n.(type) {
	case []any:
		for _, x := range v {
			out = append(out, includedRoles(x)...)
		}
	case map[string]any:
		for k, x := range v {
			if k == "ansible.builtin.include_role" || k == "include_role" {
				if args, ok := x.(map[string]any); ok {
					name, _ := args["name"].(string)
					from, _ := args["tasks_from"].(string)
					if from == "" {
						from = "main"
					}
					out = append(out, path.Join(name, "tasks", from+".yml"))
				}
				continue
			}
			out = append(out, includedRoles(x)...)
		}
	}
	return out
}
