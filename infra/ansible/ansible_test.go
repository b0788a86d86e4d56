package ansible

import (
	"bytes"
	"io/fs"
	"path"
	"slices"
	"strings"
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

// secretsDirVar is the variable through which the roles read secrets.
const secretsDirVar = "eden_secrets_dir"

// No task puts a secret on a command line: Ansible runs a task's
// environment as part of the command it starts (ps shows it, sudo logs
// it), and a command's arguments are as visible. Secrets reach commands on
// stdin or in files. A secret is anything read through eden_secrets_dir,
// directly or through a role variable that reads it.
func TestNoSecretOnACommandLine(t *testing.T) {
	// Role variables whose value reads a secret, found to a fixed point
	// (one may read another).
	defs := map[string]string{}
	varFiles, _ := fs.Glob(Files, "roles/*/vars/main.yml")
	defaults, _ := fs.Glob(Files, "roles/*/defaults/main.yml")
	for _, p := range append(varFiles, defaults...) {
		var vars map[string]any
		if err := yaml.Unmarshal(mustRead(t, p), &vars); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for name, v := range vars {
			b, _ := yaml.Marshal(v)
			defs[name] = string(b)
		}
	}
	secret := []string{secretsDirVar}
	for grown := true; grown; {
		grown = false
		for name, def := range defs {
			if !slices.Contains(secret, name) && mentionsAny(def, secret) {
				secret, grown = append(secret, name), true
			}
		}
	}
	if !slices.Contains(secret, "eden_db_password_line") {
		t.Fatalf("eden_db_password_line is not seen as a secret (found %v): the check below would prove nothing", secret)
	}

	files, _ := fs.Glob(Files, "*.yml")
	tasks, _ := fs.Glob(Files, "roles/*/tasks/*.yml")
	handlers, _ := fs.Glob(Files, "roles/*/handlers/*.yml")
	for _, p := range append(append(files, tasks...), handlers...) {
		var doc any
		if err := yaml.Unmarshal(mustRead(t, p), &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, v := range commandLineValues(doc) {
			if mentionsAny(v, secret) {
				t.Errorf("%s: a secret on a command line (an environment or argument): %s", p, v)
			}
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := fs.ReadFile(Files, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mentionsAny reports whether text names any of the variables as a whole
// word.
func mentionsAny(text string, vars []string) bool {
	for _, v := range vars {
		for i := strings.Index(text, v); i >= 0; {
			end := i + len(v)
			before := i == 0 || !isIdent(text[i-1])
			after := end == len(text) || !isIdent(text[end])
			if before && after {
				return true
			}
			next := strings.Index(text[i+1:], v)
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
	return false
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// commandLineValues returns, as YAML text, every task's environment and
// every command's arguments (argv, cmd, a free-form command line) found in
// a parsed task or playbook file.
func commandLineValues(n any) []string {
	var out []string
	text := func(v any) string { b, _ := yaml.Marshal(v); return string(b) }
	switch v := n.(type) {
	case []any:
		for _, x := range v {
			out = append(out, commandLineValues(x)...)
		}
	case map[string]any:
		for k, x := range v {
			switch k {
			case "environment":
				out = append(out, text(x))
				continue
			case "ansible.builtin.command", "command", "ansible.builtin.shell", "shell":
				if args, ok := x.(map[string]any); ok {
					out = append(out, text(args["argv"]), text(args["cmd"]))
				} else {
					out = append(out, text(x))
				}
				continue
			}
			out = append(out, commandLineValues(x)...)
		}
	}
	return out
}
