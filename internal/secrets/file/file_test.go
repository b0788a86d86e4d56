package file_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/secrets/file"
	"github.com/edendeploy/edendeploy/internal/secrets/secrettest"
)

func TestConformance(t *testing.T) {
	secrettest.Run(t, func(t *testing.T) deploy.Secrets {
		s, err := file.Open(filepath.Join(t.TempDir(), "secrets"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	s, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.PutSecret(ctx, "d-1", deploy.SecretSSHKey, []byte("k")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "d-1"): 0o700, filepath.Join(dir, "d-1", deploy.SecretSSHKey): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}

func TestRefusesWidePermissions(t *testing.T) {
	ctx := context.Background()
	t.Run("store dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "secrets")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := file.Open(dir); !deploy.IsKind(err, deploy.KindForbidden) {
			t.Fatalf("Open of a 0755 dir = %v, want Forbidden", err)
		}
	})
	t.Run("secret file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "secrets")
		s, err := file.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutSecret(ctx, "d-1", deploy.SecretDBPassword, []byte("pw")); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, "d-1", deploy.SecretDBPassword), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSecret(ctx, "d-1", deploy.SecretDBPassword); !deploy.IsKind(err, deploy.KindForbidden) {
			t.Fatalf("GetSecret of a 0644 file = %v, want Forbidden", err)
		}
	})
	t.Run("symlinked secret", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "secrets")
		s, err := file.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "d-1"), 0o700); err != nil {
			t.Fatal(err)
		}
		other := filepath.Join(t.TempDir(), "elsewhere")
		os.WriteFile(other, []byte("x"), 0o600)
		if err := os.Symlink(other, filepath.Join(dir, "d-1", deploy.SecretDBPassword)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSecret(ctx, "d-1", deploy.SecretDBPassword); !deploy.IsKind(err, deploy.KindForbidden) {
			t.Fatalf("GetSecret of a symlink = %v, want Forbidden", err)
		}
	})
}
