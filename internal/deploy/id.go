package deploy

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new identifier that sorts by time: 48 bits of
// milliseconds since the epoch followed by 80 random bits, as 26 lower-case
// Crockford base32 characters, after prefix (such as "d-" or "r-").
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return prefix + idEncoding.EncodeToString(b[:])[:26]
}

// SafeID reports whether s is safe as a file name or a key segment: 1 to
// 128 characters from [A-Za-z0-9._-], not starting with a dot. Every ID
// NewID makes is one.
func SafeID(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
