// Package file keeps secrets in local files (local mode): one 0600 file per
// secret at <dir>/<deploymentID>/<name>, in 0700 directories owned by the
// process's user. Writes are atomic (temporary file, sync, rename). The
// store refuses to open, or to read a secret, when a directory or file is
// readable by anyone else: a secret that leaked through permissions is
// reported, not used.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/secrets"
)

// Store is a directory of secrets. Safe for concurrent use.
type Store struct{ dir string }

var _ deploy.Secrets = (*Store)(nil)

// Open returns the store under dir, creating it with mode 0700 if needed.
// An existing dir with group or other permission bits, or owned by another
// user, is refused.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, deploy.Invalid("dir", "secrets/file: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets/file: open %s: %w", dir, err)
	}
	if err := checkPrivate(dir, true); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("secrets/file: open %s: %w", dir, err)
	}
	return &Store{dir: abs}, nil
}

// checkPrivate returns a Forbidden error if p is accessible to group or
// others, is not of the expected type, or is owned by another user.
func checkPrivate(p string, wantDir bool) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("secrets/file: %w", err)
	}
	if fi.IsDir() != wantDir || fi.Mode()&fs.ModeSymlink != 0 {
		return deploy.Forbidden("secrets/file: %s is not a plain %s", p, map[bool]string{true: "directory", false: "file"}[wantDir])
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return deploy.Forbidden("secrets/file: %s has mode %v: refusing a secret store readable by others (want 0700 dirs, 0600 files)", p, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return deploy.Forbidden("secrets/file: %s is owned by uid %d, not by us", p, st.Uid)
	}
	return nil
}

// PutSecret stores value as the deployment's secret name (0600, atomic).
func (s *Store) PutSecret(ctx context.Context, deploymentID, name string, value []byte) error {
	if err := secrets.CheckNames(deploymentID, name); err != nil {
		return err
	}
	d := filepath.Join(s.dir, deploymentID)
	if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("secrets/file: put %s/%s: %w", deploymentID, name, err)
	}
	if err := checkPrivate(d, true); err != nil {
		return err
	}
	f, err := os.CreateTemp(d, ".tmp-*") // created 0600
	if err != nil {
		return fmt.Errorf("secrets/file: put %s/%s: %w", deploymentID, name, err)
	}
	tmp := f.Name()
	_, werr := f.Write(value)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, filepath.Join(d, name))
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("secrets/file: put %s/%s: %w", deploymentID, name, werr)
	}
	return nil
}

// GetSecret returns the secret, NotFound, or Forbidden when its file or
// directory is readable by others.
func (s *Store) GetSecret(ctx context.Context, deploymentID, name string) ([]byte, error) {
	if err := secrets.CheckNames(deploymentID, name); err != nil {
		return nil, err
	}
	d := filepath.Join(s.dir, deploymentID)
	p := filepath.Join(d, name)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, deploy.NotFound("secrets/file: no secret %s of deployment %s", name, deploymentID)
	}
	if err := checkPrivate(d, true); err != nil {
		return nil, err
	}
	if err := checkPrivate(p, false); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("secrets/file: get %s/%s: %w", deploymentID, name, err)
	}
	return b, nil
}

// DeleteSecrets removes every secret of the deployment; none is not an
// error.
func (s *Store) DeleteSecrets(ctx context.Context, deploymentID string) error {
	if err := secrets.CheckDeploymentID(deploymentID); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.dir, deploymentID)); err != nil {
		return fmt.Errorf("secrets/file: delete %s: %w", deploymentID, err)
	}
	return nil
}
