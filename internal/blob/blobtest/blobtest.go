// Package blobtest is the conformance suite of deploy.Blobs: every adapter
// (blob/fs, blob/s3) runs it with a fresh, empty store.
package blobtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Run runs the suite; open returns a new empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) deploy.Blobs) {
	ctx := context.Background()

	t.Run("PutGetRoundTrip", func(t *testing.T) {
		s := open(t)
		bodies := map[string][]byte{
			"d-1/bundles/r-1/step-0.tar.gz": {0x1f, 0x8b, 0, 1, 2, 0xff},
			"d-1/runs/r-1.log":              []byte("line\n"),
			"commands/abc.json":             []byte(`{"token":"t"}`),
			"empty":                         {},
		}
		for k, v := range bodies {
			if err := s.PutBlob(ctx, k, v); err != nil {
				t.Fatalf("PutBlob(%s): %v", k, err)
			}
		}
		for k, v := range bodies {
			got, err := s.GetBlob(ctx, k)
			if err != nil || !bytes.Equal(got, v) {
				t.Errorf("GetBlob(%s) = %q, %v; want %q", k, got, err, v)
			}
		}
	})

	t.Run("PutReplaces", func(t *testing.T) {
		s := open(t)
		for _, v := range []string{"first version, longer", "second"} {
			if err := s.PutBlob(ctx, "k/v", []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.GetBlob(ctx, "k/v"); err != nil || string(got) != "second" {
			t.Fatalf("GetBlob = %q, %v; want second", got, err)
		}
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		s := open(t)
		if err := s.PutBlob(ctx, "a/b/c", []byte("x")); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"nope", "a/b", "a/b/c/d", "a/b/cc"} {
			if _, err := s.GetBlob(ctx, k); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("GetBlob(%s) = %v, want NotFound", k, err)
			}
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"", "/abs", "../up", "a/../../b", "a//b", "./a", "a/.", "a\\b", "a\nb", "a/.hidden"} {
			if err := s.PutBlob(ctx, k, []byte("x")); !deploy.IsKind(err, deploy.KindInvalid) {
				t.Errorf("PutBlob(%q) = %v, want Invalid", k, err)
			}
			if _, err := s.GetBlob(ctx, k); !deploy.IsKind(err, deploy.KindInvalid) {
				t.Errorf("GetBlob(%q) = %v, want Invalid", k, err)
			}
		}
		if err := s.DeleteBlobs(ctx, ""); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("DeleteBlobs(\"\") = %v, want Invalid", err)
		}
	})

	t.Run("DeleteByPrefix", func(t *testing.T) {
		s := open(t)
		keys := []string{
			"d-1/bundles/r-1/step-0.tar.gz",
			"d-1/bundles/r-2/step-0.tar.gz",
			"d-1/runs/r-1.log",
			"d-10/runs/r-9.log",
			"d-2/runs/r-3.log",
		}
		for _, k := range keys {
			if err := s.PutBlob(ctx, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteBlobs(ctx, "d-1/bundles/r-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteBlobs(ctx, "d-1/"); err != nil {
			t.Fatal(err)
		}
		gone := []string{keys[0], keys[1], keys[2]}
		kept := []string{keys[3], keys[4]} // "d-10" does not start with "d-1/"
		for _, k := range gone {
			if _, err := s.GetBlob(ctx, k); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("after delete, GetBlob(%s) = %v, want NotFound", k, err)
			}
		}
		for _, k := range kept {
			if got, err := s.GetBlob(ctx, k); err != nil || string(got) != k {
				t.Errorf("GetBlob(%s) = %q, %v; want it kept", k, got, err)
			}
		}
		// A partial last segment is a string prefix, as on S3.
		if err := s.DeleteBlobs(ctx, "d-2/runs/r-"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetBlob(ctx, keys[4]); !deploy.IsKind(err, deploy.KindNotFound) {
			t.Errorf("partial-prefix delete kept %s: %v", keys[4], err)
		}
		if err := s.DeleteBlobs(ctx, "nothing/here/"); err != nil {
			t.Errorf("DeleteBlobs of nothing = %v, want nil", err)
		}
	})

	t.Run("DeleteMany", func(t *testing.T) {
		s := open(t)
		const n = 1203 // more than one S3 DeleteObjects batch
		for i := range n {
			if err := s.PutBlob(ctx, fmt.Sprintf("d-3/logs/%04d", i), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutBlob(ctx, "d-4/keep", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteBlobs(ctx, "d-3/"); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 999, 1000, 1202} {
			if _, err := s.GetBlob(ctx, fmt.Sprintf("d-3/logs/%04d", i)); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("object %d survived: %v", i, err)
			}
		}
		if _, err := s.GetBlob(ctx, "d-4/keep"); err != nil {
			t.Errorf("d-4/keep: %v", err)
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
				if err := s.PutBlob(ctx, "shared/key", body); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, err := s.GetBlob(ctx, "shared/key")
		if err != nil || len(got) != 64<<10 || !bytes.Equal(got, bytes.Repeat(got[:1], len(got))) {
			t.Fatalf("after concurrent puts: %d bytes, %v: a torn object", len(got), err)
		}
	})
}
