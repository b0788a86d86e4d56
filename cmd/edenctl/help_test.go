package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// leaves returns the path (as arguments) of every command under c that
// people call: each has its own help with examples.
func leaves(c *cobra.Command, path []string) [][]string {
	var out [][]string
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.Name() == "help" {
			continue
		}
		p := append(append([]string{}, path...), sub.Name())
		if sub.HasAvailableSubCommands() {
			out = append(out, p)
			out = append(out, leaves(sub, p)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func TestEveryCommandHasItsOwnHelp(t *testing.T) {
	c := newCLI(t)
	tree := newRoot(&app{getenv: func(string) string { return "" }})
	paths := leaves(tree, nil)
	if len(paths) < 15 {
		t.Fatalf("only %d commands found: %v", len(paths), paths)
	}
	for _, p := range paths {
		t.Run(strings.Join(p, " "), func(t *testing.T) {
			cmd, _, err := tree.Find(p)
			if err != nil {
				t.Fatal(err)
			}
			code, out, errs := c.run(append(p, "--help")...)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			about := cmd.Long
			if about == "" {
				about = cmd.Short
			}
			about, _, _ = strings.Cut(about, "\n")
			want := []string{about + "\n", "usage:", "edenctl " + strings.Join(p, " "), "--output FORMAT"}
			if cmd.HasAvailableSubCommands() {
				for _, sub := range cmd.Commands() {
					if sub.IsAvailableCommand() {
						want = append(want, "\n  "+sub.Name())
					}
				}
			} else {
				want = append(want, "examples:\n  edenctl "+strings.Join(p, " "))
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			// Help of one command, not of the whole tool.
			if strings.Contains(out, "Create, list, show and delete deployments") && p[0] != "deployment" {
				t.Errorf("help of %v lists the root's commands:\n%s", p, out)
			}
		})
	}
}

func TestMistypedCommandsSuggest(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploymnt", "list"}, `unknown command "deploymnt" for "edenctl"; did you mean "deployment"?`},
		{[]string{"deployment", "shw", "d-1"}, `unknown command "shw" for "edenctl deployment"; did you mean "show"?`},
		{[]string{"confg", "get"}, `did you mean "config"?`},
		{[]string{"task", "rnu"}, `did you mean "run"?`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "edenctl"`},
	} {
		code, out, errs := c.run(tc.args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errs, "edenctl: "+tc.want) && !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errs, tc.want)
		}
		if !strings.Contains(errs, "usage:") {
			t.Errorf("%v: no usage in %q", tc.args, errs)
		}
	}
}
