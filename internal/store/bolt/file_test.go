package bolt

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// validFile returns the bytes of a store file holding a few deployments.
func validFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		d, r := fixture(i)
		if err := s.CreateDeployment(context.Background(), d, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenRefusesUnusableFiles(t *testing.T) {
	valid := validFile(t)
	random := make([]byte, 64<<10)
	rand.Read(random)
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("widgets"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	foreignBytes, _ := os.ReadFile(foreign)
	// A page in the middle overwritten: the header is fine, the data is
	// not; Open may succeed, but nothing may panic.
	scribbled := bytes.Clone(valid)
	copy(scribbled[len(scribbled)/2:], bytes.Repeat([]byte{0xff}, 4096))

	tests := []struct {
		name    string
		content []byte
		want    string // in the error; "" when Open may succeed
	}{
		{"random bytes", random, "not a usable Eden Deploy database"},
		{"text file", []byte("# Eden Deploy settings\nname = eden\n" + strings.Repeat("x = 1\n", 2000)), "not a usable Eden Deploy database"},
		{"truncated to a few bytes", valid[:40], "not a usable Eden Deploy database"},
		{"truncated to half", valid[:len(valid)/2], "truncated"},
		{"truncated to one page", valid[:4096], "truncated"},
		{"another program's bbolt file", foreignBytes, "another program"},
		{"scribbled page", scribbled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "eden.db")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{SweepInterval: -1, LockTimeout: 100 * time.Millisecond})
			if tt.want == "" {
				if err == nil {
					// Reading every deployment must fail cleanly or work.
					_, _, lerr := s.ListDeployments(context.Background(), "", deploy.Page{Limit: 100})
					t.Logf("open succeeded; listing: %v", lerr)
					s.Close()
				} else {
					t.Logf("open: %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open error %q does not contain %q and the path", err, tt.want)
			}
		})
	}
}

func TestOpenNewAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "eden.db")
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
	path = filepath.Join(t.TempDir(), "eden.db")
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	d, r := fixture(1)
	if err := s.CreateDeployment(context.Background(), d, r); err != nil {
		t.Fatal(err)
	}
	// The engine's journal can live in the same file, in its own buckets.
	if err := s.DB().Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("asl.executions"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.GetDeployment(context.Background(), d.ID); err != nil {
		t.Errorf("after reopen: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
}

func TestSweeperGoroutine(t *testing.T) {
	var now atomicTime
	now.Store(t0)
	s := openTemp(t, Options{Now: now.Load, Retention: time.Hour, SweepInterval: 10 * time.Millisecond})
	ctx := context.Background()
	d, r := fixture(1)
	if err := s.CreateDeployment(ctx, d, r); err != nil {
		t.Fatal(err)
	}
	if err := r.MoveTo(deploy.RunFailed, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	now.Store(t0.Add(2 * time.Hour))
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left bool
		s.DB().View(func(tx *bbolt.Tx) error {
			left = tx.Bucket(bRuns).Bucket([]byte(d.ID)).Get([]byte(r.ID)) != nil
			return nil
		})
		if !left {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not delete the expired run within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
