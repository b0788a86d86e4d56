package dynamo

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Key prefixes and fixed sort keys.
const (
	pfxDeployment  = "DEP#"
	pfxRun         = "RUN#"
	pfxHost        = "HOST#"
	pfxInstance    = "IID#"
	pfxOwner       = "OWNER#"
	pfxIdem        = "IDEM#"
	pfxToken       = "TOKEN#"
	skMeta         = "META"
	skActive       = "ACTIVE"
	skClaim        = "CLAIM"
	skRelease      = "RELEASE"
	skIdem         = "IDEM"
	skToken        = "TOKEN"
	allDeployments = "DEPLOYMENTS"
)

// Attribute names besides the keys.
const (
	attrDoc    = "doc"
	attrEnc    = "enc"
	attrVer    = "ver"
	attrOwner  = "owner"
	attrStatus = "status"
	attrRun    = "run"
	attrDep    = "dep"
	attrHost   = "host"
	attrServer = "server"
	attrClaims = "claims"
)

// Doc encodings.
const (
	encJSON     = "json"
	encGzipJSON = "gzip+json"
)

// compressAbove is the doc size from which docs are gzip-compressed.
const compressAbove = 8 << 10

// MaxDocBytes bounds a stored doc, leaving room under DynamoDB's 400 KB
// item limit for the keys and other attributes.
const MaxDocBytes = 380_000

type item = map[string]types.AttributeValue

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) item { return item{AttrPK: str(pk), AttrSK: str(sk)} }

func depKey(id string) item { return key(pfxDeployment+id, skMeta) }

func activeKey(depID string) item { return key(pfxDeployment+depID, skActive) }

func runKey(depID, runID string) item { return key(pfxDeployment+depID, pfxRun+runID) }

func hostKey(host string) item { return key(pfxHost+host, skClaim) }

func instanceKey(id string) item { return key(pfxInstance+id, skClaim) }

func idemKey(k string) item { return key(pfxIdem+k, skIdem) }

func tokenKey(h string) item { return key(pfxToken+h, skToken) }

func getS(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(it item, name string) (int64, bool) {
	v, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

// packDoc stores doc as an attribute, compressed when large.
func packDoc(it item, what string, doc []byte) error {
	enc := encJSON
	if len(doc) > compressAbove {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(doc)
		if err := zw.Close(); err != nil {
			return err
		}
		doc, enc = buf.Bytes(), encGzipJSON
	}
	if len(doc) > MaxDocBytes {
		return deploy.Invalid("", "%s is too large to store: %d bytes after compression, at most %d", what, len(doc), MaxDocBytes)
	}
	it[attrDoc] = &types.AttributeValueMemberB{Value: doc}
	it[attrEnc] = str(enc)
	return nil
}

// unpackDoc returns the JSON packDoc stored.
func unpackDoc(it item) ([]byte, error) {
	b, ok := it[attrDoc].(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("item %s/%s has no doc", getS(it, AttrPK), getS(it, AttrSK))
	}
	switch enc := getS(it, attrEnc); enc {
	case encJSON:
		return b.Value, nil
	case encGzipJSON:
		zr, err := gzip.NewReader(bytes.NewReader(b.Value))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	default:
		return nil, fmt.Errorf("item %s/%s: unknown doc encoding %q", getS(it, AttrPK), getS(it, AttrSK), enc)
	}
}

// ttlValue is the ttl attribute of something that expires at t: epoch
// seconds, rounded up so that DynamoDB never deletes it before t.
func ttlValue(t time.Time) types.AttributeValue {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return num(s)
}

// expiredItem reports whether the item's ttl has passed at now. Readers use
// it because DynamoDB deletes expired items lazily. The ttl is rounded up to
// whole seconds, so the doc's own ExpiresAt, checked too, decides within
// the last second.
func expiredItem(it item, now time.Time) bool {
	ttl, ok := getN(it, AttrTTL)
	return ok && ttl <= now.Unix()
}
