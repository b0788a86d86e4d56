package asl

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// BoltJournal keeps the journal in a bbolt file, in buckets whose names
// start with a prefix, so one *bolt.DB can serve the whole server.
//
// Layout: <prefix>executions: id → ExecutionRecord; <prefix>definitions:
// id → definition; <prefix>branches: id NUL branch → BranchRecord;
// <prefix>events: one sub-bucket per id, 8-byte big-endian event ID → Event;
// <prefix>ended: 8-byte big-endian stop time (Unix ns) + id → "", the
// executions that ended, oldest first (Sweep).
type BoltJournal struct {
	db     *bolt.DB
	update func(func(*bolt.Tx) error) error
	own    bool
	execs  []byte
	defs   []byte
	brs    []byte
	events []byte
	ended  []byte
}

// OpenBoltJournal opens (creating it if needed, mode 0600) a bbolt file
// that only the journal uses. Close closes the file.
func OpenBoltJournal(path string) (*BoltJournal, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("asl: open journal %s: %w", path, err)
	}
	j, err := NewBoltJournal(db, "asl.")
	if err != nil {
		db.Close()
		return nil, err
	}
	j.own = true
	return j, nil
}

// NewBoltJournal uses an open database, creating buckets named prefix+...
// Close leaves db open: its owner closes it.
func NewBoltJournal(db *bolt.DB, prefix string) (*BoltJournal, error) {
	j := &BoltJournal{
		db:     db,
		update: db.Update,
		execs:  []byte(prefix + "executions"),
		defs:   []byte(prefix + "definitions"),
		brs:    []byte(prefix + "branches"),
		events: []byte(prefix + "events"),
		ended:  []byte(prefix + "ended"),
	}
	err := db.Update(func(tx *bolt.Tx) error {
		indexed := tx.Bucket(j.ended) != nil
		for _, b := range [][]byte{j.execs, j.defs, j.brs, j.events, j.ended} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if indexed {
			return nil
		}
		// A journal from before the index: index what ended, once.
		return tx.Bucket(j.execs).ForEach(func(k, v []byte) error {
			var r ExecutionRecord
			if err := json.Unmarshal(v, &r); err != nil || r.Status == workflow.StatusRunning {
				return nil
			}
			return tx.Bucket(j.ended).Put(endedKey(r.Stop, string(k)), nil)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("asl: create journal buckets: %w", err)
	}
	return j, nil
}

// CommitWith makes Commit write through update instead of the database's
// own Update. The local control plane passes its store's writer
// (bolt.Store.Update), which runs the writes that arrive together in one
// transaction (group commit), so that journal commits and store writes
// share fsyncs instead of queueing for one each. update must run its
// function in a read-write transaction of the journal's database and
// return once that committed; it may run the function more than once.
func (j *BoltJournal) CommitWith(update func(func(*bolt.Tx) error) error) {
	j.update = update
}

// Close closes the file if OpenBoltJournal opened it.
func (j *BoltJournal) Close() error {
	if j.own {
		return j.db.Close()
	}
	return nil
}

func branchKey(execID, branchID string) []byte {
	return []byte(execID + "\x00" + branchID)
}

// Commit implements Journal.
func (j *BoltJournal) Commit(c Commit) error {
	id := c.Execution.ID
	err := j.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(j.execs).Put([]byte(id), mustJSON(c.Execution)); err != nil {
			return err
		}
		if c.Definition != nil {
			if err := tx.Bucket(j.defs).Put([]byte(id), c.Definition); err != nil {
				return err
			}
		}
		brs := tx.Bucket(j.brs)
		for _, b := range c.Branches {
			if err := brs.Put(branchKey(id, b.ID), mustJSON(b)); err != nil {
				return err
			}
		}
		if len(c.Events) > 0 {
			eb, err := tx.Bucket(j.events).CreateBucketIfNotExists([]byte(id))
			if err != nil {
				return err
			}
			for _, e := range c.Events {
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], uint64(e.ID))
				if err := eb.Put(k[:], mustJSON(e)); err != nil {
					return err
				}
			}
		}
		if c.Finished {
			if err := tx.Bucket(j.ended).Put(endedKey(c.Execution.Stop, id), nil); err != nil {
				return err
			}
			if err := tx.Bucket(j.defs).Delete([]byte(id)); err != nil {
				return err
			}
			prefix := branchKey(id, "")
			cur := brs.Cursor()
			for k, _ := cur.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = cur.Next() {
				if err := cur.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("asl: journal commit %s: %w", id, err)
	}
	return nil
}

func hasPrefix(b, p []byte) bool { return len(b) >= len(p) && string(b[:len(p)]) == string(p) }

func endedKey(stop time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(max(stop.UnixNano(), 0))), id...)
}

