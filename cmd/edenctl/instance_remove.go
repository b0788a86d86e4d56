package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func instanceRemoveCommand(a *app) *cobra.Command {
	var confirm string
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "remove DEPLOYMENT TYPE",
		Short: "Remove an instance from its servers and the deployment (task remove)",
		Long: `Remove an instance: stop its uWSGI app and scheduler, take a final backup and
keep it off the database server, then drop its database, home, app
configuration and nginx site; the deployment then forgets it, and an
instance of that type can be added again later. The instance shows a
maintenance page meanwhile. Removing prod needs --confirm and the
deployment's name; the deployment's only instance cannot be removed.`,
		Example: `  edenctl instance remove d-01hx5k0v6p8mzq3rj7t2c9w4fy demo --wait
  edenctl instance remove relief prod --confirm relief --wait`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			return a.taskRun(ctx, dep, args[0], httpapi.TaskRequest{Task: string(deploy.RunRemove), Confirm: confirm, DryRun: rf.dryRun}, rf)
		}),
	}
	cmd.Flags().StringVar(&confirm, "confirm", "", "the deployment's `NAME`, which removing a prod instance needs")
	rf.bind(cmd.Flags())
	return cmd
}
