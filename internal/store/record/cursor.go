package record

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Listings a cursor can belong to.
const (
	ListDeployments = "deployments"
	ListRuns        = "runs"
)

// Page sizes (see deploy.Page).
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Limit returns the page size p asks for: the default for 0, capped at
// MaxLimit. A negative limit is Invalid.
func Limit(p deploy.Page) (int, error) {
	switch {
	case p.Limit < 0:
		return 0, deploy.Invalid("limit", "must not be negative")
	case p.Limit == 0:
		return DefaultLimit, nil
	case p.Limit > MaxLimit:
		return MaxLimit, nil
	}
	return p.Limit, nil
}

// cursor is what an opaque page cursor holds: which listing it belongs to,
// a digest of the listing's scope (the owner, or the deployment ID) and the
// position of the last item returned. A cursor only ever continues the
// listing that made it, so it cannot be used to read outside that listing.
type cursor struct {
	V     int    `json:"v"`
	List  string `json:"l"`
	Scope string `json:"s"`
	After string `json:"a"`
}

func scopeDigest(list, scope string) string {
	h := sha256.Sum256([]byte(list + "\x00" + scope))
	return hex.EncodeToString(h[:8])
}

// EncodeCursor returns the cursor of the page that follows position after
// in listing list of scope.
func EncodeCursor(list, scope, after string) string {
	b, _ := json.Marshal(cursor{V: 1, List: list, Scope: scopeDigest(list, scope), After: after})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor returns the position a cursor made by EncodeCursor for the
// same listing and scope holds. Anything else is Invalid.
func DecodeCursor(c, list, scope string) (after string, err error) {
	bad := func(why string) (string, error) {
		return "", deploy.Invalid("cursor", "not a cursor of this listing: %s", why)
	}
	if len(c) > 1024 {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return bad("not base64url")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var cur cursor
	if err := dec.Decode(&cur); err != nil {
		return bad("malformed")
	}
	switch {
	case cur.V != 1:
		return bad("unknown version")
	case cur.List != list:
		return bad("made by another listing")
	case cur.Scope != scopeDigest(list, scope):
		return bad("made for another owner or deployment")
	case cur.After == "":
		return bad("no position")
	}
	return cur.After, nil
}
