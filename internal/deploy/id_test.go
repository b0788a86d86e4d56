package deploy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

func TestNewIDShape(t *testing.T) {
	for _, prefix := range []string{"", "d-", "r-"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			id := deploy.NewID(prefix, now)
			if !strings.HasPrefix(id, prefix) {
				t.Fatalf("NewID(%q) = %q: prefix missing", prefix, id)
			}
			body := strings.TrimPrefix(id, prefix)
			if len(body) != 26 {
				t.Errorf("NewID(%q) = %q: %d characters after the prefix, want 26", prefix, id, len(body))
			}
			if i := strings.IndexFunc(body, func(c rune) bool { return !strings.ContainsRune(idAlphabet, c) }); i >= 0 {
				t.Errorf("NewID(%q) = %q: %q is not lower-case Crockford base32", prefix, id, body[i])
			}
		})
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	times := []time.Time{
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		now,
		now.Add(time.Millisecond),
		now.Add(2 * time.Millisecond),
		now.Add(time.Second),
		now.Add(24 * time.Hour),
		now.AddDate(30, 0, 0),
	}
	// Several IDs per instant: the random part must never outweigh time.
	var ids []string
	for _, at := range times {
		for range 20 {
			ids = append(ids, deploy.NewID("r-", at))
		}
	}
	for i := 20; i < len(ids); i++ {
		if ids[i-20] >= ids[i] {
			t.Fatalf("%s (at %s) does not sort before %s (at %s)", ids[i-20], times[i/20-1], ids[i], times[i/20])
		}
	}
	// Equal milliseconds share the time prefix (10 characters = 50 bits ≥ 48).
	a, b := deploy.NewID("", now), deploy.NewID("", now.Add(999*time.Microsecond))
	if a[:9] != b[:9] {
		t.Errorf("IDs of the same millisecond differ in the time part: %s %s", a, b)
	}
}

func TestNewIDUnique(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, n)
	for i := range n {
		id := deploy.NewID("d-", now) // the same instant: only randomness separates them
		if seen[id] {
			t.Fatalf("call %d repeated ID %s", i, id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct IDs, want %d", len(seen), n)
	}
}

func TestSafeID(t *testing.T) {
	for s, want := range map[string]bool{
		"d-06h16e0zbmvdnz3enk7hw0z0h8": true, "r-lc0123abcd": true, "db-password": true, "a.b_c-D9": true,
		"": false, ".hidden": false, "..": false, "a/b": false, "a b": false, "a\x00": false, "é": false,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
	} {
		if got := deploy.SafeID(s); got != want {
			t.Errorf("SafeID(%q) = %v, want %v", s, got, want)
		}
	}
	if id := deploy.NewID("r-", time.Now()); !deploy.SafeID(id) {
		t.Errorf("NewID made %q, which SafeID refuses", id)
	}
}
