package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edendeploy/edendeploy/internal/blob"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// The store keeps backup copies too (deploy.BackupCopies), as plain files
// under its directory: the local control plane's off-server copies, which
// the backup playbook pulls there over the runner's SSH connection.

var _ deploy.BackupCopies = (*Store)(nil)

// Root is the directory the store keeps its objects in.
func (s *Store) Root() string { return s.root }

// PutCopy stores body under key atomically (see write), replacing what
// was there.
func (s *Store) PutCopy(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if err := s.write(key, body, size); err != nil {
		return fmt.Errorf("blob/fs: put copy %s: %w", key, err)
	}
	return nil
}

// write stores size bytes of body under key: into a temporary file in the
// key's directory, synced, then renamed over the key, so that a reader
// sees the old object or the whole new one. The temporary name starts
// with a dot: no valid key can name it.
func (s *Store) write(key string, body io.Reader, size int64) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	p := s.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	n, werr := io.Copy(f, io.LimitReader(body, size+1))
	if werr == nil && n != size {
		werr = fmt.Errorf("the body has %d bytes, not %d", n, size)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, p)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}

// OpenCopy opens the copy under key, or returns NotFound. The file it
// returns is also an io.Seeker.
func (s *Store) OpenCopy(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) || isDirErr(err) {
		return nil, deploy.NotFound("blob/fs: no copy %s", key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/fs: open copy %s: %w", key, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, deploy.NotFound("blob/fs: no copy %s", key)
	}
	return f, nil
}

// DeleteCopy removes the copy under key; none is not an error.
func (s *Store) DeleteCopy(ctx context.Context, key string) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) && !isDirErr(err) {
		return fmt.Errorf("blob/fs: delete copy %s: %w", key, err)
	}
	return nil
}

// CopyLocation is the copy's path.
func (s *Store) CopyLocation(key string) string { return s.path(key) }
