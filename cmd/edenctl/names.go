package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// deploymentIDShape is what deploy.NewID makes for a deployment.
var deploymentIDShape = regexp.MustCompile(`^d-[0-9a-hjkmnp-tv-z]{26}$`)

// ambiguousError is a name that several deployments share: exit 1, with
// each of them listed.
type ambiguousError struct {
	name    string
	matches []*deploy.Deployment
}

func (e *ambiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d deployments are called %q; name one by its ID:", len(e.matches), e.name)
	for _, d := range e.matches {
		fmt.Fprintf(&b, "\n  %s  owner %s, created %s", d.ID, d.Owner, d.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	return b.String()
}

// deploymentID returns the ID of the deployment that arg names, wherever a
// command takes a DEPLOYMENT: arg itself when it has the shape of an ID;
// else the one deployment called arg among those the caller may see (a
// user's own; an admin's, everyone's), which the API finds by name
// (GET /v1/deployments?name=) without listing the rest. A name that
// several share is an *ambiguousError; one that none has is taken as an
// ID, for the API to say it is not found.
func (a *app) deploymentID(ctx context.Context, arg string) (string, error) {
	if deploymentIDShape.MatchString(arg) {
		return arg, nil
	}
	matches, err := a.deploymentsNamed(ctx, arg)
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return arg, nil
	case 1:
		return matches[0].ID, nil
	}
	return "", &ambiguousError{name: arg, matches: matches}
}

// deploymentsNamed returns every deployment called name that the caller
// may see, newest first.
func (a *app) deploymentsNamed(ctx context.Context, name string) ([]*deploy.Deployment, error) {
	ds, err := a.listDeployments(ctx, "&name="+url.QueryEscape(name), 0)
	if err != nil {
		return nil, err
	}
	// A server that predates ?name= lists everything: keep the name's.
	var named []*deploy.Deployment
	for _, d := range ds {
		if d.Name == name {
			named = append(named, d)
		}
	}
	return named, nil
}

// listDeployments reads GET /v1/deployments?limit=100 plus query, page
// after page, at most maxPages of them (0: every page).
func (a *app) listDeployments(ctx context.Context, query string, maxPages int) ([]*deploy.Deployment, error) {
	var all []*deploy.Deployment
	cursor := ""
	for n := 1; ; n++ {
		path := "/v1/deployments?limit=100" + query
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page httpapi.DeploymentList
		if _, err := a.get(ctx, path, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if cursor = page.Next; cursor == "" || n == maxPages {
			return all, nil
		}
	}
}

// onDeployment is the RunE of a command whose first argument is a
// DEPLOYMENT (an ID or a name): run gets its ID and the other arguments.
func (a *app) onDeployment(run func(ctx context.Context, dep string, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		dep, err := a.deploymentID(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return run(cmd.Context(), dep, args[1:])
	}
}
