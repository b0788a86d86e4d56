package asl

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// passChain is a machine of n Pass states, each with a Parameters template
// so that the data flow is part of the cost.
func passChain(n int) string {
	var b strings.Builder
	b.WriteString(`{"StartAt": "S0", "States": {`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		next := fmt.Sprintf(`"Next": "S%d"`, i+1)
		if i == n-1 {
			next = `"End": true`
		}
		fmt.Fprintf(&b, `"S%d": {"Type": "Pass", "Parameters": {"run.$": "$.run", "step": %d}, %s}`, i, i, next)
	}
	b.WriteString("}}")
	return b.String()
}

// BenchmarkPassTransition measures the engine's overhead per state
// transition: run with
//
//	go test -run '^$' -bench PassTransition -benchtime 200x ./internal/workflow/asl/
func BenchmarkPassTransition(b *testing.B) {
	const states = 20
	def := passChain(states)
	journals := map[string]func(b *testing.B) Journal{
		"mem": func(*testing.B) Journal { return NewMemJournal() },
		"bbolt": func(b *testing.B) Journal {
			j, err := OpenBoltJournal(filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { j.Close() })
			return j
		},
	}
	for _, name := range []string{"mem", "bbolt"} {
		b.Run(name, func(b *testing.B) {
			e, err := New(Config{Registry: NewRegistry(), Journal: journals[name](b)})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			if err := e.Load("m", []byte(def)); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id, err := e.StartExecution(ctx, "m", fmt.Sprintf("b-%d", i), []byte(`{"run": "r"}`))
				if err != nil {
					b.Fatal(err)
				}
				x, err := e.Wait(ctx, id)
				if err != nil || x.Transitions != states {
					b.Fatalf("%v %+v", err, x)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*states), "ns/transition")
		})
	}
}
