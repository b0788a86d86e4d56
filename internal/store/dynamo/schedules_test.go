package dynamo

import (
	"testing"

	"github.com/edendeploy/edendeploy/internal/store/storetest"
)

func TestScheduleConformanceMinidyn(t *testing.T) {
	p := startMinidyn(t)
	rec := &opRecorder{}
	storetest.RunSchedules(t, func(t *testing.T, env storetest.Env) storetest.NotifyStore {
		return p.newStore(t, rec, env)
	}, storetest.Options{})
	rec.check(t)
}

// The schedule and webhook ports write one item at a time, so the whole
// suite runs against dynalite too.
func TestScheduleConformanceDynalite(t *testing.T) {
	p := startDynalite(t)
	rec := &opRecorder{}
	storetest.RunSchedules(t, func(t *testing.T, env storetest.Env) storetest.NotifyStore {
		return p.newStore(t, rec, env)
	}, storetest.Options{NoTransactions: true})
	rec.check(t)
}