// sweepBatch bounds one Sweep transaction.
const sweepBatch = 500

// Sweep forgets the executions that ended before before — record,
// history, everything — and returns how many. Step Functions keeps an
// ended execution's history for 90 days, after which its name may be used
// again; the local control plane sweeps with its run retention, so the
// journal, like the runs, does not grow with every run ever made. It walks
// the ended index from the oldest, so its cost is what it forgets.
func (j *BoltJournal) Sweep(before time.Time) (int, error) {
	limit := uint64(max(before.UnixNano(), 0))
	total := 0
	for {
		n := 0
		err := j.update(func(tx *bolt.Tx) error {
			n = 0
			idx, events := tx.Bucket(j.ended).Cursor(), tx.Bucket(j.events)
			for k, _ := idx.First(); k != nil && len(k) >= 8 && binary.BigEndian.Uint64(k) < limit && n < sweepBatch; k, _ = idx.First() {
				id := k[8:]
				if err := tx.Bucket(j.execs).Delete(id); err != nil {
					return err
				}
				if events.Bucket(id) != nil {
					if err := events.DeleteBucket(id); err != nil {
						return err
					}
				}
				if err := idx.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("asl: journal sweep: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

// Load implements Journal. Only a running execution has a definition
// (its end drops it), so the definitions are the index of what runs.
func (j *BoltJournal) Load() ([]Stored, error) {
	var out []Stored
	err := j.db.View(func(tx *bolt.Tx) error {
		execs, brs := tx.Bucket(j.execs), tx.Bucket(j.brs)
		return tx.Bucket(j.defs).ForEach(func(k, d []byte) error {
			v := execs.Get(k)
			if v == nil {
				return nil
			}
			var s Stored
			if err := json.Unmarshal(v, &s.Execution); err != nil {
				return fmt.Errorf("execution %s: %w", k, err)
			}
			if s.Execution.Status != workflow.StatusRunning {
				return nil
			}
			s.Definition = append([]byte(nil), d...)
			prefix := branchKey(string(k), "")
			cur := brs.Cursor()
			for bk, bv := cur.Seek(prefix); bk != nil && hasPrefix(bk, prefix); bk, bv = cur.Next() {
				var br BranchRecord
				if err := json.Unmarshal(bv, &br); err != nil {
					return fmt.Errorf("execution %s branch %q: %w", k, bk[len(prefix):], err)
				}
				s.Branches = append(s.Branches, br)
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("asl: journal load: %w", err)
	}
	return out, nil
}

// Execution implements Journal.
func (j *BoltJournal) Execution(id string) (ExecutionRecord, bool, error) {
	var r ExecutionRecord
	found := false
	err := j.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(j.execs).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return r, false, fmt.Errorf("asl: journal execution %s: %w", id, err)
	}
	return r, found, nil
}

// Events implements Journal.
func (j *BoltJournal) Events(id string) ([]Event, error) {
	var out []Event
	err := j.db.View(func(tx *bolt.Tx) error {
		eb := tx.Bucket(j.events).Bucket([]byte(id))
		if eb == nil {
			return nil
		}
		return eb.ForEach(func(_, v []byte) error {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("asl: journal events %s: %w", id, err)
	}
	return out, nil
}
