package control

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// FindDeployments lists the deployments called name that the caller may
// see (a user's own; an admin's, everyone's), newest first, so that a
// client can turn a name into an ID without listing everything. Names are
// not unique: there may be several.
//
// It pages like ListDeployments, and the store is read the same way (a
// page of the store at a time, keeping the matches): a page holds the
// matches of one or more pages of the store, at most p.Limit, and may
// hold fewer; the last page is the one whose next cursor is "".
func (s *Service) FindDeployments(ctx context.Context, c Caller, name string, p deploy.Page) ([]*deploy.Deployment, string, error) {
	for {
		ds, next, err := s.ListDeployments(ctx, c, p)
		if err != nil {
			return nil, "", err
		}
		var found []*deploy.Deployment
		for _, d := range ds {
			if d.Name == name {
				found = append(found, d)
			}
		}
		if len(found) > 0 || next == "" {
			return found, next, nil
		}
		p.Cursor = next
	}
}
