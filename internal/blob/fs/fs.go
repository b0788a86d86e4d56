// Package fs stores blobs as files under a directory (local mode). Keys map
// to paths below the directory (blob.CheckKey keeps them inside); writes are
// atomic (a temporary file in the same directory, synced, then renamed), so a
// reader sees the old object or the new one, never half of one.
package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/edendeploy/edendeploy/internal/blob"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Store is a directory of blobs. Safe for concurrent use.
type Store struct{ root string }

var _ deploy.Blobs = (*Store)(nil)

// Open returns the store rooted at dir, creating it (0700) if needed.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, deploy.Invalid("dir", "blob/fs: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob/fs: open %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob/fs: open %s: %w", dir, err)
	}
	return &Store{root: abs}, nil
}

func (s *Store) path(key string) string { return filepath.Join(s.root, filepath.FromSlash(key)) }

// PutBlob stores body under key atomically, replacing what was there.
func (s *Store) PutBlob(ctx context.Context, key string, body []byte) error {
	if err := s.write(key, bytes.NewReader(body), int64(len(body))); err != nil {
		return fmt.Errorf("blob/fs: put %s: %w", key, err)
	}
	return nil
}

// GetBlob returns the object under key, or NotFound.
func (s *Store) GetBlob(ctx context.Context, key string) ([]byte, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) || isDirErr(err) {
		return nil, deploy.NotFound("blob/fs: no object %s", key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/fs: get %s: %w", key, err)
	}
	return b, nil
}

// isDirErr reports an error of reading a key that is a directory, or one
// below a key that is a file: for S3 these are just missing objects.
func isDirErr(err error) bool {
	return errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR)
}

// DeleteBlobs removes every object whose key starts with prefix (a plain
// string prefix, as on S3), then the directories it left empty. An empty
// prefix is Invalid.
func (s *Store) DeleteBlobs(ctx context.Context, prefix string) error {
	if err := blob.CheckPrefix(prefix); err != nil {
		return err
	}
	// Only the directory that holds the prefix's last segment can contain
	// matching keys.
	base := path.Dir(prefix)
	if strings.HasSuffix(prefix, "/") {
		base = strings.TrimSuffix(prefix, "/")
	}
	baseDir := s.root
	if base != "." {
		baseDir = s.path(base)
	}
	var dirs []string
	err := filepath.WalkDir(baseDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p != baseDir && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			dirs = append(dirs, p)
			return nil
		}
		if strings.HasPrefix(key, prefix) && !strings.HasPrefix(d.Name(), ".") {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("blob/fs: delete %s*: %w", prefix, err)
	}
	// Deepest first; a directory that still holds something stays.
	for i := len(dirs) - 1; i >= 0; i-- {
		if dirs[i] != s.root {
			_ = os.Remove(dirs[i])
		}
	}
	return nil
}
