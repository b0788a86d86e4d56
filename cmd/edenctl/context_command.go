package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func contextCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:     "context",
		Aliases: []string{"contexts"},
		Short:   "Keep several endpoints with their tokens, and switch between them",
		Long: `Keep several endpoints with their tokens, by name, in
$XDG_CONFIG_HOME/edenctl/config.yaml (or ~/.config/edenctl/config.yaml; the
file is 0600: it holds tokens, which edenctl never prints), and switch
between them.

Which endpoint and token a command uses, first found first:
  1. --endpoint and --token;
  2. the context that --context names;
  3. the environment: EDEN_ENDPOINT, EDEN_TOKEN;
  4. the current context ("edenctl context use");
  5. http://127.0.0.1:8080 and the token file $XDG_CONFIG_HOME/edenctl/token.
A context's token is only ever sent to that context's own endpoint.`,
		Example: `  edenctl context add local http://127.0.0.1:8080 --token-file ~/.local/share/edendeploy/admin.token
  edenctl token create --user alice | edenctl context add alice http://127.0.0.1:8080 --token-file -
  edenctl context use alice
  edenctl --context local deployment list`,
	}, contextListCommand(a), contextAddCommand(a), contextUseCommand(a), contextCurrentCommand(a), contextRemoveCommand(a))
}

// contextView is a context as list prints it: never its token.
type contextView struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	HasToken bool   `json:"has_token"`
	Current  bool   `json:"current"`
}

func contextListCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the contexts (never their tokens); * marks the current one",
		Example: `  edenctl context list
  edenctl context list --output json`,
		Args: exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			f, err := a.loadContexts()
			if err != nil {
				return err
			}
			views := []contextView{}
			var names []string
			for _, c := range f.Contexts {
				views = append(views, contextView{Name: c.Name, Endpoint: c.Endpoint, HasToken: c.Token != "", Current: c.Name == f.CurrentContext})
				names = append(names, c.Name)
			}
			body, err := json.Marshal(map[string]any{"current_context": f.CurrentContext, "contexts": views})
			if err != nil {
				return err
			}
			return a.emit(body, names, func(w io.Writer) {
				fmt.Fprintln(w, "CURRENT\tNAME\tENDPOINT\tTOKEN")
				for _, v := range views {
					cur, tok := "", "-"
					if v.Current {
						cur = "*"
					}
					if v.HasToken {
						tok = "set"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", cur, v.Name, v.Endpoint, tok)
				}
			})
		},
	}
}

func contextAddCommand(a *app) *cobra.Command {
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "add NAME ENDPOINT",
		Short: "Add a context, or replace the one of that name",
		Long: `Add a context: a name for an endpoint and the token to send it, read from
--token-file (- for stdin) so that it never shows on a command line. A
context of the same name is replaced. The first context added becomes the
current one.`,
		Example: `  edenctl context add local http://127.0.0.1:8080 --token-file ~/.local/share/edendeploy/admin.token
  edenctl context add prod https://api.eden.example.org --token-file - < token.txt`,
		Args: exactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			name, endpoint := args[0], args[1]
			if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
				return usagef("the endpoint %q is not an http:// or https:// URL", endpoint)
			}
			token := ""
			if tokenFile != "" {
				var b []byte
				var err error
				if tokenFile == "-" {
					b, err = io.ReadAll(a.stdin)
				} else {
					b, err = os.ReadFile(tokenFile)
				}
				if err != nil {
					return fmt.Errorf("read the token: %w", err)
				}
				if token = strings.TrimSpace(string(b)); token == "" {
					return fmt.Errorf("the token file %s is empty", tokenFile)
				}
			}
			f, err := a.loadContexts()
			if err != nil {
				return err
			}
			verb := "added"
			if c := f.find(name); c != nil {
				*c = apiContext{Name: name, Endpoint: endpoint, Token: token}
				verb = "replaced"
			} else {
				f.Contexts = append(f.Contexts, apiContext{Name: name, Endpoint: endpoint, Token: token})
			}
			if f.CurrentContext == "" {
				f.CurrentContext = name
			}
			if err := a.saveContexts(f); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "edenctl: %s context %s (%s)\n", verb, name, endpoint)
			return nil
		},
	}
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "read the context's token from `FILE` (- for stdin)")
	return cmd
}

func contextUseCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "use NAME",
		Short:             "Make NAME the current context",
		Example:           `  edenctl context use prod`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completeArgs(argContext),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.changeContext(args[0], "using", func(f *contextFile) { f.CurrentContext = args[0] })
		},
	}
}

func contextCurrentCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "current",
		Short:   "Print the current context's name",
		Example: `  edenctl context current`,
		Args:    exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			f, err := a.loadContexts()
			if err != nil {
				return err
			}
			if f.CurrentContext == "" {
				return fmt.Errorf("no current context (edenctl context use NAME)")
			}
			body, err := json.Marshal(map[string]string{"current_context": f.CurrentContext})
			if err != nil {
				return err
			}
			return a.emit(body, []string{f.CurrentContext}, func(w io.Writer) { fmt.Fprintln(w, f.CurrentContext) })
		},
	}
}

func contextRemoveCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "remove NAME",
		Aliases:           []string{"rm", "delete"},
		Short:             "Forget a context and its token",
		Example:           `  edenctl context remove old-laptop`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completeArgs(argContext),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.changeContext(args[0], "removed", func(f *contextFile) {
				f.Contexts = slices.DeleteFunc(f.Contexts, func(c apiContext) bool { return c.Name == args[0] })
				if f.CurrentContext == args[0] {
					f.CurrentContext = ""
				}
			})
		},
	}
}

// changeContext applies change to the context file if it has a context
// called name, saves it, and says what it did (done) on stderr.
func (a *app) changeContext(name, done string, change func(f *contextFile)) error {
	f, err := a.loadContexts()
	if err != nil {
		return err
	}
	if f.find(name) == nil {
		return fmt.Errorf("no context %q (there are: %s)", name, listOrNone(f.names()))
	}
	change(f)
	if err := a.saveContexts(f); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "edenctl: %s context %s\n", done, name)
	return nil
}
