package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// specFile is the YAML a deployment is created from: the fields of
// deploy.Spec and the paths of the files edenctl reads and sends with it
// (the SSH private key, the administrator's password, and the first
// instance's own certificate chain and key in TLS mode own), which the
// control plane keeps only in its secret store.
type specFile struct {
	deploy.Spec       `yaml:",inline"`
	SSHPrivateKeyFile string `yaml:"ssh_private_key_file"`
	AdminPasswordFile string `yaml:"admin_password_file"`
	TLSCertificate    string `yaml:"tls_certificate_file,omitempty"`
	TLSPrivateKey     string `yaml:"tls_private_key_file,omitempty"`
}

// readSpec reads a spec file (or stdin for "-"); a relative file path in
// it is relative to the spec file, and ~/ is the home directory.
func (a *app) readSpec(path string) (httpapi.CreateDeploymentRequest, error) {
	var req httpapi.CreateDeploymentRequest
	var src []byte
	var err error
	if path == "-" {
		src, err = io.ReadAll(a.stdin)
	} else {
		src, err = os.ReadFile(path)
	}
	if err != nil {
		return req, fmt.Errorf("read the spec: %w", err)
	}
	var sf specFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&sf); err != nil {
		return req, fmt.Errorf("%s: %w", path, err)
	}
	req.Spec = sf.Spec
	readRelative := func(what, p string) (string, error) {
		if rest, ok := strings.CutPrefix(p, "~/"); ok {
			p = filepath.Join(a.getenv("HOME"), rest)
		} else if !filepath.IsAbs(p) && path != "-" {
			p = filepath.Join(filepath.Dir(path), p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read the %s: %w", what, err)
		}
		return string(b), nil
	}
	if sf.SSHPrivateKeyFile != "" {
		if req.SSHPrivateKey, err = readRelative("SSH private key", sf.SSHPrivateKeyFile); err != nil {
			return req, err
		}
	}
	if sf.AdminPasswordFile != "" {
		pw, err := readRelative("administrator's password", sf.AdminPasswordFile)
		if err != nil {
			return req, err
		}
		// A file's last newline is not part of the password.
		pw = strings.TrimSuffix(strings.TrimSuffix(pw, "\n"), "\r")
		req.AdminPassword = &pw
	}
	if sf.TLSCertificate != "" {
		if req.Spec.Instance.TLS.Certificate, err = readRelative("TLS certificate chain", sf.TLSCertificate); err != nil {
			return req, err
		}
	}
	if sf.TLSPrivateKey != "" {
		if req.Spec.Instance.TLS.PrivateKey, err = readRelative("TLS private key", sf.TLSPrivateKey); err != nil {
			return req, err
		}
	}
	return req, nil
}

func deploymentCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:     "deployment",
		Aliases: []string{"deployments"},
		Short:   "Create, list, show and delete deployments",
	}, deploymentCreateCommand(a), deploymentListCommand(a), deploymentShowCommand(a), deploymentDeleteCommand(a))
}

func deploymentCreateCommand(a *app) *cobra.Command {
	var file string
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a deployment from a spec file and start its deploy run",
		Long: `Create a deployment from a spec file and start its deploy run.

The spec (YAML) names the servers and their roles (all, or db + eden +
webserver), the first instance (prod or demo), the Eden repository and
branch, template, prepopulate options, and the SSH user with
ssh_private_key_file, which edenctl reads and sends; the key is kept only in
the secret store. admin_password_file, if given, holds the password of
Eden's administrator (admin_email); otherwise one is generated. See examples/all-in-one.yaml and examples/3-tier.yaml.`,
		Example: `  edenctl deployment create -f my-deployment.yaml --dry-run --wait   # what would change
  edenctl deployment create -f my-deployment.yaml --wait
  cat spec.yaml | edenctl deployment create -f -`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("deployment create needs -f SPEC.yaml (or -f - for stdin)")
			}
			return a.deploymentCreate(cmd.Context(), file, rf)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the spec `FILE` (- for stdin)")
	rf.bind(cmd.Flags())
	return cmd
}

func (a *app) deploymentCreate(ctx context.Context, file string, rf runFlags) error {
	req, err := a.readSpec(file)
	if err != nil {
		return err
	}
	req.DryRun = rf.dryRun
	resp, err := a.call(ctx, request{method: http.MethodPost, path: "/v1/deployments", body: req})
	if err != nil {
		return err
	}
	var out httpapi.DeploymentCreated
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	if err := a.emit(resp.body, []string{out.Deployment.ID}, func(w io.Writer) {
		fmt.Fprintf(w, "created deployment %s (%s)\n", out.Deployment.ID, out.Deployment.Name)
		printStarted(w, out.Run)
	}); err != nil {
		return err
	}
	return a.maybeWait(ctx, rf, out.Run)
}

