package record

import (
	"sort"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// SortAccounts orders accounts as deploy.AccountStore lists them: oldest
// first, then by e-mail address.
func SortAccounts(as []*deploy.Account) {
	sort.SliceStable(as, func(i, j int) bool {
		if !as[i].CreatedAt.Equal(as[j].CreatedAt) {
			return as[i].CreatedAt.Before(as[j].CreatedAt)
		}
		return as[i].Email < as[j].Email
	})
}
