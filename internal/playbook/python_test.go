package playbook

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// pythonStub runs 000_config.py lines in a fresh python3 (isolated mode,
// no site, empty environment) against a settings object that records
// every assignment, and prints them as JSON. Tuples come back as lists.
const pythonStub = `
import json, sys
class Section:
    def __init__(self, path, store):
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_store", store)
    def __getattr__(self, name):
        child = Section(self._path + [name], self._store)
        object.__setattr__(self, name, child)
        return child
    def __setattr__(self, name, value):
        self._store[".".join(self._path[1:] + [name])] = value
store = {}
settings = Section(["settings"], store)
exec(compile(sys.stdin.read(), "000_config.py", "exec"), {"settings": settings, "__builtins__": {}})
json.dump(store, sys.stdout)
`

func runPythonConfig(t *testing.T, lines []string) map[string]any {
	t.Helper()
	py := testpeer.LookPath(t, "python3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-I", "-S", "-c", pythonStub)
	cmd.Env = []string{"LANG=C.UTF-8"}
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python3 rejected the config lines: %v\n%s\n%s", err, stderr, strings.Join(lines, "\n"))
	}
	var values map[string]any
	if err := json.Unmarshal(out, &values); err != nil {
		t.Fatal(err)
	}
	return values
}

// Every kind of value, hostile strings above all, reads back exactly in a
// real python3.
func TestPyLiteralWithPython(t *testing.T) {
	strs := append(hostile("/tmp/pwned-python"), "", "'", `\`, "\x00", "\x7f", "\U0010ffff", strings.Repeat("é'\n", 500))
	tests := []struct {
		name string
		v    any
		want any
	}{
		{"true", true, true},
		{"false", false, false},
		{"int", int64(-42), float64(-42)},
		{"big int", int64(math.MaxInt64), float64(math.MaxInt64)},
		{"float", 2.5, 2.5},
		{"tiny float", 1e-7, 1e-7},
		{"integral float", 3.0, 3.0},
		{"empty list", []string{}, []any{}},
		{"one item", []string{"NZ"}, []any{"NZ"}},
		{"hostile list", strs, toAny(strs)},
	}
	for i, s := range strs {
		tests = append(tests, struct {
			name string
			v    any
			want any
		}{fmt.Sprintf("string %d", i), s, s})
	}
	var lines []string
	for i, tt := range tests {
		line, err := settingLine(fmt.Sprintf("t.v%03d", i), tt.v)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("%s: line %q holds a line break", tt.name, line)
		}
		lines = append(lines, line)
	}
	got := runPythonConfig(t, lines)
	for i, tt := range tests {
		if diff := cmp.Diff(tt.want, got[fmt.Sprintf("t.v%03d", i)]); diff != "" {
			t.Errorf("%s: python3 read (-want +got):\n%s", tt.name, diff)
		}
	}
}

// An integral float must stay a float in Python (3.0, not 3).
func TestPyLiteralFloats(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{{3, "3.0"}, {2.5, "2.5"}, {1e-7, "1e-07"}, {1e21, "1e+21"}, {-0.5, "-0.5"}} {
		got, err := PyLiteral(tt.v)
		if err != nil || got != tt.want {
			t.Errorf("PyLiteral(%v) = %q, %v; want %q", tt.v, got, err, tt.want)
		}
	}
	if _, err := PyLiteral(math.NaN()); err == nil {
		t.Error("PyLiteral(NaN) succeeded")
	}
}
