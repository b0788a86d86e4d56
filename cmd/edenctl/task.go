package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// taskNames are the tasks "task run" takes (the API takes add-instance
// too, which "instance add" starts).
func taskNames() []string {
	return []string{"clean", "pull", "restart", "backup", "restore", "remove", "deploy"}
}

func taskCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:     "task",
		Aliases: []string{"tasks"},
		Short:   "Run management tasks (clean, pull, restart, backup, restore, remove, deploy) on an instance",
	}, taskRunCommand(a))
}

func taskRunCommand(a *app) *cobra.Command {
	var confirm, backup string
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "run DEPLOYMENT INSTANCE TASK",
		Short: "Start a management task on an instance",
		Long: `Start a management task on an instance:

  clean     recreate the instance's database (on prod only with --confirm
            and the deployment's name)
  pull      update Eden's code, migrate, compile, restart
  restart   restart the instance's services
  backup    dump the instance's database now and keep it off the server
  restore   put the database back from --backup (see edenctl backup list;
            on prod only with --confirm)
  remove    remove the instance (on prod only with --confirm); see
            edenctl instance remove
  deploy    apply the whole configuration again

Clean, pull, restore and remove show the instance's maintenance page while
they run.`,
		Example: `  edenctl task run d-01hx5k0v6p8mzq3rj7t2c9w4fy prod pull --wait
  edenctl task run d-01hx5k0v6p8mzq3rj7t2c9w4fy prod clean --confirm relief --wait
  edenctl task run d-01hx5k0v6p8mzq3rj7t2c9w4fy demo restart --dry-run`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := exactArgs(3)(cmd, args); err != nil {
				return err
			}
			if !slices.Contains(taskNames(), args[2]) && args[2] != "add-instance" {
				return usagef("unknown task %q: use %s", args[2], strings.Join(taskNames(), ", "))
			}
			return nil
		},
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance, argTask),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			return a.taskRun(ctx, dep, args[0], httpapi.TaskRequest{Task: args[1], Confirm: confirm, Backup: backup, DryRun: rf.dryRun}, rf)
		}),
	}
	cmd.Flags().StringVar(&confirm, "confirm", "", "the deployment's `NAME`, which cleaning, restoring or removing a prod instance needs")
	cmd.Flags().StringVar(&backup, "backup", "", "the `ID` of the backup a restore puts back")
	rf.bind(cmd.Flags())
	return cmd
}

func (a *app) taskRun(ctx context.Context, dep, inst string, body httpapi.TaskRequest, rf runFlags) error {
	return a.startRun(ctx, request{method: http.MethodPost, path: instancePath(dep, inst) + "/tasks", body: body}, rf)
}

// startRun sends req, which answers with the run it started, prints the
// run and waits for its end when rf asks.
func (a *app) startRun(ctx context.Context, req request, rf runFlags) error {
	resp, err := a.call(ctx, req)
	if err != nil {
		return err
	}
	var out httpapi.RunStarted
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	if err := a.emit(resp.body, runIDs(out.Run), func(w io.Writer) { printStarted(w, out.Run) }); err != nil {
		return err
	}
	return a.maybeWait(ctx, rf, out.Run)
}