func printStarted(w io.Writer, r *deploy.Run) {
	dry := ""
	if r.DryRun {
		dry = " (dry run)"
	}
	fmt.Fprintf(w, "run %s (%s%s) %s\n", r.ID, r.Kind, dry, r.Status)
	if r.Status == deploy.RunFailed && r.Error != "" {
		fmt.Fprintf(w, "  %s\n", r.Error)
	}
}

func deploymentListCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your deployments (an admin's: everyone's), newest first",
		Example: `  edenctl deployment list
  edenctl deployment list --output json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.deploymentList(cmd.Context()) },
	}
}

func (a *app) deploymentList(ctx context.Context) error {
	// Every page, gathered into one list.
	all, err := a.listDeployments(ctx, "", 0)
	if err != nil {
		return err
	}
	if all == nil {
		all = []*deploy.Deployment{}
	}
	body, err := json.Marshal(httpapi.DeploymentList{Items: all})
	if err != nil {
		return err
	}
	now := a.now()
	ids := make([]string, len(all))
	for i, d := range all {
		ids[i] = d.ID
	}
	return a.emit(body, ids, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tOWNER\tSERVERS\tINSTANCES\tCREATED")
		for _, d := range all {
			var insts []string
			for _, i := range d.Instances {
				insts = append(insts, string(i.Type)+":"+string(i.Status))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Name, d.Owner, len(d.Servers), dash(strings.Join(insts, ",")), ago(d.CreatedAt, now))
		}
	})
}

func deploymentShowCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show DEPLOYMENT",
		Short: "Show a deployment: its servers, instances and active run",
		Example: `  edenctl deployment show d-01hx5k0v6p8mzq3rj7t2c9w4fy
  edenctl deployment show d-01hx5k0v6p8mzq3rj7t2c9w4fy --output yaml`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE:              a.onDeployment(func(ctx context.Context, dep string, _ []string) error { return a.deploymentShow(ctx, dep) }),
	}
}

func (a *app) deploymentShow(ctx context.Context, dep string) error {
	var d httpapi.DeploymentDetail
	resp, err := a.get(ctx, deploymentPath(dep), &d)
	if err != nil {
		return err
	}
	now := a.now()
	return a.emit(resp.body, []string{d.ID}, func(w io.Writer) {
		fmt.Fprintf(w, "id:\t%s\n", d.ID)
		fmt.Fprintf(w, "name:\t%s\n", d.Name)
		fmt.Fprintf(w, "owner:\t%s\n", d.Owner)
		fmt.Fprintf(w, "eden:\t%s (%s)\n", d.Eden.URL, d.Eden.Branch)
		fmt.Fprintf(w, "template:\t%s\n", d.Template)
		fmt.Fprintf(w, "target:\t%s\n", d.Target)
		if d.Degraded != "" {
			fmt.Fprintf(w, "degraded:\t%s\n", d.Degraded)
		}
		fmt.Fprintf(w, "created:\t%s\n", ago(d.CreatedAt, now))
		fmt.Fprintln(w, "servers:")
		for _, s := range d.Servers {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", s.Host, s.Role, dash(s.InstanceID), s.Origin)
		}
		fmt.Fprintln(w, "instances:")
		for _, i := range d.Instances {
			fmt.Fprintf(w, "  %s\t%s\t%s\tsettings v%d\n", i.Type, i.Status, i.URL, i.SettingsVersion)
		}
		if d.ActiveRun != nil {
			r := d.ActiveRun
			fmt.Fprintf(w, "active run:\t%s (%s) %s, %d steps\n", r.ID, r.Kind, r.Status, len(r.Steps))
		} else {
			fmt.Fprintln(w, "active run:\t-")
		}
	})
}

func deploymentDeleteCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete DEPLOYMENT",
		Short: "Forget a deployment (its servers are left untouched)",
		Long: `Forget a deployment: its records, bundles and secrets go; its servers and
what runs on them are left untouched. A deployment with an active run is
refused: cancel the run first (edenctl run cancel).`,
		Example:           `  edenctl deployment delete d-01hx5k0v6p8mzq3rj7t2c9w4fy`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE:              a.onDeployment(func(ctx context.Context, dep string, _ []string) error { return a.deploymentDelete(ctx, dep) }),
	}
}

func (a *app) deploymentDelete(ctx context.Context, dep string) error {
	if _, err := a.call(ctx, request{method: http.MethodDelete, path: deploymentPath(dep)}); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"id": dep, "deleted": true})
	if err != nil {
		return err
	}
	return a.emit(body, []string{dep}, func(w io.Writer) { fmt.Fprintf(w, "deleted deployment %s\n", dep) })
}
