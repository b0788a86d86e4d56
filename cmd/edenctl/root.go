package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newRoot returns edenctl's command tree, bound to a.
//
// Adding a command is one file: a constructor func(a *app) *cobra.Command
// (a group of subcommands is built with group), and its line in the list
// below, or in its group's list.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "edenctl",
		Short: "Eden Deploy's command line, and its local control plane",
		Long: `edenctl deploys and manages Sahana Eden through the Eden Deploy API, on AWS
or on the local control plane that "edenctl serve" starts.

exit status: 0 success, 1 a run failed or the API refused, 2 usage error`,
		Example: `  export EDEN_TOKEN=$(cat ~/.local/share/edendeploy/admin.token)
  edenctl deployment list
  edenctl deployment create -f my-deployment.yaml --wait`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Not cobra's default "completion" command: completion.go has one.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.resolve() },
	}
	groupArgs(root)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate(helpTemplate)

	gf := root.PersistentFlags()
	gf.StringVar(&a.endpoint, "endpoint", "", "the `URL` of the API (env EDEN_ENDPOINT, or the context's; default http://127.0.0.1:8080)")
	gf.StringVar(&a.token, "token", "", "the bearer `TOKEN` (env EDEN_TOKEN, or the context's, or $XDG_CONFIG_HOME/edenctl/token)")
	gf.StringVar(&a.contextName, "context", "", "use the endpoint and token of context `NAME` (see edenctl context)")
	gf.StringVarP(&a.output, "output", "o", "", "the output `FORMAT`: table, json or yaml (default table), with the API's field names")
	gf.BoolVarP(&a.quiet, "quiet", "q", false, "print only IDs, one a line (for scripts)")
	a.completeFlags(root)

	for _, c := range []func(*app) *cobra.Command{
		backupCommand,
		completionCommand,
		configCommand,
		contextCommand,
		deploymentCommand,
		instanceCommand,
		logsCommand,
		runCommand,
		runsCommand,
		scheduleCommand,
		serveCommand,
		taskCommand,
		tokenCommand,
		versionCommand,
		webhookCommand,
	} {
		root.AddCommand(c(a))
	}
	noFileArgs(root)
	return root
}

// noFileArgs makes the commands that complete no argument of their own
// offer no file names either (cobra's default).
func noFileArgs(c *cobra.Command) {
	if c.ValidArgsFunction == nil && len(c.ValidArgs) == 0 {
		c.ValidArgsFunction = cobra.NoFileCompletions
	}
	for _, sub := range c.Commands() {
		noFileArgs(sub)
	}
}

// group makes parent a group of the subcommands children: run alone or
// with a word that names none of them, it is a usage error that suggests
// the nearest.
func group(parent *cobra.Command, children ...*cobra.Command) *cobra.Command {
	groupArgs(parent)
	parent.AddCommand(children...)
	return parent
}

// groupArgs makes cmd refuse to run without a known subcommand.
func groupArgs(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			if !cmd.HasParent() {
				return usagef("no command given")
			}
			return usagef("%s needs a subcommand", cmd.CommandPath())
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(quoteAll(s), " or ") + "?"
		}
		return usagef("%s", msg)
	}
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// argsBetween is a command's positional-argument check: at least min, at
// most max (max < 0: no limit), named after the command's Use line.
func argsBetween(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		_, names, _ := strings.Cut(cmd.Use, " ")
		switch {
		case names == "":
			return usagef("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
		case len(args) < min:
			return usagef("%s needs %s", cmd.CommandPath(), names)
		}
		return usagef("%s takes %s, got %d arguments", cmd.CommandPath(), names, len(args))
	}
}

// exactArgs is argsBetween(n, n).
func exactArgs(n int) cobra.PositionalArgs { return argsBetween(n, n) }

// runFlags are the flags of every command that starts a run.
type runFlags struct{ dryRun, wait bool }

func (rf *runFlags) bind(fs *pflag.FlagSet) {
	fs.BoolVar(&rf.dryRun, "dry-run", false, "a dry run: Ansible's check mode with diff, changing nothing")
	fs.BoolVar(&rf.wait, "wait", false, "follow the run to its end (its log on stdout, its progress on stderr); exit 1 unless it succeeds")
}

// The templates of help and usage, in the house's lower case.
const helpTemplate = `{{with (or .Long .Short)}}{{. | trimTrailingWhitespaces}}

{{end}}{{.UsageString}}`

const usageTemplate = `usage:{{if .Runnable}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} <command>{{else}}
  {{.UseLine}}{{end}}{{end}}{{if gt (len .Aliases) 0}}

aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

global flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

"{{.CommandPath}} <command> --help" tells more about a command.{{end}}
`
