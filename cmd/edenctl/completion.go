package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func completionCommand(a *app) *cobra.Command {
	shells := []string{"bash", "zsh", "fish", "powershell"}
	return &cobra.Command{
		Use:   "completion SHELL",
		Short: "Print the shell completion script for bash, zsh, fish or powershell",
		Long: `Print the completion script for a shell: bash, zsh, fish or powershell.
Besides commands and flags, it completes from the API as you type:
deployment IDs and names, the instances of a deployment (and for "instance
add", the types it has not got), task names, run IDs, setting keys, and
context names. It asks the endpoint and token of the command line being
completed (--context, --endpoint, --token, the environment).

bash needs the bash-completion package.`,
		Example: `  edenctl completion bash > /etc/bash_completion.d/edenctl
  source <(edenctl completion bash)     # in this shell only
  edenctl completion zsh > "${fpath[1]}/_edenctl"
  edenctl completion fish > ~/.config/fish/completions/edenctl.fish`,
		ValidArgs: shells,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := exactArgs(1)(cmd, args); err != nil {
				return err
			}
			if !slices.Contains(shells, args[0]) {
				return usagef("no completion for %q: use %s", args[0], strings.Join(shells, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			case "fish":
				return root.GenFishCompletion(a.stdout, true)
			}
			return root.GenPowerShellCompletionWithDesc(a.stdout)
		},
	}
}

// argKind is what a positional argument is, for completion.
type argKind int

const (
	argDeployment  argKind = iota + 1 // a deployment's ID or name
	argInstance                       // an instance of the deployment named before
	argNewInstance                    // an instance type the deployment has not got
	argTask                           // a task name
	argRun                            // a run of the deployment named before
	argSettings                       // KEY= of the instance's settings, repeated
	argContext                        // a context's name
)

// completeArgs is the completion of a command whose positional arguments
// are kinds, in order. Everything it offers comes from the API (or the
// context file); when that cannot be reached it offers nothing, and never
// file names.
func (a *app) completeArgs(kinds ...argKind) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		i := len(args)
		if i >= len(kinds) {
			if len(kinds) == 0 || kinds[len(kinds)-1] != argSettings {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			i = len(kinds) - 1
		}
		if err := a.resolve(); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var got []cobra.Completion
		directive := cobra.ShellCompDirectiveNoFileComp
		var err error
		switch kinds[i] {
		case argDeployment:
			got, err = a.deploymentCompletions(ctx)
		case argInstance, argNewInstance:
			got, err = a.instanceCompletions(ctx, args[0], kinds[i] == argNewInstance)
		case argTask:
			got, err = a.taskCompletions(ctx)
		case argRun:
			got, err = a.runCompletions(ctx, args[0])
		case argSettings:
			got, err = a.settingCompletions(ctx, args[0], args[1], args[2:])
			directive |= cobra.ShellCompDirectiveNoSpace
		case argContext:
			got, err = a.contextCompletions()
		}
		if err != nil {
			cobra.CompDebugln("edenctl: "+err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(got, toComplete), directive
	}
}

// completeFlags completes the values of the global flags.
func (a *app) completeFlags(root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("context", func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		got, _ := a.contextCompletions()
		return withPrefix(got, toComplete), cobra.ShellCompDirectiveNoFileComp
	})
}

// withPrefix keeps the completions (value, or value TAB description) whose
// value starts with prefix.
func withPrefix(cs []cobra.Completion, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, c := range cs {
		if v, _, _ := strings.Cut(c, "\t"); strings.HasPrefix(v, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// completionPages bounds how much of a long list completion reads.
const completionPages = 5

// deploymentCompletions offers each deployment's ID (described by its
// name) and each name (described by its ID, or by how many share it).
func (a *app) deploymentCompletions(ctx context.Context) ([]cobra.Completion, error) {
	ds, err := a.listDeployments(ctx, "", completionPages)
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	ids := map[string][]string{} // name → IDs
	var names []string
	for _, d := range ds {
		out = append(out, cobra.CompletionWithDesc(d.ID, d.Name))
		if ids[d.Name] == nil {
			names = append(names, d.Name)
		}
		ids[d.Name] = append(ids[d.Name], d.ID)
	}
	for _, n := range names {
		desc := ids[n][0]
		if len(ids[n]) > 1 {
			desc = fmt.Sprintf("%d deployments: use an ID", len(ids[n]))
		}
		out = append(out, cobra.CompletionWithDesc(n, desc))
	}
	return out, nil
}

// instanceCompletions offers the deployment's instances, or (fresh) the
// instance types the API knows that the deployment has not got.
func (a *app) instanceCompletions(ctx context.Context, depArg string, fresh bool) ([]cobra.Completion, error) {
	dep, err := a.deploymentID(ctx, depArg)
	if err != nil {
		return nil, err
	}
	var d httpapi.DeploymentDetail
	if _, err := a.get(ctx, deploymentPath(dep), &d); err != nil {
		return nil, err
	}
	var out []cobra.Completion
	if !fresh {
		for _, i := range d.Instances {
			out = append(out, cobra.CompletionWithDesc(string(i.Type), string(i.Status)+" "+i.URL))
		}
		return out, nil
	}
	types, _ := a.documentEnums(ctx)
	for _, t := range types.instanceTypes {
		if d.Instance(deploy.InstanceType(t)) == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// aboutTask describes a task that completion offers.
func aboutTask(t string) string {
	switch t {
	case "clean":
		return "recreate the instance's database"
	case "pull":
		return "update Eden, migrate, compile, restart"
	case "restart":
		return "restart the instance's services"
	case "backup":
		return "dump the instance's database now"
	case "deploy":
		return "apply the whole configuration again"
	}
	return ""
}

// taskCompletions offers the tasks the server's API document lists.
func (a *app) taskCompletions(ctx context.Context) ([]cobra.Completion, error) {
	enums, err := a.documentEnums(ctx)
	var out []cobra.Completion
	for _, t := range enums.tasks {
		if t != "add-instance" { // "instance add" starts it
			out = append(out, cobra.CompletionWithDesc(t, aboutTask(t)))
		}
	}
	return out, err
}

// apiEnums are the values the server's OpenAPI document allows.
type apiEnums struct{ tasks, instanceTypes []string }

// documentEnums reads the task names and instance types from the server's
// own API document (GET /v1/openapi.yaml), so that completion offers what
// that server takes; if it cannot, the ones this edenctl knows.
func (a *app) documentEnums(ctx context.Context) (apiEnums, error) {
	known := apiEnums{tasks: taskNames()}
	for _, t := range deploy.InstanceTypes {
		known.instanceTypes = append(known.instanceTypes, string(t))
	}
	resp, err := a.call(ctx, request{method: "GET", path: "/v1/openapi.yaml"})
	if err != nil {
		return known, err
	}
	type schema struct {
		Enum       []string          `yaml:"enum"`
		Properties map[string]schema `yaml:"properties"`
	}
	var doc struct {
		Components struct {
			Schemas map[string]schema `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(resp.body, &doc); err != nil {
		return known, fmt.Errorf("the API document: %w", err)
	}
	s := doc.Components.Schemas
	if e := s["TaskRequest"].Properties["task"].Enum; len(e) > 0 {
		known.tasks = e
	}
	if e := s["InstanceType"].Enum; len(e) > 0 {
		known.instanceTypes = e
	}
	return known, nil
}

// runCompletions offers the deployment's latest runs.
func (a *app) runCompletions(ctx context.Context, depArg string) ([]cobra.Completion, error) {
	dep, err := a.deploymentID(ctx, depArg)
	if err != nil {
		return nil, err
	}
	var list httpapi.RunList
	if _, err := a.get(ctx, deploymentPath(dep)+"/runs?limit=50", &list); err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, r := range list.Items {
		out = append(out, cobra.CompletionWithDesc(r.ID, fmt.Sprintf("%s %s %s", r.Kind, r.Instance, r.Status)))
	}
	return out, nil
}

// settingCompletions offers KEY= for each of the instance's settings not
// given yet, described by its value.
func (a *app) settingCompletions(ctx context.Context, depArg, inst string, given []string) ([]cobra.Completion, error) {
	dep, err := a.deploymentID(ctx, depArg)
	if err != nil {
		return nil, err
	}
	doc, _, _, err := a.readSettings(ctx, dep, inst)
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, k := range doc.Settings.Keys() {
		if !slices.ContainsFunc(given, func(kv string) bool { return strings.HasPrefix(kv, k+"=") }) {
			out = append(out, cobra.CompletionWithDesc(k+"=", inlineValue(doc.Settings[k])))
		}
	}
	return out, nil
}

func (a *app) contextCompletions() ([]cobra.Completion, error) {
	f, err := a.loadContexts()
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, c := range f.Contexts {
		out = append(out, cobra.CompletionWithDesc(c.Name, c.Endpoint))
	}
	return out, nil
}
