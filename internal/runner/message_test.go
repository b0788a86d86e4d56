package runner_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// messageCases are failed task results and the message each must give.
var messageCases = []struct {
	name string
	res  map[string]any
	want string
}{
	{"module message", map[string]any{"msg": "Failed to download remote objects and refs"}, "Failed to download remote objects and refs"},
	{"command without output", map[string]any{"msg": "non-zero return code", "rc": 2.0, "stderr": "", "stdout": ""}, "non-zero return code"},
	{"command, short stderr", map[string]any{"msg": "non-zero return code", "rc": 3.0, "stderr": "bad\nthing"}, "exit status 3; output ends: bad thing"},
	{"traceback at the end of long output", map[string]any{"msg": "non-zero return code", "rc": 1.0,
		"stderr": strings.Repeat("WARNING: unresolved dependency of the data\n", 20) + "Traceback (most recent call last):\n  File \"x\", line 1\nTypeError: can only concatenate tuple (not \"list\") to tuple\n"},
		`exit status 1: TypeError: can only concatenate tuple (not "list") to tuple`},
	{"web2py's traceback on stdout, a script's exit on stderr", map[string]any{"msg": "non-zero return code", "rc": 1.0,
		"stdout": "Traceback (most recent call last):\nSystemExit: 1\n", "stderr": "Traceback (most recent call last):\n  File \"admin_user.py\"\nValueError: bad e-mail\n"},
		"exit status 1: ValueError: bad e-mail"},
	{"an exception whose name says no Error, with text after it", map[string]any{"msg": "non-zero return code", "rc": 1.0,
		"stderr": "Traceback (most recent call last):\n  File \"base.py\", line 468, in execute\n    rv = self.cursor.execute(command)\npsycopg2.errors.UndefinedTable: relation \"auth_group\" does not exist\nLINE 1: SELECT \"auth_group\".\"id\"\n                ^\n"},
		`exit status 1: psycopg2.errors.UndefinedTable: relation "auth_group" does not exist`},
	{"failed_when on a command that exited 0", map[string]any{"rc": 0.0, "stdout": "", "stderr": "Traceback:\npsycopg2.OperationalError: could not connect"},
		"exit status 0: psycopg2.OperationalError: could not connect"},
	{"a long module message keeps its start and its end", map[string]any{"msg": "Failed to clone: " + strings.Repeat("x", 1000) + " fatal: Could not read from remote repository."},
		// 150 bytes, the elision, and the last 443 bytes.
		"Failed to clone: " + strings.Repeat("x", 133) + " [...] " + strings.Repeat("x", 397) + " fatal: Could not read from remote repository."},
	{"a loop: the first failed item", map[string]any{"msg": "One or more items failed", "results": []any{
		map[string]any{"failed": false}, map[string]any{"failed": true, "msg": "item two"}}}, "One or more items failed"},
	{"nothing at all", map[string]any{}, "failed"},
}

func TestFailureMessage(t *testing.T) {
	for _, tt := range messageCases {
		t.Run(tt.name, func(t *testing.T) {
			got := runner.FailureMessage(tt.res)
			if got != tt.want {
				t.Errorf("FailureMessage:\n got %q\nwant %q", got, tt.want)
			}
			if len(got) > 600 {
				t.Errorf("message of %d bytes, want at most 600", len(got))
			}
		})
	}
}

// The callback plugin, run by the Python that Ansible runs it with, makes
// the same message of every case as FailureMessage.
func TestCallbackPluginMessagesMatch(t *testing.T) {
	testpeer.LookPath(t, "ansible-playbook")
	// Debian's ansible-core runs on the system's Python, which may not be
	// the python3 first on the PATH.
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import ansible.plugins.callback").Run(); err != nil {
		testpeer.Missing(t, "ansible-core", "python3 cannot import ansible: "+err.Error())
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "eden_results.py"), runner.CallbackPlugin, 0o600); err != nil {
		t.Fatal(err)
	}
	var results []map[string]any
	for _, tt := range messageCases {
		results = append(results, tt.res)
	}
	in, _ := json.Marshal(results)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", "import json, sys; sys.path.insert(0, sys.argv[1]); import eden_results; print(json.dumps([eden_results._message(r) for r in json.load(sys.stdin)]))", dir)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i, tt := range messageCases {
		if got[i] != tt.want {
			t.Errorf("%s: the plugin says\n %q\nwant %q", tt.name, got[i], tt.want)
		}
	}
}
