package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/buildinfo"
)

// versionReport is what `edenctl version --output json` prints: the
// client's build, and the server's (GET /v1/version) or why it is missing.
type versionReport struct {
	Client      buildinfo.Info  `json:"client"`
	Server      *buildinfo.Info `json:"server,omitempty"`
	Endpoint    string          `json:"endpoint,omitempty"`
	ServerError string          `json:"server_error,omitempty"`
}

func versionCommand(a *app) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print edenctl's version, commit and Go version, and the server's",
		Long: `Print edenctl's version, the commit and the Go version it was built with, and
the same of the server at the endpoint when it answers (GET /v1/version needs
no token). An unreachable server is not an error: the client's version is
printed all the same.`,
		Example: `  edenctl version
  edenctl version --client
  edenctl version --output json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.version(cmd.Context(), clientOnly) },
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "the client's version only; do not ask the server")
	return cmd
}

func (a *app) version(ctx context.Context, clientOnly bool) error {
	rep := versionReport{Client: buildinfo.Get()}
	if !clientOnly {
		rep.Endpoint = a.endpoint
		// A version is worth a short wait only: a server that does not
		// answer soon is reported as such.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var srv buildinfo.Info
		if _, err := a.get(ctx, "/v1/version", &srv); err != nil {
			rep.ServerError = err.Error()
		} else {
			rep.Server = &srv
		}
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return a.emit(body, []string{rep.Client.Version}, func(w io.Writer) {
		fmt.Fprintf(w, "client:\t%s\tcommit %s\t%s\n", rep.Client.Version, rep.Client.Commit, rep.Client.GoVersion)
		switch {
		case rep.Server != nil:
			fmt.Fprintf(w, "server:\t%s\tcommit %s\t%s\tat %s\n", rep.Server.Version, rep.Server.Commit, rep.Server.GoVersion, rep.Endpoint)
		case !clientOnly:
			// Past the last tab: no column to widen.
			fmt.Fprintf(w, "server:\tnot known: %s\n", rep.ServerError)
		}
	})
}
