package bolt

import (
	"path/filepath"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/storetest"
)

func openTemp(t testing.TB, opt Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "eden.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, env storetest.Env) deploy.Store {
		return openTemp(t, Options{Now: env.Now, Retention: env.Retention, SweepInterval: -1})
	}, storetest.Options{})
}

func TestBackupConformance(t *testing.T) {
	storetest.RunBackups(t, func(t *testing.T, env storetest.Env) deploy.Store {
		return openTemp(t, Options{Now: env.Now, Retention: env.Retention, SweepInterval: -1})
	}, storetest.Options{})
}
