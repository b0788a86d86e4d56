package dynamo

import (
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/storetest"
)

func TestAccountsConformance(t *testing.T) {
	for _, p := range []struct {
		name  string
		start func(t *testing.T) *peer
	}{
		{"minidyn", func(t *testing.T) *peer { return startMinidyn(t) }},
		{"dynalite", startDynalite},
	} {
		t.Run(p.name, func(t *testing.T) {
			peer := p.start(t)
			rec := &opRecorder{}
			storetest.RunAccounts(t, func(t *testing.T) deploy.AccountStore {
				return peer.newStore(t, rec, storetest.Env{})
			})
			rec.check(t)
		})
	}
}
