// Package runlog keeps the full Ansible log of each run on the local
// filesystem: one append-only file per run (<dir>/runs/<runID>.log), read by
// byte range or followed live.
//
// A follower is woken by every Append (a channel closed and replaced under
// the run's lock), never by polling, so it sees a line as soon as the runner
// appended it. Nothing holds a whole log in memory: appends go straight to
// the file and readers read it in the caller's buffer. When a run ends, its
// log is closed with Close; a marker file (<runID>.done) records that, so
// followers of an old run end even after a restart.
//
// On AWS the log is the SSM command output in S3 and the API reads it
// through deploy.Blobs; this package is the local counterpart.
package runlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Store is a directory of run logs. It is safe for concurrent use by any
// number of writers and readers (within one process; the files themselves
// are plain append-only files).
type Store struct {
	dir string

	mu sync.Mutex
	// runs are the logs still open that were written to or followed since
	// Open. A closed log leaves it (its state is on disk, and no longer
	// changes), so it does not grow with the runs ever made.
	runs map[string]*run
}

type run struct {
	mu     sync.Mutex
	f      *os.File // append handle, opened on the first Append
	size   int64
	closed bool
	// wake is closed and replaced on a change when a follower waits on it
	// (waited): appends that nobody waits for allocate nothing.
	wake   chan struct{}
	waited bool
}

// notify wakes the followers waiting for a change. Called with r.mu held.
func (r *run) notify() {
	if r.waited {
		close(r.wake)
		r.wake = make(chan struct{})
		r.waited = false
	}
}

// Open returns the store under dir, creating dir/runs (0700) if needed.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, deploy.Invalid("dir", "runlog: no directory given")
	}
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o700); err != nil {
		return nil, fmt.Errorf("runlog: open %s: %w", dir, err)
	}
	return &Store{dir: dir, runs: map[string]*run{}}, nil
}

func (s *Store) path(runID string) string { return filepath.Join(s.dir, "runs", runID+".log") }
func (s *Store) donePath(runID string) string {
	return filepath.Join(s.dir, "runs", runID+".done")
}

// state returns the in-memory state of runID, loading size and closed-ness
// from disk the first time.
func (s *Store) state(runID string) (*run, error) {
	if !deploy.SafeID(runID) {
		return nil, deploy.Invalid("run_id", "runlog: invalid run ID %q", runID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runs[runID]; ok {
		return r, nil
	}
	r := &run{wake: make(chan struct{})}
	fi, err := os.Stat(s.path(runID))
	switch {
	case err == nil:
		r.size = fi.Size()
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("runlog: stat %s: %w", runID, err)
	}
	if _, err := os.Stat(s.donePath(runID)); err == nil {
		r.closed = true
		return r, nil // nothing to coordinate: it never changes again
	}
	s.runs[runID] = r
	return r, nil
}

// Append adds p at the end of the run's log, creating it if needed, and
// wakes its followers. One call's bytes are never interleaved with another
// call's. Appending to a closed log is Conflict.
func (s *Store) Append(runID string, p []byte) error {
	r, err := s.state(runID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return deploy.Conflict("run_id", "runlog: log of run %s is closed", runID)
	}
	if r.f == nil {
		f, err := os.OpenFile(s.path(runID), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("runlog: open %s: %w", runID, err)
		}
		r.f = f
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	if n > 0 {
		r.notify()
	}
	if err != nil {
		return fmt.Errorf("runlog: append %s: %w", runID, err)
	}
	return nil
}

// Close marks the run's log complete: followers get io.EOF once they have
// read everything, later Appends fail. Closing a closed (or never written)
// log is not an error.
func (s *Store) Close(runID string) error {
	r, err := s.state(runID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	var errs []error
	if r.f != nil {
		errs = append(errs, r.f.Close())
		r.f = nil
	}
	if err := os.WriteFile(s.donePath(runID), nil, 0o600); err != nil {
		errs = append(errs, err)
	}
	r.closed = true
	r.notify()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runlog: close %s: %w", runID, err)
	}
	// The marker is on disk: the next look at this log reads it from there.
	s.mu.Lock()
	if s.runs[runID] == r {
		delete(s.runs, runID)
	}
	s.mu.Unlock()
	return nil
}

// OpenLogs returns how many logs are open (written to or followed, and not
// closed): what the store holds in memory.
func (s *Store) OpenLogs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs)
}

// Size returns the number of bytes in the run's log, or NotFound if it has
// none.
func (s *Store) Size(runID string) (int64, error) {
	r, err := s.state(runID)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size == 0 && r.f == nil {
		if _, err := os.Stat(s.path(runID)); errors.Is(err, os.ErrNotExist) {
			return 0, deploy.NotFound("runlog: no log for run %s", runID)
		}
	}
	return r.size, nil
}

// Closed reports whether the run's log has been closed.
func (s *Store) Closed(runID string) (bool, error) {
	r, err := s.state(runID)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed, nil
}

// ReadRange returns at most limit bytes of the run's log from offset (fewer
// at its end; none past it). A limit ≤ 0 or above 1 MiB reads 1 MiB. A log
// that does not exist is NotFound; a negative offset is Invalid.
func (s *Store) ReadRange(runID string, offset, limit int64) ([]byte, error) {
	const maxRead = 1 << 20
	if offset < 0 {
		return nil, deploy.Invalid("offset", "runlog: negative offset %d", offset)
	}
	if limit <= 0 || limit > maxRead {
		limit = maxRead
	}
	if _, err := s.state(runID); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(runID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, deploy.NotFound("runlog: no log for run %s", runID)
	}
	if err != nil {
		return nil, fmt.Errorf("runlog: read %s: %w", runID, err)
	}
	defer f.Close()
	buf := make([]byte, limit)
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("runlog: read %s at %d: %w", runID, offset, err)
	}
	return buf[:n], nil
}

