package bolt

import (
	"testing"

	"github.com/edendeploy/edendeploy/internal/store/storetest"
)

func TestScheduleConformance(t *testing.T) {
	storetest.RunSchedules(t, func(t *testing.T, env storetest.Env) storetest.NotifyStore {
		return openTemp(t, Options{Now: env.Now, Retention: env.Retention, SweepInterval: -1})
	}, storetest.Options{})
}
