package bolt

import (
	"context"
	"fmt"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// The benchmarks run with fsync on commit (the default), as the local
// control plane does: write numbers are bounded by the disk's fsync rate.

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkCreateDeployment(b *testing.B) {
	s := openTemp(b, Options{SweepInterval: -1})
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d, r := fixture(i)
		if err := s.CreateDeployment(ctx, d, r); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

// seeded returns a store with n deployments (owners user-0..user-6).
func seeded(b *testing.B, n int) *Store {
	s := openTemp(b, Options{SweepInterval: -1, NoSync: true})
	ctx := context.Background()
	for i := range n {
		d, r := fixture(i)
		if err := s.CreateDeployment(ctx, d, r); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkGetDeployment(b *testing.B) {
	s := seeded(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.GetDeployment(ctx, fmt.Sprintf("d-%08d", i%1000)); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

func BenchmarkListDeploymentsPage(b *testing.B) {
	s := seeded(b, 1000)
	ctx := context.Background()
	_, next, err := s.ListDeployments(ctx, "user-3", deploy.Page{Limit: 20})
	if err != nil || next == "" {
		b.Fatal(next, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ds, _, err := s.ListDeployments(ctx, "user-3", deploy.Page{Limit: 20, Cursor: next})
		if err != nil || len(ds) != 20 {
			b.Fatal(len(ds), err)
		}
	}
	reportOps(b)
}

func BenchmarkUpdateRun(b *testing.B) {
	s := openTemp(b, Options{SweepInterval: -1})
	ctx := context.Background()
	d, r := fixture(1)
	if err := s.CreateDeployment(ctx, d, r); err != nil {
		b.Fatal(err)
	}
	if err := r.MoveTo(deploy.RunRunning, t0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Transitions = i
		if err := s.UpdateRun(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}
