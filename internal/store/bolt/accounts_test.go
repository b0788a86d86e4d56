package bolt

import (
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/storetest"
)

func TestAccountsConformance(t *testing.T) {
	storetest.RunAccounts(t, func(t *testing.T) deploy.AccountStore {
		return openTemp(t, Options{SweepInterval: -1})
	})
}
