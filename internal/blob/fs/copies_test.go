package fs_test

import (
	"path/filepath"
	"testing"

	"github.com/edendeploy/edendeploy/internal/blob/blobtest"
	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestCopiesConformance(t *testing.T) {
	blobtest.RunCopies(t, func(t *testing.T) deploy.BackupCopies {
		s, err := blobfs.Open(filepath.Join(t.TempDir(), "offsite"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
