package blobtest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// RunCopies runs the suite of deploy.BackupCopies; open returns a new
// empty store for each subtest.
func RunCopies(t *testing.T, open func(t *testing.T) deploy.BackupCopies) {
	ctx := context.Background()
	const key = "backups/d-1/prod/20260301-020000.dump"
	body := bytes.Repeat([]byte("PGDMP\x00\x01dump bytes "), 40000) // 760 kB

	read := func(t *testing.T, s deploy.BackupCopies, key string) ([]byte, error) {
		t.Helper()
		rc, err := s.OpenCopy(ctx, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}

	t.Run("PutOpenRoundTrip", func(t *testing.T) {
		s := open(t)
		if err := s.PutCopy(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
			t.Fatalf("PutCopy: %v", err)
		}
		got, err := read(t, s, key)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("OpenCopy: %d bytes, %v; want the %d bytes put", len(got), err, len(body))
		}
		if loc := s.CopyLocation(key); !strings.HasSuffix(loc, key) {
			t.Errorf("CopyLocation = %q, want it to end with the key", loc)
		}
	})

	t.Run("PutReplaces", func(t *testing.T) {
		s := open(t)
		for _, v := range []string{"first, longer", "second"} {
			if err := s.PutCopy(ctx, key, strings.NewReader(v), int64(len(v))); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := read(t, s, key); err != nil || string(got) != "second" {
			t.Errorf("OpenCopy = %q, %v; want second", got, err)
		}
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.OpenCopy(ctx, key); !deploy.IsKind(err, deploy.KindNotFound) {
			t.Errorf("OpenCopy of a missing copy = %v, want NotFound", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		if err := s.PutCopy(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // the second finds none: not an error
			if err := s.DeleteCopy(ctx, key); err != nil {
				t.Fatalf("DeleteCopy #%d: %v", i+1, err)
			}
		}
		if _, err := s.OpenCopy(ctx, key); !deploy.IsKind(err, deploy.KindNotFound) {
			t.Errorf("OpenCopy after DeleteCopy = %v, want NotFound", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"", "/abs", "../up", "backups/../../x", "a//b"} {
			if err := s.PutCopy(ctx, k, strings.NewReader("x"), 1); !deploy.IsKind(err, deploy.KindInvalid) {
				t.Errorf("PutCopy(%q) = %v, want Invalid", k, err)
			}
			if _, err := s.OpenCopy(ctx, k); !deploy.IsKind(err, deploy.KindInvalid) {
				t.Errorf("OpenCopy(%q) = %v, want Invalid", k, err)
			}
			if err := s.DeleteCopy(ctx, k); !deploy.IsKind(err, deploy.KindInvalid) {
				t.Errorf("DeleteCopy(%q) = %v, want Invalid", k, err)
			}
		}
	})
}
