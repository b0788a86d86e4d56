// Package blob holds what the two deploy.Blobs adapters share: the rule for
// valid keys. The adapters are blob/fs (a directory, local mode) and blob/s3
// (an S3 bucket, AWS); blob/blobtest is the conformance suite both pass.
package blob

import (
	"strings"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// MaxKeyLen is the longest key accepted (S3's own limit is 1024 bytes).
const MaxKeyLen = 1024

// CheckKey returns an Invalid error unless key is a relative slash-separated
// path of non-empty segments, none of them "." or ".." or starting with a
// dot, with no backslash or control character. Both adapters apply it, so a
// key that works locally works on S3 and cannot escape a directory.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return deploy.Invalid("key", "blob: key must have 1 to %d bytes", MaxKeyLen)
	}
	if err := checkChars(key); err != nil {
		return err
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg[0] == '.' {
			return deploy.Invalid("key", "blob: key %q has an empty, dot or dot-led segment", key)
		}
	}
	return nil
}

// CheckPrefix returns an Invalid error unless prefix is a non-empty key
// prefix: like a key, except that it may end with "/" and its last segment
// may be partial. An empty prefix (everything) is refused on purpose.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return deploy.Invalid("prefix", "blob: empty prefix (it would match every object)")
	}
	return CheckKey(strings.TrimSuffix(prefix, "/"))
}

func checkChars(key string) error {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return deploy.Invalid("key", "blob: key %q has a control character or backslash", key)
		}
	}
	return nil
}