// Follow returns a reader of the run's log from offset that blocks for more
// until the log is closed (then io.EOF) or ctx ends (then ctx.Err()). The
// log need not exist yet. The caller must Close the reader.
func (s *Store) Follow(ctx context.Context, runID string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, deploy.Invalid("offset", "runlog: negative offset %d", offset)
	}
	r, err := s.state(runID)
	if err != nil {
		return nil, err
	}
	return &follower{ctx: ctx, s: s, runID: runID, r: r, off: offset}, nil
}

type follower struct {
	ctx   context.Context
	s     *Store
	runID string
	r     *run
	off   int64
	f     *os.File
}

func (fl *follower) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		fl.r.mu.Lock()
		size, closed, wake := fl.r.size, fl.r.closed, fl.r.wake
		if fl.off >= size && !closed {
			fl.r.waited = true // about to wait: the next change must close wake
		}
		fl.r.mu.Unlock()
		if fl.off < size {
			if fl.f == nil {
				f, err := os.Open(fl.s.path(fl.runID))
				if err != nil {
					return 0, fmt.Errorf("runlog: follow %s: %w", fl.runID, err)
				}
				fl.f = f
			}
			if int64(len(p)) > size-fl.off {
				p = p[:size-fl.off]
			}
			n, err := fl.f.ReadAt(p, fl.off)
			fl.off += int64(n)
			if n > 0 {
				return n, nil
			}
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the file is shorter than appended: removed or truncated
			}
			return 0, fmt.Errorf("runlog: follow %s: %w", fl.runID, err)
		}
		if closed {
			return 0, io.EOF
		}
		select {
		case <-wake:
		case <-fl.ctx.Done():
			return 0, fl.ctx.Err()
		}
	}
}

func (fl *follower) Close() error {
	if fl.f != nil {
		return fl.f.Close()
	}
	return nil
}

// Remove deletes the run's log (and its closed marker). Followers of it end
// with an error on their next read from disk. A missing log is not an
// error.
func (s *Store) Remove(runID string) error {
	r, err := s.state(runID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.closed = true
	r.notify()
	r.mu.Unlock()
	s.mu.Lock()
	delete(s.runs, runID)
	s.mu.Unlock()
	for _, p := range []string{s.path(runID), s.donePath(runID)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("runlog: remove %s: %w", runID, err)
		}
	}
	return nil
}

// Writer returns an io.Writer whose every Write is one Append to runID.
func (s *Store) Writer(runID string) io.Writer { return writer{s, runID} }

type writer struct {
	s     *Store
	runID string
}

func (w writer) Write(p []byte) (int, error) {
	if err := w.s.Append(w.runID, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
