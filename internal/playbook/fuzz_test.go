package playbook

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// FuzzRender feeds arbitrary user values through the domain's validation
// and Render. Whatever the domain accepts must render without panicking,
// into a vars file that parses back with every user string identical and
// !unsafe, and into 000_config.py lines that read back (parseSettingLine)
// to the very values.
func FuzzRender(f *testing.F) {
	for _, s := range hostile("/tmp/pwned-fuzz") {
		f.Add(s, "https://example.org/eden.git", "master", s, s, 1.5, int64(7), true)
	}
	f.Add("Eden", "file:///srv/eden", "release/1.0", "plain", "", 0.0, int64(-1), false)
	f.Fuzz(func(t *testing.T, name, url, branch, value, item string, num float64, n int64, flag bool) {
		spec := baseSpec(tierServers(), deploy.InstanceProd)
		spec.Name = name
		spec.Eden = deploy.Repo{URL: url, Branch: branch}
		spec.Instance.Settings = deploy.Settings{
			"custom.value": value,
			"custom.list":  []string{item, value},
			"custom.num":   num,
			"custom.int":   n,
			"custom.flag":  flag,
		}
		d, err := deploy.NewDeployment(spec, "d-fuzz", "owner", fixedNow)
		if err != nil {
			return // the domain refused it: nothing reaches a bundle
		}
		r, err := d.NewRun("r-fuzz", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, fixedNow)
		if err != nil {
			t.Fatalf("NewRun: %v", err)
		}
		want := d.Instances[0].Settings
		for i, step := range r.Steps {
			b, err := Render(Input{Deployment: d, Run: r, Step: i}, Options{})
			if deploy.IsKind(err, deploy.KindInvalid) {
				return // refused by Render's own checks (defence in depth)
			}
			if err != nil {
				t.Fatalf("Render step %s: %v", step.Name, err)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(b.File(VarsFile).Data, &doc); err != nil {
				t.Fatalf("vars file does not parse: %v\n%s", err, b.File(VarsFile).Data)
			}
			root := doc.Content[0]
			checkUnsafe(t, root)
			if got := lookup(root, "eden_deployment_name"); got == nil || got.Value != name {
				t.Fatalf("eden_deployment_name = %v, want %q", got, name)
			}
			if step.Role != deploy.RoleEden {
				continue
			}
			repo := lookup(root, "eden_eden_repo")
			if lookup(repo, "url").Value != url || lookup(repo, "branch").Value != branch {
				t.Fatalf("eden repo came back as %q %q", lookup(repo, "url").Value, lookup(repo, "branch").Value)
			}
			inst := lookup(root, "eden_instances").Content[0]
			settings := lookup(inst, "settings")
			if got := lookup(settings, "custom.value").Value; got != value {
				t.Fatalf("settings custom.value = %q, want %q", got, value)
			}
			var post []string
			if err := lookup(inst, "config_post").Decode(&post); err != nil {
				t.Fatal(err)
			}
			got := map[string]any{}
			for _, line := range post {
				k, v, err := parseSettingLine(line)
				if err != nil {
					t.Fatalf("config line %q: %v", line, err)
				}
				got[k] = v
			}
			var firstRun []string
			if err := lookup(inst, "config_first_run").Decode(&firstRun); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want["base.prepopulate"], appendedOptions(t, firstRun), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("prepopulate options read back differently (-want +got):\n%s", diff)
			}
			for _, k := range want.Keys() {
				if k == "base.template" || k == "base.prepopulate" {
					continue
				}
				w := want[k]
				if f, ok := w.(float64); ok && math.IsInf(f, 0) {
					continue
				}
				if diff := cmp.Diff(w, got[k]); diff != "" {
					t.Fatalf("config line of %s reads back differently (-want +got):\n%s", k, diff)
				}
			}
		}
	})
}

// appendedOptions reads back the options the first-run lines append to the
// prepopulate list.
func appendedOptions(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		lit, ok := strings.CutPrefix(l, "    _prepopulate.append(")
		if !ok {
			continue
		}
		p := &pyParser{s: strings.TrimSuffix(lit, ")")}
		v, err := p.str()
		if err != nil || p.i != len(p.s) {
			t.Fatalf("first-run line %q: %v", l, err)
		}
		out = append(out, v)
	}
	return out
}

// checkUnsafe fails if any string scalar of the vars tree is not !unsafe.
func checkUnsafe(t *testing.T, n *yaml.Node) {
	t.Helper()
	switch n.Kind {
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			checkUnsafe(t, n.Content[i])
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			checkUnsafe(t, c)
		}
	case yaml.ScalarNode:
		if n.Tag != "!unsafe" && n.Tag != "!!bool" && n.Tag != "!!int" && n.Tag != "!!float" {
			t.Fatalf("scalar %q has tag %s, not !unsafe", n.Value, n.Tag)
		}
	default:
		t.Fatalf("unexpected node kind %v", n.Kind)
	}
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
