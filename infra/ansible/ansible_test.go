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

// secretNames lists what reads a secret: eden_secrets_dir, every role
// template that names one, and every role variable whose value names one
// (found to a fixed point: one may name another).
func secretNames(t *testing.T) []string {
	t.Helper()
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
	templates, _ := fs.Glob(Files, "roles/*/templates/*")
	for _, p := range templates {
		defs[path.Base(p)] = string(mustRead(t, p))
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
	for _, want := range []string{"eden_db_password_line", "000_config.py.j2", "eden_config_file"} {
		if !slices.Contains(secret, want) {
			t.Fatalf("%s is not seen as reading a secret (found %v): the checks would prove nothing", want, secret)
		}
	}
	return secret
}

// taskFiles parses every playbook, task and handler file.
func taskFiles(t *testing.T) map[string]any {
	t.Helper()
	files, _ := fs.Glob(Files, "*.yml")
	tasks, _ := fs.Glob(Files, "roles/*/tasks/*.yml")
	handlers, _ := fs.Glob(Files, "roles/*/handlers/*.yml")
	out := map[string]any{}
	for _, p := range append(append(files, tasks...), handlers...) {
		var doc any
		if err := yaml.Unmarshal(mustRead(t, p), &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[p] = doc
	}
	return out
}

// No task puts a secret on a command line: Ansible runs a task's
// environment as part of the command it starts (ps shows it, sudo logs
// it), and a command's arguments are as visible. Secrets reach commands on
// stdin or in files.
func TestNoSecretOnACommandLine(t *testing.T) {
	secret := secretNames(t)
	for p, doc := range taskFiles(t) {
		for _, v := range commandLineValues(doc) {
			if mentionsAny(v, secret) {
				t.Errorf("%s: a secret on a command line (an environment or argument): %s", p, v)
			}
		}
	}
}

// Every task that reads a secret is no_log: its arguments (a password on
// stdin, 000_config.py's content) stay out of the run log and the host's
// logs.
func TestTasksReadingSecretsAreNoLog(t *testing.T) {
	secret := secretNames(t)
	seen := 0
	for p, doc := range taskFiles(t) {
		for _, task := range tasksOf(doc, false) {
			text, _ := yaml.Marshal(withoutName(task.m))
			if !mentionsAny(string(text), secret) {
				continue
			}
			seen++
			if !task.noLog {
				t.Errorf("%s: task %q reads a secret but is not no_log", p, task.m["name"])
			}
		}
	}
	if seen < 5 {
		t.Errorf("only %d tasks read a secret: the check proved little", seen)
	}
}

// task is one task of a file, and whether it or a block around it is
// no_log.
type task struct {
	m     map[string]any
	noLog bool
}

// tasksOf returns the tasks of a parsed playbook, task or handler file:
// a play's tasks and handlers, a block's tasks, rescue and always.
func tasksOf(n any, noLog bool) []task {
	var out []task
	list, _ := n.([]any)
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		nl := noLog || m["no_log"] == true
		if _, play := m["hosts"]; play {
			for _, k := range []string{"pre_tasks", "tasks", "post_tasks", "handlers"} {
				out = append(out, tasksOf(m[k], nl)...)
			}
			continue
		}
		if _, block := m["block"]; block {
			for _, k := range []string{"block", "rescue", "always"} {
				out = append(out, tasksOf(m[k], nl)...)
			}
			continue
		}
		out = append(out, task{m: m, noLog: nl})
	}
	return out
}

func withoutName(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != "name" {
			out[k] = v
		}
	}
	return out
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
