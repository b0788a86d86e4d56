package fs_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edendeploy/edendeploy/internal/blob/blobtest"
	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) deploy.Blobs {
		s, err := blobfs.Open(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestFilesArePrivateAndNoTempLeft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := blobfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob(context.Background(), "d-1/runs/r-1.log", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		dir: 0o700, filepath.Join(dir, "d-1", "runs"): 0o700, filepath.Join(dir, "d-1/runs/r-1.log"): 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "d-1", "runs"))
	if len(ents) != 1 {
		t.Errorf("runs dir holds %d entries, want only the object", len(ents))
	}
	// Deleting the prefix removes the directories it emptied.
	if err := s.DeleteBlobs(context.Background(), "d-1/"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d-1")); !os.IsNotExist(err) {
		t.Errorf("d-1 still there: %v", err)
	}
}
