package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func backupCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:     "backup",
		Aliases: []string{"backups"},
		Short:   "List a deployment's backups, and restore an instance from one",
	}, backupListCommand(a), backupShowCommand(a), backupRestoreCommand(a))
}

func backupListCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list DEPLOYMENT [INSTANCE]",
		Short: "List a deployment's backups (of one instance), newest first",
		Long: `List a deployment's backups, newest first: nightly, hand-made (task backup)
and final (instance remove) ones, each with its time, size, SHA-256 and where
its copies are: on the database server, and off it (the control plane's data
directory, or the stack's bucket on AWS). A nightly dump shows up once the
next backup run has copied it off the server.`,
		Example: `  edenctl backup list d-01hx5k0v6p8mzq3rj7t2c9w4fy
  edenctl backup list d-01hx5k0v6p8mzq3rj7t2c9w4fy prod --output json`,
		Args:              argsBetween(1, 2),
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			inst := ""
			if len(args) > 0 {
				inst = args[0]
			}
			return a.backupList(ctx, dep, inst)
		}),
	}
}

func (a *app) backupList(ctx context.Context, dep, inst string) error {
	path := deploymentPath(dep) + "/backups"
	if inst != "" {
		path += "?instance=" + url.QueryEscape(inst)
	}
	var list httpapi.BackupList
	resp, err := a.get(ctx, path, &list)
	if err != nil {
		return err
	}
	ids := make([]string, len(list.Items))
	for i, b := range list.Items {
		ids[i] = b.ID
	}
	now := a.now()
	return a.emit(resp.body, ids, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tINSTANCE\tMADE\tSIZE\tORIGIN\tSHA-256\tCOPIES")
		for _, b := range list.Items {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Instance, ago(b.CreatedAt, now), size(b.Size), b.Origin, b.SHA256[:min(12, len(b.SHA256))], copyKinds(b))
		}
	})
}

func backupShowCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "show DEPLOYMENT BACKUP",
		Short:             "Show a backup: its time, size, SHA-256 and where each copy is",
		Example:           `  edenctl backup show d-01hx5k0v6p8mzq3rj7t2c9w4fy d-01hx5k0v6p8mzq3rj7t2c9w4fy.prod.20260301-020000`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE:              a.onDeployment(func(ctx context.Context, dep string, args []string) error { return a.backupShow(ctx, dep, args[0]) }),
	}
}

func (a *app) backupShow(ctx context.Context, dep, id string) error {
	var b deploy.Backup
	resp, err := a.get(ctx, deploymentPath(dep)+"/backups/"+url.PathEscape(id), &b)
	if err != nil {
		return err
	}
	now := a.now()
	return a.emit(resp.body, []string{b.ID}, func(w io.Writer) {
		fmt.Fprintf(w, "id:\t%s\n", b.ID)
		fmt.Fprintf(w, "instance:\t%s\n", b.Instance)
		fmt.Fprintf(w, "made:\t%s (%s)\n", ago(b.CreatedAt, now), b.Origin)
		fmt.Fprintf(w, "size:\t%s (%d bytes)\n", size(b.Size), b.Size)
		fmt.Fprintf(w, "sha256:\t%s\n", b.SHA256)
		fmt.Fprintf(w, "run:\t%s\n", dash(b.RunID))
		for _, c := range b.Copies {
			checked := "checked " + ago(c.VerifiedAt, now)
			if c.Kind == deploy.CopyServer {
				checked = "seen " + ago(c.VerifiedAt, now)
			}
			fmt.Fprintf(w, "copy (%s):\t%s\t%s\n", c.Kind, c.Location, checked)
		}
	})
}

func backupRestoreCommand(a *app) *cobra.Command {
	var confirm string
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "restore DEPLOYMENT INSTANCE BACKUP",
		Short: "Put an instance's database back from a backup (task restore)",
		Long: `Put an instance's database back from a backup of any instance of the same
deployment (a test instance from a prod backup, say): the backup's dump is
taken from the database server, or from its copy off the server when the
server lacks it, checked against its SHA-256, restored into a fresh database
that replaces the running one only if the restore succeeded, then Eden
migrates and restarts. The instance shows a maintenance page meanwhile.
Restoring prod needs --confirm and the deployment's name. The same as
"edenctl task run DEPLOYMENT INSTANCE restore --backup BACKUP".`,
		Example: `  edenctl backup restore d-01hx5k0v6p8mzq3rj7t2c9w4fy test d-01hx5k0v6p8mzq3rj7t2c9w4fy.prod.20260301-020000 --wait
  edenctl backup restore relief prod relief-backup-id --confirm relief --wait`,
		Args:              exactArgs(3),
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			return a.taskRun(ctx, dep, args[0], httpapi.TaskRequest{Task: string(deploy.RunRestore), Backup: args[1], Confirm: confirm, DryRun: rf.dryRun}, rf)
		}),
	}
	cmd.Flags().StringVar(&confirm, "confirm", "", "the deployment's `NAME`, which restoring a prod instance needs")
	rf.bind(cmd.Flags())
	return cmd
}

// size is n bytes for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// copyKinds says where a backup's copies are, shortly: "server,offsite".
func copyKinds(b *deploy.Backup) string {
	var ks []string
	for _, c := range b.Copies {
		ks = append(ks, string(c.Kind))
	}
	return dash(strings.Join(ks, ","))
}
