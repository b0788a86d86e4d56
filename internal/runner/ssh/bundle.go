package ssh

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits on a bundle, so that a broken or hostile one cannot fill the disk.
const (
	maxBundleBytes  = 32 << 20  // compressed
	maxExtractBytes = 128 << 20 // all files, uncompressed
	maxEntries      = 10000
)

// extract unpacks a tar.gz bundle into dir (which exists and is ours): only
// regular files and directories with clean relative names; absolute names,
// "..", links, devices, duplicates and oversized archives are refused.
// Files get 0600 (0700 if executable), directories 0700: the run directory
// is private.
func extract(tgz []byte, dir string) error {
	if len(tgz) > maxBundleBytes {
		return fmt.Errorf("bundle of %d bytes is over the %d-byte limit", len(tgz), maxBundleBytes)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		if n >= maxEntries {
			return fmt.Errorf("bundle has more than %d entries", maxEntries)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if !safeName(name) {
			return fmt.Errorf("bundle: refusing entry name %q", hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
		case tar.TypeReg:
			total += hdr.Size
			if hdr.Size < 0 || total > maxExtractBytes {
				return fmt.Errorf("bundle contents are over the %d-byte limit", maxExtractBytes)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
			mode := os.FileMode(0o600)
			if hdr.Mode&0o100 != 0 {
				mode = 0o700
			}
			// O_EXCL: a duplicate entry (or one that would follow a link,
			// which cannot exist here) is refused, not overwritten.
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
			_, err = io.Copy(f, io.LimitReader(tr, hdr.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("bundle: %s: %w", name, err)
			}
		default:
			return fmt.Errorf("bundle: refusing %q: only files and directories are allowed", hdr.Name)
		}
	}
}

// safeName reports whether name is a clean, relative, slash-separated path
// with no "." or ".." element, no backslash and no NUL.
func safeName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00") || path.Clean(name) != name {
		return false
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." || el == "." || el == "" {
			return false
		}
	}
	return true
}
