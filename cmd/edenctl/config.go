package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// readSettings returns an instance's settings with their ETag.
func (a *app) readSettings(ctx context.Context, dep, inst string) (httpapi.SettingsDoc, string, *response, error) {
	var doc httpapi.SettingsDoc
	resp, err := a.get(ctx, instancePath(dep, inst)+"/settings", &doc)
	if err != nil {
		return doc, "", nil, err
	}
	etag := resp.header.Get("ETag")
	if etag == "" {
		etag = strconv.Quote(strconv.Itoa(doc.Version))
	}
	return doc, etag, resp, nil
}

// putSettings replaces the settings read at etag and reports the run.
func (a *app) putSettings(ctx context.Context, dep, inst, etag string, s deploy.Settings, rf runFlags) error {
	resp, err := a.call(ctx, request{method: http.MethodPut, path: instancePath(dep, inst) + "/settings",
		body: httpapi.PutSettingsRequest{Settings: s, DryRun: rf.dryRun}, header: map[string]string{"If-Match": etag}})
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusPreconditionFailed {
		return fmt.Errorf("the settings changed since they were read (%s): read them again and retry", ae.problem.Detail)
	}
	if err != nil {
		return err
	}
	var out httpapi.SettingsReplaced
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	if err := a.emit(resp.body, runIDs(out.Run), func(w io.Writer) {
		fmt.Fprintf(w, "settings version %d\n", out.Version)
		printStarted(w, out.Run)
	}); err != nil {
		return err
	}
	return a.maybeWait(ctx, rf, out.Run)
}

func configCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:   "config",
		Short: "Read and change an instance's settings (behind models/000_config.py)",
		Long: `Read and change an instance's settings: the values behind its
models/000_config.py (settings.base.template, settings.L10n.default_language,
...). A change starts a reconfigure run that writes them and restarts Eden.`,
	}, configGetCommand(a), configSetCommand(a), configEditCommand(a))
}

func configGetCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get DEPLOYMENT INSTANCE",
		Short: "Print an instance's settings and their version",
		Example: `  edenctl config get d-01hx5k0v6p8mzq3rj7t2c9w4fy prod
  edenctl config get d-01hx5k0v6p8mzq3rj7t2c9w4fy prod --output yaml`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance),
		RunE:              a.onDeployment(func(ctx context.Context, dep string, args []string) error { return a.configGet(ctx, dep, args[0]) }),
	}
}

func (a *app) configGet(ctx context.Context, dep, inst string) error {
	doc, _, resp, err := a.readSettings(ctx, dep, inst)
	if err != nil {
		return err
	}
	return a.emit(resp.body, doc.Settings.Keys(), func(w io.Writer) {
		fmt.Fprintf(w, "# version %d\n", doc.Version)
		for _, k := range doc.Settings.Keys() {
			fmt.Fprintf(w, "%s\t= %s\n", k, inlineValue(doc.Settings[k]))
		}
	})
}

func inlineValue(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(string(out))
	if l, ok := v.([]any); ok {
		parts := make([]string, len(l))
		for i, x := range l {
			parts[i] = inlineValue(x)
		}
		s = "[" + strings.Join(parts, ", ") + "]"
	}
	return s
}

// parseValue reads a command-line value as YAML: true, 42, 1.5, [a, b]
// and "quoted" strings; anything else is the string itself.
func parseValue(s string) any {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	switch x := v.(type) {
	case nil:
		return s
	case map[string]any:
		return s
	case []any, bool, int, float64, string:
		return x
	}
	return s
}

func configSetCommand(a *app) *cobra.Command {
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "set DEPLOYMENT INSTANCE KEY=VALUE...",
		Short: "Change some of an instance's settings and apply them",
		Long: `Change some of an instance's settings and start the reconfigure run that
applies them. A VALUE is read as YAML: true, 42, 1.5, [a, b] and "quoted"
strings; anything else is the string itself.`,
		Example: `  edenctl config set d-01hx5k0v6p8mzq3rj7t2c9w4fy prod L10n.default_language=fr --wait
  edenctl config set d-01hx5k0v6p8mzq3rj7t2c9w4fy prod "base.system_name=Relief Ops" gis.countries="[NZ, AU]"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := argsBetween(3, -1)(cmd, args); err != nil {
				return err
			}
			_, err := parseChanges(args[2:])
			return err
		},
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance, argSettings),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			return a.configSet(ctx, dep, args[0], args[1:], rf)
		}),
	}
	rf.bind(cmd.Flags())
	return cmd
}

// parseChanges reads KEY=VALUE arguments.
func parseChanges(kvs []string) (map[string]any, error) {
	changes := map[string]any{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("%q is not KEY=VALUE", kv)
		}
		changes[k] = parseValue(v)
	}
	return changes, nil
}

func (a *app) configSet(ctx context.Context, dep, inst string, kvs []string, rf runFlags) error {
	changes, err := parseChanges(kvs)
	if err != nil {
		return err
	}
	doc, etag, _, err := a.readSettings(ctx, dep, inst)
	if err != nil {
		return err
	}
	s := doc.Settings
	if s == nil {
		s = deploy.Settings{}
	}
	for k, v := range changes {
		s[k] = v
	}
	return a.putSettings(ctx, dep, inst, etag, s, rf)
}

func configEditCommand(a *app) *cobra.Command {
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "edit DEPLOYMENT INSTANCE",
		Short: "Edit an instance's settings in $VISUAL or $EDITOR and apply them",
		Long: `Open an instance's settings as YAML in $VISUAL (or $EDITOR, or vi); saved
changes start the reconfigure run that applies them, and a file left
unchanged changes nothing.`,
		Example: `  edenctl config edit d-01hx5k0v6p8mzq3rj7t2c9w4fy prod --dry-run --wait
  EDITOR=nano edenctl config edit d-01hx5k0v6p8mzq3rj7t2c9w4fy demo`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			return a.configEdit(ctx, dep, args[0], rf)
		}),
	}
	rf.bind(cmd.Flags())
	return cmd
}

func (a *app) configEdit(ctx context.Context, dep, inst string, rf runFlags) error {
	doc, etag, _, err := a.readSettings(ctx, dep, inst)
	if err != nil {
		return err
	}
	before, err := yaml.Marshal(map[string]any(doc.Settings))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "edenctl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, dep+"-"+inst+".yaml")
	header := fmt.Sprintf("# Settings of the %s instance of %s (version %d), behind models/000_config.py.\n# Save and quit to apply them; leave the file unchanged to cancel.\n", inst, dep, doc.Version)
	if err := os.WriteFile(path, append([]byte(header), before...), 0o600); err != nil {
		return err
	}
	editor := a.getenv("VISUAL")
	if editor == "" {
		editor = a.getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	// $EDITOR may carry arguments ("code --wait"); it is the user's own
	// choice, split on spaces, never run through a shell.
	argv := append(strings.Fields(editor), path)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the editor %s failed: %w", argv[0], err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var edited map[string]any
	if err := yaml.Unmarshal(after, &edited); err != nil {
		return fmt.Errorf("the edited settings are not valid YAML: %w", err)
	}
	if edited == nil {
		edited = map[string]any{}
	}
	now, _ := yaml.Marshal(edited)
	if bytes.Equal(now, before) {
		fmt.Fprintln(a.stderr, "edenctl: no changes")
		return nil
	}
	return a.putSettings(ctx, dep, inst, etag, deploy.Settings(edited), rf)
}
