package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// specFile is the YAML a deployment is created from: the fields of
// deploy.Spec and the path of the SSH private key, which edenctl reads and
// sends as ssh_private_key, and those of the first instance's own
// certificate chain and key (TLS mode own), sent as its instance.tls
// certificate and private_key.
type specFile struct {
	deploy.Spec       `yaml:",inline"`
	SSHPrivateKeyFile string `yaml:"ssh_private_key_file"`
	TLSCertificate    string `yaml:"tls_certificate_file,omitempty"`
	TLSPrivateKey     string `yaml:"tls_private_key_file,omitempty"`
}

// readSpec reads a spec file (or stdin for "-"); a relative key path is
// relative to the spec file, and ~/ is the home directory.
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
	for _, f := range []struct {
		path, what string
		dst        *string
	}{
		{sf.SSHPrivateKeyFile, "the SSH private key", &req.SSHPrivateKey},
		{sf.TLSCertificate, "the TLS certificate chain", &req.Spec.Instance.TLS.Certificate},
		{sf.TLSPrivateKey, "the TLS private key", &req.Spec.Instance.TLS.PrivateKey},
	} {
		if f.path == "" {
			continue
		}
		b, err := a.readBeside(path, f.path)
		if err != nil {
			return req, fmt.Errorf("read %s: %w", f.what, err)
		}
		*f.dst = string(b)
	}
	return req, nil
}

// readBeside reads file kp, relative to the spec file (unless the spec is
// stdin), with ~/ the home directory.
func (a *app) readBeside(spec, kp string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(kp, "~/"); ok {
		kp = filepath.Join(a.getenv("HOME"), rest)
	} else if !filepath.IsAbs(kp) && spec != "-" {
		kp = filepath.Join(filepath.Dir(spec), kp)
	}
	return os.ReadFile(kp)
}

func cmdDeploymentCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags("deployment create")
	file := fs.String("f", "", "")
	var rf runFlags
	rf.bind(fs)
	if _, err := a.parse(fs, args, 0, 0, "-f SPEC.yaml [--dry-run] [--wait]"); err != nil {
		return err
	}
	if *file == "" {
		return usagef("deployment create needs -f SPEC.yaml (or -f - for stdin)")
	}
	req, err := a.readSpec(*file)
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
	if err := a.emit(resp.body, func(w io.Writer) {
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

func cmdDeploymentList(ctx context.Context, a *app, args []string) error {
	fs := a.flags("deployment list")
	if _, err := a.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	// Every page, gathered into one list.
	var all []*deploy.Deployment
	cursor := ""
	for {
		var page httpapi.DeploymentList
		path := "/v1/deployments?limit=100"
		if cursor != "" {
			path += "&cursor=" + esc(cursor)
		}
		if _, err := a.get(ctx, path, &page); err != nil {
			return err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if all == nil {
		all = []*deploy.Deployment{}
	}
	body, err := jsonOf(httpapi.DeploymentList{Items: all})
	if err != nil {
		return err
	}
	now := a.now()
	return a.emit(body, func(w io.Writer) {
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

func cmdDeploymentShow(ctx context.Context, a *app, args []string) error {
	fs := a.flags("deployment show")
	pos, err := a.parse(fs, args, 1, 1, "ID")
	if err != nil {
		return err
	}
	var d httpapi.DeploymentDetail
	resp, err := a.get(ctx, deploymentPath(pos[0]), &d)
	if err != nil {
		return err
	}
	now := a.now()
	return a.emit(resp.body, func(w io.Writer) {
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

func cmdDeploymentDelete(ctx context.Context, a *app, args []string) error {
	fs := a.flags("deployment delete")
	pos, err := a.parse(fs, args, 1, 1, "ID")
	if err != nil {
		return err
	}
	if _, err := a.call(ctx, request{method: http.MethodDelete, path: deploymentPath(pos[0])}); err != nil {
		return err
	}
	if a.output == "table" {
		fmt.Fprintf(a.stdout, "deleted deployment %s\n", pos[0])
	}
	return nil
}
