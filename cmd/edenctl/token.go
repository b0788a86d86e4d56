package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func tokenCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:     "token",
		Aliases: []string{"tokens"},
		Short:   "Make API tokens (local control plane, admins only)",
	}, tokenCreateCommand(a))
}

func tokenCreateCommand(a *app) *cobra.Command {
	var req httpapi.TokenRequest
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Make a bearer token for a user and print it (admins only)",
		Long: `Make a bearer token for a user of the local control plane and print it. Only
an admin may; the token is shown once and stored only as a hash.`,
		Example: `  edenctl token create --user alice
  edenctl token create --user bob --name laptop
  edenctl token create --user carol --admin`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.User == "" {
				return usagef("token create needs --user")
			}
			return a.tokenCreate(cmd.Context(), req)
		},
	}
	cmd.Flags().StringVar(&req.User, "user", "", "the `USER` the token speaks for")
	cmd.Flags().BoolVar(&req.Admin, "admin", false, "an admin's token: sees and may do everything")
	cmd.Flags().StringVar(&req.Name, "name", "", "a `NAME` to tell the token by")
	return cmd
}

func (a *app) tokenCreate(ctx context.Context, req httpapi.TokenRequest) error {
	resp, err := a.call(ctx, request{method: http.MethodPost, path: "/v1/tokens", body: req})
	if err != nil {
		return err
	}
	var out httpapi.TokenCreated
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	return a.emit(resp.body, []string{out.Token}, func(w io.Writer) {
		fmt.Fprintln(w, out.Token)
	})
}
