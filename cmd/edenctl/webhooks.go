package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func webhookPath(dep, id string) string { return deploymentPath(dep) + "/webhooks/" + esc(id) }

func webhookCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:     "webhook",
		Aliases: []string{"webhooks"},
		Short:   "Be told, by a signed POST, when a deployment's runs end",
	}, webhookAddCommand(a), webhookListCommand(a), webhookDeleteCommand(a), webhookDeliveriesCommand(a))
}

func webhookAddCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "add DEPLOYMENT URL",
		Short: "POST a notice to a URL whenever one of the deployment's runs ends",
		Long: `POST a notice (JSON: the deployment, the run, its kind and status, where it
failed, links) to an http or https URL whenever one of the deployment's
runs ends or one of its Auto Scaling lifecycle actions is abandoned. Each
POST is signed with the webhook's secret, printed here once and kept only
in the secret store (the Eden-Signature header; docs/aws.md says how a
receiver checks it); a failed POST is tried again with a growing wait.`,
		Example:           `  edenctl webhook add relief https://hooks.example.org/eden`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			// The response holds the secret, never stored: no replays, so
			// no Idempotency-Key (the route refuses one).
			resp, err := a.call(ctx, request{method: http.MethodPost, path: deploymentPath(dep) + "/webhooks",
				body: httpapi.WebhookRequest{URL: args[0]}, noIdempotency: true})
			if err != nil {
				return err
			}
			var out httpapi.WebhookCreated
			if err := decodeInto(resp, &out); err != nil {
				return err
			}
			return a.emit(resp.body, []string{out.Webhook.ID}, func(w io.Writer) {
				fmt.Fprintf(w, "webhook %s → %s\n", out.Webhook.ID, out.Webhook.URL)
				fmt.Fprintf(w, "signing secret (shown once; check Eden-Signature with it):\n%s\n", out.Secret)
			})
		}),
	}
}

func webhookListCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "list DEPLOYMENT",
		Aliases:           []string{"ls"},
		Short:             "List a deployment's webhooks (never their secrets)",
		Example:           "  edenctl webhook list relief",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE: a.onDeployment(func(ctx context.Context, dep string, _ []string) error {
			var page httpapi.WebhookList
			resp, err := a.get(ctx, deploymentPath(dep)+"/webhooks?limit=100", &page)
			if err != nil {
				return err
			}
			ids := make([]string, len(page.Items))
			for i, h := range page.Items {
				ids[i] = h.ID
			}
			return a.emit(resp.body, ids, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tURL\tCREATED BY\tCREATED")
				for _, h := range page.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", h.ID, h.URL, h.CreatedBy, ago(h.CreatedAt, a.now()))
				}
			})
		}),
	}
}

func webhookDeleteCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "delete DEPLOYMENT WEBHOOK",
		Aliases:           []string{"rm"},
		Short:             "Delete a webhook, its deliveries and its secret",
		Example:           "  edenctl webhook delete relief w-01hx5m2b3c4d5e6f7g8h9j0kmn",
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			if _, err := a.call(ctx, request{method: http.MethodDelete, path: webhookPath(dep, args[0])}); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "webhook %s deleted\n", args[0])
			return nil
		}),
	}
}

func webhookDeliveriesCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "deliveries DEPLOYMENT WEBHOOK",
		Short:             "List a webhook's deliveries, newest first, with their attempts' outcome",
		Example:           "  edenctl webhook deliveries relief w-01hx5m2b3c4d5e6f7g8h9j0kmn",
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			var page httpapi.DeliveryList
			resp, err := a.get(ctx, webhookPath(dep, args[0])+"/deliveries?limit=100", &page)
			if err != nil {
				return err
			}
			ids := make([]string, len(page.Items))
			for i, d := range page.Items {
				ids[i] = d.ID
			}
			return a.emit(resp.body, ids, func(w io.Writer) {
				fmt.Fprintln(w, "DELIVERY\tEVENT\tRUN\tSTATUS\tATTEMPTS\tLAST ATTEMPT")
				for _, d := range page.Items {
					last := "-"
					if n := len(d.Attempts); n > 0 {
						at := d.Attempts[n-1]
						last = ago(at.At, a.now())
						if at.StatusCode != 0 {
							last += " HTTP " + strconv.Itoa(at.StatusCode)
						} else if at.Error != "" {
							last += " " + at.Error
						}
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.EventType, dash(d.RunID), d.Status, len(d.Attempts), last)
				}
			})
		}),
	}
}
