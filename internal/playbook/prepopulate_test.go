package playbook

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// edenSettingsStub runs first-run lines after a template's own settings, as
// 000_config.py does after settings.import_template(), with settings.base
// a Storage as Eden's is (a dict read by attribute), and then does what
// Eden's zzz_1st_run does with the result: prepopulate + prepopulate_demo.
const edenSettingsStub = `
import json, sys
class Storage(dict):
    __getattr__ = dict.get
    def __setattr__(self, k, v): self[k] = v
    def __delattr__(self, k): del self[k]
class Settings:
    base = Storage()
settings = Settings()
template = json.loads(sys.stdin.readline())
if template is not None:
    settings.base.prepopulate = tuple(template) if sys.argv[1] == "tuple" else template
settings.base.prepopulate_demo = ["default/users"]
exec(compile(sys.stdin.read(), "000_config.py", "exec"), {"settings": settings, "__builtins__": {"isinstance": isinstance, "list": list, "tuple": tuple}})
pop_list = settings.base.prepopulate
pop_list += settings.base.prepopulate_demo
json.dump(pop_list, sys.stdout)
`

// The first run prepopulates the template's own list, then the instance's
// options that are not in it yet, in their order, and never Eden's demo
// users unless asked for: checked in a real python3, for a template that
// made a list, one that made a tuple, and none.
func TestPrepopulateLinesWithPython(t *testing.T) {
	py := testpeer.LookPath(t, "python3")
	tests := []struct {
		name     string
		template any // the template's list, or nil
		shape    string
		options  []string
		want     []string
	}{
		{"template list alone", []string{"default/base", "default"}, "list", nil, []string{"default/base", "default"}},
		{"options added", []string{"default/base", "default"}, "list", []string{"locations/NZ", "default", "default/users"}, []string{"default/base", "default", "locations/NZ", "default/users"}},
		{"a template tuple", []string{"default/base", "default"}, "tuple", []string{"locations/NZ"}, []string{"default/base", "default", "locations/NZ"}},
		{"no template list", nil, "list", []string{"x'y\"z\\\n"}, []string{"x'y\"z\\\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := prepopulateLines(tt.options)
			if err != nil {
				t.Fatal(err)
			}
			tmpl, _ := json.Marshal(tt.template)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, "-I", "-S", "-c", edenSettingsStub, tt.shape)
			cmd.Env = []string{"LANG=C.UTF-8"}
			cmd.Stdin = strings.NewReader(string(tmpl) + "\n" + strings.Join(lines, "\n") + "\n")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python3: %v\n%s\n%s", err, out, strings.Join(lines, "\n"))
			}
			var got []string
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("prepopulated (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := prepopulateLines("default"); err == nil {
		t.Errorf("a prepopulate setting that is not a list was accepted")
	}
}
