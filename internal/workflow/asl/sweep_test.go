package asl

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Sweep forgets what ended before its time, history included, and nothing
// else; a journal written before the ended index gets it at open.
func TestBoltJournalSweep(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "j.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	j, err := NewBoltJournal(db, "wf.")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(id string, stop time.Time) {
		t.Helper()
		rec := ExecutionRecord{ID: id, Machine: "m", Name: id, Status: workflow.StatusRunning, Input: []byte(`{}`), Start: t0}
		if err := j.Commit(Commit{Execution: rec, Definition: []byte(`{}`), Events: []Event{{ID: 1, Type: "ExecutionStarted"}}}); err != nil {
			t.Fatal(err)
		}
		if stop.IsZero() {
			return // still running
		}
		rec.Status, rec.Stop = workflow.StatusSucceeded, stop
		if err := j.Commit(Commit{Execution: rec, Finished: true, Events: []Event{{ID: 2, Type: "ExecutionSucceeded"}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		put(fmt.Sprintf("old-%d", i), t0.Add(time.Duration(i)*time.Hour))
	}
	put("new", t0.Add(48*time.Hour))
	put("running", time.Time{})

	// As if written before the index existed: it is rebuilt at open.
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("wf.ended")) }); err != nil {
		t.Fatal(err)
	}
	if j, err = NewBoltJournal(db, "wf."); err != nil {
		t.Fatal(err)
	}

	n, err := j.Sweep(t0.Add(24 * time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want the 3 old ones", n, err)
	}
	for id, want := range map[string]bool{"old-0": false, "old-1": false, "old-2": false, "new": true, "running": true} {
		_, found, err := j.Execution(id)
		evs, _ := j.Events(id)
		if err != nil || found != want || (len(evs) > 0) != want {
			t.Errorf("%s after the sweep: found %v (%d events), want %v", id, found, len(evs), want)
		}
	}
	if got, _ := j.Load(); len(got) != 1 || got[0].Execution.ID != "running" {
		t.Errorf("Load after the sweep = %+v", got)
	}
	if n, err := j.Sweep(t0.Add(24 * time.Hour)); n != 0 || err != nil {
		t.Errorf("a second sweep = %d, %v", n, err)
	}
}
