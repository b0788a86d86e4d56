package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func instanceCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:     "instance",
		Aliases: []string{"instances"},
		Short:   "Add and remove instances (prod, demo, test, setup) of a deployment, and serve them over HTTPS",
	}, instanceAddCommand(a), instanceRemoveCommand(a), instanceTLSCommand(a))
}

func instanceAddCommand(a *app) *cobra.Command {
	var url string
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "add DEPLOYMENT TYPE",
		Short: "Add an instance of TYPE (prod, demo, test or setup) and start its run",
		Long: `Add an instance of TYPE (prod, demo, test or setup) to a deployment and start
the run that installs it. A deployment has at most one instance of each type,
and more only after its first deploy succeeded; a test instance starts from
a copy of prod's database.`,
		Example: `  edenctl instance add d-01hx5k0v6p8mzq3rj7t2c9w4fy demo --wait
  edenctl instance add d-01hx5k0v6p8mzq3rj7t2c9w4fy test --url https://test.example.org`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment, argNewInstance),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			return a.instanceAdd(ctx, dep, args[0], url, rf)
		}),
	}
	cmd.Flags().StringVar(&url, "url", "", "the instance's public `URL` (default: one made from the web server's host)")
	rf.bind(cmd.Flags())
	return cmd
}

func (a *app) instanceAdd(ctx context.Context, dep, typ, url string, rf runFlags) error {
	body := httpapi.AddInstanceRequest{InstanceSpec: deploy.InstanceSpec{Type: deploy.InstanceType(typ), URL: url}, DryRun: rf.dryRun}
	resp, err := a.call(ctx, request{method: http.MethodPost, path: deploymentPath(dep) + "/instances", body: body})
	if err != nil {
		return err
	}
	var out httpapi.InstanceAdded
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	if err := a.emit(resp.body, runIDs(out.Run), func(w io.Writer) {
		fmt.Fprintf(w, "added instance %s (%s)\n", out.Instance.Type, out.Instance.URL)
		printStarted(w, out.Run)
	}); err != nil {
		return err
	}
	return a.maybeWait(ctx, rf, out.Run)
}
